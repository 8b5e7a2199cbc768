"""The experiment log writes a run in one transaction: a failure on any insert leaves no part of the run behind."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from kedro.io import DataCatalog, DatasetError

from ml_lifecycle.experiment_log import ExperimentLogDataset
from ml_lifecycle.publishing import STAGING, RunPublisher


def record(champion: str) -> dict:
    """Return a small run record with rows for several tables."""
    return {"run": {"data_fingerprint": "abc", "primary_metric": "log_loss", "champion": champion, "cv_score": np.float64(0.3),
                    "params_json": "{}"},
            "fold_metrics": [{"model": "m", "role": "candidate", "fold": np.int64(i), "metric": "log_loss", "value": 0.3 + i}
                             for i in range(3)],
            "model_metrics": [{"model": "m", "role": "candidate", "metric": "log_loss", "mean": 0.3, "std": None}],
            "timings": [{"model": "m", "fit_seconds": 1.0, "predict_ms_per_1000_rows": 2.0, "size_bytes": 10}]}


def counts(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as connection:
        return {t: connection.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("runs", "fold_metrics", "model_metrics", "timings")}


def test_a_run_whose_third_insert_fails_adds_nothing_and_the_log_stays_sound(tmp_path: Path):
    path = tmp_path / "experiment_log.sqlite"
    log = ExperimentLogDataset(filepath=str(path))
    log.save(record("first"))
    before = counts(path)
    assert before == {"runs": 1, "fold_metrics": 3, "model_metrics": 1, "timings": 1}
    with sqlite3.connect(path) as connection:  # a real failure on the third table's insert, inside SQLite
        connection.execute("CREATE TRIGGER injected BEFORE INSERT ON model_metrics BEGIN SELECT RAISE(ABORT, 'injected'); END")
    with pytest.raises(DatasetError, match="Failed while saving"):
        log.save(record("second"))
    assert counts(path) == before
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        connection.execute("DROP TRIGGER injected")
    log.save(record("third"))
    assert counts(path) == {"runs": 2, "fold_metrics": 6, "model_metrics": 2, "timings": 2}
    assert log.load()["champion"].tolist() == ["first", "third"]


def test_a_runs_rows_reach_the_log_in_one_merge_when_it_publishes_and_never_when_it_fails(tmp_path: Path):
    path = tmp_path / "experiment_log.sqlite"
    ExperimentLogDataset(filepath=str(path)).save(record("first"))
    publisher = RunPublisher(tmp_path)

    run = publisher.start("2026-01-01T00.00.00.000Z")
    log = ExperimentLogDataset(filepath=str(path))
    log.stage_for(run)
    log.save(record("second"))
    assert counts(path)["runs"] == 1  # staged: no reader of the log sees an unpublished run
    assert log.load()["champion"].tolist() == ["first", "second"]  # the run itself does
    (staged,) = tmp_path.rglob(f"{STAGING}/*/*.sqlite")
    kept = staged.read_bytes()
    run.publish(DataCatalog(), ["modeling"])
    assert counts(path) == {"runs": 2, "fold_metrics": 6, "model_metrics": 2, "timings": 2}
    staged.parent.mkdir(parents=True)
    staged.write_bytes(kept)  # as a process killed after the merge's COMMIT, before deleting the staging folder, leaves it
    publisher.recover()  # redoes the manifest's merge: the run's rows are there already, so it adds nothing
    assert counts(path)["runs"] == 2 and list(tmp_path.rglob(STAGING)) == []

    failed = publisher.start("2026-01-02T00.00.00.000Z")
    log.stage_for(failed)
    log.save(record("third"))
    failed.discard()
    assert counts(path)["runs"] == 2 and list(tmp_path.rglob(STAGING)) == []
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
