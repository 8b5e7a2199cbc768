"""The release steps on an in-memory catalog and a real registry folder: the gate blocks, passes and keeps the incumbent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner
from sklearn.base import BaseEstimator

from ml_lifecycle import rows
from ml_lifecycle.bundle import InputLimits
from ml_lifecycle.estimators import build_model
from ml_lifecycle.files import TypedJSONDataset
from ml_lifecycle.gate import ReleaseConfig
from ml_lifecycle.modeling_config import ModelingConfig
from ml_lifecycle.pipelines.release import calibration, create_pipeline
from ml_lifecycle.registry import (
    ChampionBundleDataset,
    ModelRegistry,
    PromotionDataset,
    RegistrationDataset,
    ReleaseContext,
)
from ml_lifecycle.spec import ProblemSpec
from tests.pipelines.evaluation import synthetic

LOGISTIC = "sklearn.linear_model.LogisticRegression"
EVALUATION = synthetic.evaluation_config()
MODELING = ModelingConfig(
    baselines={"prior": {"estimator": "sklearn.dummy.DummyClassifier", "params": {"strategy": "prior"}, "encoding": "none"}},
    candidates={"logistic": {"estimator": LOGISTIC, "encoding": "onehot_scaled"}})


def fit(spec: ProblemSpec, frame: pd.DataFrame, labels: pd.Series | None = None) -> BaseEstimator:
    """Return the project's logistic regression fitted on `frame` (on `labels` instead of its own when given)."""
    return build_model(LOGISTIC, {}, "onehot_scaled", spec).fit(frame, frame["label"] if labels is None else labels)


def splits(leak: bool = False) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Return the train, validation and frozen holdout rows every release here uses."""
    train, validation, holdout = (synthetic.rows(600, seed, leak=leak) for seed in (1, 2, 3))
    return train, validation, holdout


def release(registry: Path, fitted: BaseEstimator, spec: ProblemSpec, leak: bool = False,
            modeling: ModelingConfig = MODELING) -> DataCatalog:
    """Run the release steps for `fitted` into the registry at `registry`; return the catalog afterwards."""
    train, validation, holdout = splits(leak)
    prior = build_model("sklearn.dummy.DummyClassifier", {"strategy": "prior"}, "none", spec).fit(train, train["label"])
    catalog = DataCatalog({
        "release_registration": RegistrationDataset(str(registry)),
        "release_promotion": PromotionDataset(str(registry)),
        "incumbent_bundle": ChampionBundleDataset(str(registry), optional=True),
        "gate_verdict": TypedJSONDataset(str(registry.parent / "gate_verdict.json"), "ml_lifecycle.gate.GateVerdict"),
    })
    inputs = {
        "fitted_model": fitted, "twin_rows": train, "recipe_rows": train, "validation_split": validation,
        "monitoring_reference": validation,  # the validation rows, which have no missing values to fill
        "frozen_holdout": holdout, "missing_value_fills": rows.learn_missing_value_fills(train, spec),
        "champion_selection": synthetic.selection("logistic"),
        "tuning_results": {}, "baseline_models": {"prior": prior}, "data_fingerprint": "abc",
        "sanity_checks": pd.DataFrame({"model": ["logistic"], "sanity_passed": [True]}),
        "release_context": ReleaseContext(stage="released", reason="test"),
        "params:problem": spec, "params:evaluation": EVALUATION, "params:modeling": modeling,
        "params:deployment": InputLimits(), "params:release": ReleaseConfig(),
    }
    for name, value in inputs.items():
        catalog[name] = value
    SequentialRunner().run(create_pipeline(), catalog)
    return catalog


def rule(catalog: DataCatalog, name: str):
    """Return the gate's result for the rule whose name starts with `name`."""
    return next(r for r in catalog.load("gate_verdict").rules if r.rule.startswith(name))


def test_a_good_first_release_beats_every_baseline_and_is_promoted(tmp_path):
    spec = synthetic.spec()
    catalog = release(tmp_path / "registry", fit(spec, synthetic.rows(600, 1)), spec)
    verdict = catalog.load("gate_verdict")
    assert verdict.passed and verdict.incumbent is None
    beats = rule(catalog, "beats every baseline")
    assert beats.passed and beats.value > 0 and "vs prior" in beats.detail
    snapshot = ModelRegistry(tmp_path / "registry").snapshot()
    assert snapshot.champion == "v1" and [e.event for e in snapshot.history] == ["registered", "promoted"]
    assert snapshot.history[-1].verdict == verdict


