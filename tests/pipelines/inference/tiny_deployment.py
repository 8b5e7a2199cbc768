"""A tiny deployment for unit tests: the tiny problem read from header-less files and a real fitted champion,
registered as a bundle in a throwaway registry and deployed from it."""

from __future__ import annotations

import tempfile

import numpy as np
import pandas as pd

from ml_lifecycle.bundle import InputLimits, ModelBundle, build_recipe
from ml_lifecycle.deployment import DeployedModel, deploy
from ml_lifecycle.estimators import ScoringModel, build_model
from ml_lifecycle.registry import ModelRegistry, ReleaseCandidate, ReleaseInfo
from ml_lifecycle.spec import ProblemSpec
from tests.pipelines.data_processing.tiny_problem import HEADER, tiny_spec

FILLS = {"age": 35.0, "hours_per_week": 40.0, "work_class": "(missing)"}
LIMITS = InputLimits(feature_bounds={"age": {"min": 0, "max": 120}}, max_text_length=12)


def headerless_spec() -> ProblemSpec:
    """The tiny problem, read from header-less files (names from problem.raw.column_names)."""
    return tiny_spec(raw={"column_names": HEADER})


def model_rows(n: int, seed: int) -> pd.DataFrame:
    """Return a split as data_processing writes it: filled features, flag, target (age > 40), age band."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 70, n).astype(float)
    return pd.DataFrame({
        "age": age, "hours_per_week": rng.integers(20, 60, n).astype(float),
        "work_class": pd.array(rng.choice(["Private", "State-gov"], n), dtype="str"),
        "hours_per_week_missing": np.zeros(n, dtype="int8"), "income": (age > 40).astype("int8"),
        "age_band": np.where(age < 30, "<30", "30+"),
    })


def tiny_splits() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train and validation splits of the tiny problem."""
    return model_rows(80, 0), model_rows(20, 1)


def tiny_model(estimator: str = "sklearn.linear_model.LogisticRegression", params: dict | None = None,
               encoding: str = "onehot_scaled") -> ScoringModel:
    """A real model fitted on the tiny train split, at threshold 0.5."""
    train, _ = tiny_splits()
    return ScoringModel(build_model(estimator, params or {}, encoding, headerless_spec()).fit(train, train["income"]), threshold=0.5)


ABSTAIN_BAND = (0.4, 0.6)


def tiny_bundle(model: ScoringModel | None = None) -> ModelBundle:
    """The tiny model in a bundle with the tiny train split's recipe (fills FILLS, limits LIMITS)."""
    train, _ = tiny_splits()
    return ModelBundle(recipe=build_recipe(train, FILLS, headerless_spec(), LIMITS), model=model or tiny_model(),
                       abstain_band=ABSTAIN_BAND)


def tiny_deployed(estimator: str = "sklearn.linear_model.LogisticRegression", model: ScoringModel | None = None,
                  bundle: ModelBundle | None = None) -> DeployedModel:
    """The tiny champion (or `bundle`), registered as v1 and promoted in a throwaway registry, deployed from its verified bundle."""
    bundle = bundle or tiny_bundle(model or tiny_model(estimator))
    with tempfile.TemporaryDirectory() as folder:
        registry = ModelRegistry(folder)
        registry.register(ReleaseCandidate(bundle=bundle, info=ReleaseInfo(
            problem="tiny", model=estimator, stage="released", description="tiny", data_fingerprint="tiny")))
        registry.record("v1", "promoted", "tiny champion")
        return deploy(registry.load(), headerless_spec())
