"""The modeling pipeline end to end in conf/test: leaderboard, champion, experiment log, registry."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kedro.validation.exceptions import ParameterValidationError

from ml_lifecycle.pipelines.modeling import create_pipeline
from ml_lifecycle.registry import ModelRegistry
from tests.conftest import add_env, project_catalog, run_kedro

TIMING_COLUMNS = ["fit_seconds", "predict_ms_per_1000_rows", "size_bytes"]


def test_modeling_pipeline_never_reads_the_test_split():
    pipeline = create_pipeline()
    assert "test_split" not in pipeline.all_inputs()
    assert {"train_split", "validation_split"} <= pipeline.inputs()


@pytest.fixture(scope="module")
def modeled_project(test_project: Path) -> Path:
    """The shared project copy after one modeling run (data preparation produced on the way)."""
    run_kedro(test_project, ["data_processing", "modeling"])
    return test_project


def experiment_runs(project: Path) -> int:
    with sqlite3.connect(project / "data" / "test" / "experiment_log.sqlite") as connection:
        return connection.execute("SELECT COUNT(*) FROM runs").fetchone()[0]


def test_leaderboard_lists_every_baseline_candidate_and_the_ensemble(modeled_project):
    catalog = project_catalog(modeled_project)
    board = catalog.load("leaderboard")
    declared = catalog.load("params:modeling")
    expected = set(declared.baselines) | set(declared.candidates) | {"ensemble"}
    assert set(board["model"]) == expected
    assert board["log_loss_mean"].is_monotonic_increasing
    assert board[["roc_auc_mean", "roc_auc_std", "predict_ms_per_1000_rows", "size_bytes"]].notna().all().all()
    candidates = board[board["role"] == "candidate"]
    assert candidates["sanity_passed"].notna().all()


def test_champion_reloads_from_the_catalog_and_scores_test_rows(modeled_project):
    catalog = project_catalog(modeled_project)
    model, test = catalog.load("champion_model"), catalog.load("test_split")
    proba = model.predict_proba(test)[:, 1]
    assert len(proba) == len(test) and ((proba >= 0) & (proba <= 1)).all()
    from sklearn.metrics import roc_auc_score  # noqa: PLC0415
    assert roc_auc_score(test["income"], proba) > 0.8
    assert "Why `" in catalog.load("champion_rationale")


def test_the_derived_one_feature_rule_is_a_baseline_and_the_rationale_reads_it_back(modeled_project):
    catalog = project_catalog(modeled_project)
    leaderboard = catalog.load("leaderboard").set_index("model")
    assert leaderboard.loc["one_feature_rule", "role"] == "baseline"
    rule = catalog.load("baseline_models")["one_feature_rule"][-1].rule_
    assert f"- `one_feature_rule`: `{rule}` (positive rate" in catalog.load("champion_rationale")
    assert "- `married_graduate_rule`: `marital_status in" in catalog.load("champion_rationale")
    rationale = catalog.load("champion_rationale")  # the problem's declared references, marked as such
    for reference in catalog.load("params:problem").reference_results:
        assert f"- `{reference.name}` ({reference.kind.replace('_', ' ')}): {reference.metric}" in rationale
    assert rationale.count("declared, not measured") == len(catalog.load("params:problem").reference_results)


def test_rerun_appends_to_the_log_registers_a_candidate_without_changing_what_is_served(modeled_project):
    registry = ModelRegistry(modeled_project / "data/test/06_models/model_registry")
    if registry.snapshot().champion is None:
        run_kedro(modeled_project, ["evaluation"])  # a released champion, so there is something served to keep
    served = registry.snapshot().champion
    catalog = project_catalog(modeled_project)
    first_board, first_model = catalog.load("leaderboard"), catalog.load("champion_model")
    runs_before = experiment_runs(modeled_project)
    versions_before = len(registry.snapshot().versions)

    run_kedro(modeled_project, ["modeling"])

    catalog = project_catalog(modeled_project)
    second_board, second_model = catalog.load("leaderboard"), catalog.load("champion_model")
    assert experiment_runs(modeled_project) == runs_before + 1
    metrics = [c for c in first_board.columns if c not in TIMING_COLUMNS]
    pd.testing.assert_frame_equal(first_board[metrics], second_board[metrics])
    test = catalog.load("test_split")
    np.testing.assert_array_equal(first_model.predict_proba(test), second_model.predict_proba(test))
    snapshot = registry.snapshot()
    assert len(snapshot.versions) == versions_before + 1 and snapshot.champion == served
    newest = snapshot.history[-1]
    assert newest.event == "registered" and snapshot.versions[newest.version].stage == "candidate"
    assert snapshot.versions[newest.version].threshold == 0.5 and snapshot.last_promotion(newest.version) is None
    with sqlite3.connect(modeled_project / "data" / "test" / "experiment_log.sqlite") as connection:
        folds = pd.read_sql("SELECT model, COUNT(*) AS n FROM fold_metrics GROUP BY run_id, model", connection)
        steps = connection.execute("SELECT COUNT(*) FROM step_metrics").fetchone()[0]
    assert (folds["n"] > 0).all() and steps > 0


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("modeling:\n  candidates:\n    catboost:\n      estimator: catboost.NoSuchBoost\n", "cannot be imported"),
        ("modeling:\n  candidates:\n    decision_tree:\n      params: {max_depth: -1}\n", "max_depth"),
        ("modeling:\n  primary_metric: accuracy_score\n", "unknown metric 'accuracy_score'"),
    ],
)
def test_bad_modeling_config_fails_before_any_node_runs(project_copy, override, message):
    env = add_env(project_copy, "bad", {"parameters_modeling.yml": override})
    with pytest.raises(ParameterValidationError, match=message):
        run_kedro(project_copy, ["modeling"], env=env)
    assert not (project_copy / "data" / env).exists()