def test_a_planted_leak_blocks_the_release_which_is_registered_but_never_served(tmp_path):
    spec = synthetic.spec(leak=True)
    catalog = release(tmp_path / "registry", fit(spec, synthetic.rows(600, 1, leak=True)), spec, leak=True)
    verdict = catalog.load("gate_verdict")
    assert not verdict.passed and [r.rule for r in verdict.failures("block")] == ["no leak"]
    assert "label_copy" in rule(catalog, "no leak").detail
    snapshot = ModelRegistry(tmp_path / "registry").snapshot()
    assert snapshot.champion is None and [e.event for e in snapshot.history] == ["registered", "blocked"]
    assert snapshot.history[-1].verdict == verdict and "v1" in snapshot.versions


def test_a_release_worse_than_the_incumbent_is_blocked_and_the_incumbent_keeps_serving(tmp_path):
    spec = synthetic.spec()
    train = synthetic.rows(600, 1)
    release(tmp_path / "registry", fit(spec, train), spec)
    shuffled = pd.Series(np.random.default_rng(0).permutation(train["label"].to_numpy()), index=train.index)
    catalog = release(tmp_path / "registry", fit(spec, train, shuffled), spec)
    beats = rule(catalog, "beats the incumbent")
    assert not beats.passed and beats.value < 0 and "vs v1" in beats.detail
    assert catalog.load("gate_verdict").incumbent == "v1"
    snapshot = ModelRegistry(tmp_path / "registry").snapshot()
    assert snapshot.champion == "v1" and snapshot.history[-1].event == "blocked" and snapshot.history[-1].version == "v2"
    assert ChampionBundleDataset(str(tmp_path / "registry")).load().version == "v1"


def test_the_same_model_again_does_not_beat_the_incumbent(tmp_path):
    spec = synthetic.spec()
    model = fit(spec, synthetic.rows(600, 1))
    release(tmp_path / "registry", model, spec)
    beats = rule(release(tmp_path / "registry", model, spec), "beats the incumbent")
    assert not beats.passed and beats.value == 0.0  # an identical model gains nothing on any resample
    assert ModelRegistry(tmp_path / "registry").snapshot().champion == "v1"


def test_an_incumbent_for_other_input_columns_cannot_be_beaten_and_the_detail_says_why(tmp_path):
    spec = synthetic.spec()
    release(tmp_path / "registry", fit(spec, synthetic.rows(600, 1)), spec)
    fewer = ProblemSpec.model_validate(synthetic.PROBLEM | {"numeric_features": ["signal"]})
    beats = rule(release(tmp_path / "registry", fit(fewer, synthetic.rows(600, 1)), fewer), "beats the incumbent")
    assert not beats.passed and beats.value is None
    assert "the incumbent v1 prepares other input columns" in beats.detail and "numeric_features" in beats.detail
    assert ModelRegistry(tmp_path / "registry").snapshot().champion == "v1"


def test_a_champion_refitted_on_validation_ships_its_holdout_twins_calibrated_validation_probabilities(tmp_path):
    spec = synthetic.spec()
    train, validation, _ = splits()
    release(tmp_path / "registry", fit(spec, pd.concat([train, validation], ignore_index=True)), spec)
    bundle = ModelRegistry(tmp_path / "registry").load("v1").bundle
    twin = fit(spec, train)
    comparison = calibration.compare_calibrations(twin, validation, EVALUATION, spec)
    _, calibrated_twin = calibration.calibrate_model(twin, twin, validation, comparison, spec)
    stored = bundle.reference
    assert stored.source.startswith("holdout twin") and len(stored.probabilities) == len(validation)
    np.testing.assert_allclose(stored.probabilities, calibrated_twin.predict_proba(validation)[:, 1])
    assert stored.misalignment(validation["label"]) == ""
    # The refitted champion saw these rows: its own probabilities of them are not the reference.
    assert not np.allclose(stored.probabilities, bundle.probabilities(validation))


def test_a_champion_fitted_on_train_only_ships_its_own_validation_probabilities(tmp_path):
    spec = synthetic.spec()
    train, validation, _ = splits()
    train_only = MODELING.model_copy(update={"champion": MODELING.champion.model_copy(update={"refit_on": "train"})})
    release(tmp_path / "registry", fit(spec, train), spec, modeling=train_only)
    bundle = ModelRegistry(tmp_path / "registry").load("v1").bundle
    assert bundle.reference.source.startswith("champion itself")
    np.testing.assert_allclose(bundle.reference.probabilities, bundle.probabilities(validation))
