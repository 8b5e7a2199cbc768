"""A tiny deployment for unit tests: the tiny problem read from header-less files, its splits and a real fitted champion."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml_lifecycle.deployment import DeployedModel
from ml_lifecycle.estimators import ScoringModel, build_model
from ml_lifecycle.pipelines.inference import nodes
from ml_lifecycle.pipelines.modeling.nodes import fingerprint_data
from ml_lifecycle.spec import ProblemSpec
from tests.pipelines.data_processing.tiny_problem import HEADER, tiny_spec

FILLS = {"age": 35.0, "hours_per_week": 40.0, "work_class": "(missing)"}
RECORD = {"champion": "v7", "versions": {}, "history": [{"at": "2026-01-01", "event": "promoted", "version": "v7", "reason": "r"}]}


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


def tiny_champion(estimator: str = "sklearn.linear_model.LogisticRegression", version: str = "v7") -> dict:
    """A registry version as ChampionModelDataset loads it: a real fitted model at threshold 0.5."""
    train, validation = tiny_splits()
    model = build_model(estimator, {}, "onehot_scaled", headerless_spec()).fit(train, train["income"])
    return {"version": version, "model": ScoringModel(model, threshold=0.5),
            "metadata": {"data_fingerprint": fingerprint_data(train, validation), "threshold": 0.5}}


def tiny_deployed(estimator: str = "sklearn.linear_model.LogisticRegression", version: str = "v7") -> DeployedModel:
    """A tiny champion ready to score."""
    record = RECORD | {"champion": version}
    return nodes.deploy_champion(record, tiny_champion(estimator, version), *tiny_splits(), FILLS, headerless_spec())
