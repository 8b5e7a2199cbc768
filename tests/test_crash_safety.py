"""A modeling run killed half-way leaves earlier outputs, the experiment log and the registry intact."""

from __future__ import annotations

import sqlite3

import pandas as pd

from ml_lifecycle.registry import ModelRegistry
from tests.conftest import project_catalog, run_kedro
from tests.test_chaos import kill_run_when


def test_a_killed_modeling_run_leaves_earlier_outputs_intact_and_the_next_run_succeeds(project_copy):
    run_kedro(project_copy, ["data_processing", "modeling"])
    before = project_catalog(project_copy)
    leaderboard, model = before.load("leaderboard"), before.load("champion_model")
    log_path = project_copy / "data" / "test" / "experiment_log.sqlite"
    with sqlite3.connect(log_path) as connection:
        runs_before = pd.read_sql("SELECT * FROM runs", connection)
    registry_before = ModelRegistry(project_copy / "data/test/06_models/model_registry").snapshot()
    versions_before = {p.name for p in (project_copy / "data/test/08_reporting/leaderboard.csv").iterdir()}

    log = kill_run_when(project_copy, "modeling", "CV fold 1")
    assert "CV fold 1" in log, log[-2000:]

    after = project_catalog(project_copy)
    earlier = after.load("leaderboard", version=sorted(versions_before)[-1])
    pd.testing.assert_frame_equal(earlier, leaderboard)
    test_rows = after.load("test_split")
    assert (after.load("champion_model").predict_proba(test_rows) == model.predict_proba(test_rows)).all()
    with sqlite3.connect(log_path) as connection:
        pd.testing.assert_frame_equal(pd.read_sql("SELECT * FROM runs", connection), runs_before)
    assert ModelRegistry(project_copy / "data/test/06_models/model_registry").snapshot() == registry_before

    run_kedro(project_copy, ["modeling"])
    with sqlite3.connect(log_path) as connection:
        assert connection.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == len(runs_before) + 1
