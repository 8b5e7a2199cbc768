"""The request log on a real SQLite file: appends, late labels, the Kedro view and the champion-challenger comparison."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kedro.io import DatasetError

from ml_lifecycle.serving.request_log import (
    META_COLUMNS,
    REQUEST_COLUMNS,
    RequestLog,
    RequestLogDataset,
    UnknownRequestError,
    compare_models,
)

RECORDS = [{"age": 30.0, "sex": "Male"}, {"age": None, "sex": "Female"}]


@pytest.fixture
def log(tmp_path: Path) -> RequestLog:
    """An empty request log in a new folder."""
    return RequestLog(tmp_path / "serving" / "requests.sqlite")


def test_rows_are_logged_with_their_answer_and_labels_arrive_later(log: RequestLog):
    log.record("r1", "2026-03-01T10:00:00+00:00", RECORDS, "v1", "champion", np.array([0.2, 0.7]), 0.5,
               [{}, {"sex": "Female"}], 2.5)
    log.add_feedback("r1", [">50K", "<=50K"], "2026-03-02T00:00:00+00:00", "127.0.0.1")
    frame = log.frame()
    assert frame.columns.tolist() == ["age", "sex", *META_COLUMNS]
    assert frame["age"].iloc[0] == 30.0 and np.isnan(frame["age"].iloc[1])
    assert frame["decision"].tolist() == [0, 1]
    assert frame["label"].tolist() == [">50K", "<=50K"]
    assert frame["unseen_categories"].isna().tolist() == [True, False]
    assert frame["unseen_categories"].iloc[1] == '{"sex": "Female"}'
    assert log.count() == 2


def test_a_second_different_label_is_kept_beside_the_first_and_makes_the_row_unknown(log: RequestLog):
    log.record("r1", "2026-03-01T10:00:00+00:00", RECORDS, "v1", "champion", np.array([0.2, 0.7]), 0.5, [{}, {}], 1.0)
    assert log.add_feedback("r1", [">50K", "<=50K"], "t1", "10.0.0.1") == 0
    assert log.add_feedback("r1", [">50K", ">50K"], "t2", "10.0.0.9") == 1  # row 1 now disagrees; row 0 agrees
    frame = log.frame()
    assert frame["label_conflict"].tolist() == [False, True]
    assert frame["label"].iloc[0] == ">50K" and pd.isna(frame["label"].iloc[1])
    with sqlite3.connect(log.path) as connection:
        sent = connection.execute("SELECT row, label, sender FROM feedback ORDER BY labelled_at, row").fetchall()
    assert sent == [(0, ">50K", "10.0.0.1"), (1, "<=50K", "10.0.0.1"), (0, ">50K", "10.0.0.9"), (1, ">50K", "10.0.0.9")]


def test_feedback_for_an_unknown_request_or_with_the_wrong_count_is_refused(log: RequestLog):
    log.record("r1", "2026-03-01T10:00:00+00:00", RECORDS, "v1", "champion", np.array([0.2, 0.7]), 0.5, [{}, {}], 1.0)
    with pytest.raises(UnknownRequestError):
        log.add_feedback("r2", [">50K"], "t", "127.0.0.1")
    with pytest.raises(ValueError, match=r"request r1 has 2 row\(s\); feedback gives 1 label\(s\)"):
        log.add_feedback("r1", [">50K"], "t", "127.0.0.1")
    assert log.frame()["label"].isna().all()


def test_the_kedro_view_reads_the_log_and_refuses_writes(log: RequestLog, tmp_path: Path):
    log.record("r1", "2026-03-01T10:00:00+00:00", RECORDS, "v1", "champion", np.array([0.2, 0.7]), 0.5, [{}, {}], 1.0)
    dataset = RequestLogDataset(filepath=str(log.path))
    logged = dataset.load()
    assert dataset.exists() and len(logged) == 2
    with pytest.raises(DatasetError, match="written by the prediction service only"):
        dataset.save(logged)
    missing = RequestLogDataset(filepath=str(tmp_path / "none.sqlite"))
    assert not missing.exists()
    assert missing.load().columns.tolist() == META_COLUMNS and not (tmp_path / "none.sqlite").exists()


def test_the_kedro_view_of_the_requests_table_reads_every_request_oldest_first(log: RequestLog, tmp_path: Path):
    log.record_request("2026-03-01T10:00:01+00:00", "/predict", 422, 1.5, 0, 2)
    log.record_request("2026-03-01T10:00:00+00:00", "/predict", 200, 2.5, 3, 0)
    requests = RequestLogDataset(filepath=str(log.path), table="requests").load()
    assert requests.columns.tolist() == REQUEST_COLUMNS
    assert requests.values.tolist() == [["2026-03-01T10:00:00+00:00", "/predict", 200, 2.5, 3, 0],
                                        ["2026-03-01T10:00:01+00:00", "/predict", 422, 1.5, 0, 2]]
    missing = RequestLogDataset(filepath=str(tmp_path / "none.sqlite"), table="requests")
    assert missing.load().columns.tolist() == REQUEST_COLUMNS


def test_a_log_written_before_the_requests_table_existed_gains_it_when_opened(tmp_path: Path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE predictions (request_id TEXT NOT NULL, row INTEGER NOT NULL, received_at TEXT NOT NULL, "
                           "inputs TEXT NOT NULL, model_version TEXT NOT NULL, role TEXT NOT NULL, probability REAL NOT NULL, "
                           "decision INTEGER NOT NULL, threshold REAL NOT NULL, unseen_categories TEXT, latency_ms REAL NOT NULL, "
                           "label TEXT, labelled_at TEXT, PRIMARY KEY (request_id, row))")
        connection.execute("INSERT INTO predictions VALUES ('r0', 0, 't0', '{}', 'v1', 'champion', 0.4, 0, 0.5, NULL, 1.0, NULL, NULL)")
    assert RequestLogDataset(filepath=str(path), table="requests").load().empty
    assert len(RequestLogDataset(filepath=str(path)).load()) == 1


def test_an_unknown_table_is_refused_naming_the_known_ones(log: RequestLog):
    with pytest.raises(DatasetError, match=r"table 'request' is not a request-log view; known: \['predictions', 'requests'\]"):
        RequestLogDataset(filepath=str(log.path), table="request")


def test_champion_and_challenger_are_compared_on_rows_both_scored_whichever_answered(log: RequestLog):
    # r1: champion v1 answered, v2 in shadow; r2: canary v2 answered, v1 beside it.
    log.record("r1", "t1", RECORDS, "v1", "champion", np.array([0.2, 0.7]), 0.5, [{}, {}], 1.0)
    log.record_shadow("r1", "t1", "v2", np.array([0.6, 0.8]), 0.5, 1.0)
    log.record("r2", "t2", RECORDS, "v2", "challenger", np.array([0.9, 0.1]), 0.5, [{}, {}], 1.0)
    log.record_shadow("r2", "t2", "v1", np.array([0.8, 0.3]), 0.5, 1.0)
    log.add_feedback("r1", ["<=50K", ">50K"], "t3", "127.0.0.1")
    paired = log.paired_scores("v2")
    assert paired["champion_probability"].tolist() == [0.2, 0.7, 0.8, 0.3]
    assert paired["challenger_probability"].tolist() == [0.6, 0.8, 0.9, 0.1]
    result = compare_models(paired, ">50K")
    assert result["rows_compared"] == 4 and result["answered_by_challenger"] == 2
    assert result["decision_agreement"] == 0.75  # only r1 row 0 differs: 0.2 vs 0.6
    assert result["mean_absolute_probability_difference"] == pytest.approx((0.4 + 0.1 + 0.1 + 0.2) / 4, abs=1e-4)
    assert result["labelled_rows"] == 2
    assert result["champion_metrics"]["accuracy"] == 1.0 and result["challenger_metrics"]["accuracy"] == 0.5
    assert compare_models(log.paired_scores("v9"), ">50K") == {"rows_compared": 0}
