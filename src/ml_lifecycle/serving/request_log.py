"""The request log: every prediction the service makes, in an embedded SQLite file (docs/serving.md).

Table `predictions`: one row per scored input row — request id, time, the inputs as sent, the
model version (and role) that answered, probability, decision, unseen categories, latency,
and the true label once `POST /feedback` brings it. Table `feedback`: every label sent, with when and
by whom (append-only; a second, different label makes the row conflicting). Table `shadow_predictions`: the other
model's score of the same row when a challenger runs (shadow, or the champion beside a canary). Table `requests`: one
row per HTTP request, whatever answered it — time, route, status, latency, rows answered and rows refused.
WAL mode lets monitoring and retraining read the file while the service writes it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from kedro.io import AbstractDataset, DatasetError

from ml_lifecycle.metrics import score_all

SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    request_id TEXT NOT NULL, row INTEGER NOT NULL, received_at TEXT NOT NULL, inputs TEXT NOT NULL,
    model_version TEXT NOT NULL, role TEXT NOT NULL, probability REAL NOT NULL, decision INTEGER NOT NULL,
    threshold REAL NOT NULL, unseen_categories TEXT, latency_ms REAL NOT NULL, label TEXT, labelled_at TEXT,
    PRIMARY KEY (request_id, row));
CREATE INDEX IF NOT EXISTS predictions_received_at ON predictions (received_at);
CREATE TABLE IF NOT EXISTS feedback (
    request_id TEXT NOT NULL, row INTEGER NOT NULL, label TEXT NOT NULL, labelled_at TEXT NOT NULL, sender TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS feedback_request ON feedback (request_id, row);
CREATE TABLE IF NOT EXISTS shadow_predictions (
    request_id TEXT NOT NULL, row INTEGER NOT NULL, model_version TEXT NOT NULL, probability REAL NOT NULL,
    decision INTEGER NOT NULL, threshold REAL NOT NULL, latency_ms REAL NOT NULL, scored_at TEXT NOT NULL,
    PRIMARY KEY (request_id, row, model_version));
CREATE TABLE IF NOT EXISTS requests (
    received_at TEXT NOT NULL, route TEXT NOT NULL, status INTEGER NOT NULL, latency_ms REAL NOT NULL,
    rows INTEGER NOT NULL, rejected_rows INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS requests_received_at ON requests (received_at);
"""
# Rows whose feedback disagrees: their label is unknown to every reader.
CONFLICTS = "(SELECT request_id, row, COUNT(DISTINCT label) > 1 AS conflict FROM feedback GROUP BY request_id, row)"
META_COLUMNS = ["request_id", "row", "received_at", "model_version", "role", "probability", "decision", "threshold",
                "unseen_categories", "latency_ms", "label", "labelled_at", "label_conflict", "label_sender"]
REQUEST_COLUMNS = ["received_at", "route", "status", "latency_ms", "rows", "rejected_rows"]
TABLES = ("predictions", "requests")


class UnknownRequestError(KeyError):
    """Feedback names a request id the log does not hold."""


class RequestLog:
    """Append-only log of predictions plus late labels; safe to share between the service's threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._connection = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._connection.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a committed request survives a crash of the service; only a power
            # loss can drop the last few, and it never corrupts the file.
            self._connection.execute("PRAGMA synchronous=NORMAL")
            self._connection.executescript(SCHEMA)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._connection.close()

    def _write(self, sql: str, rows: list[tuple]) -> None:
        with self._lock:
            self._connection.execute("BEGIN")
            try:
                self._connection.executemany(sql, rows)
                self._connection.execute("COMMIT")
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise

    def record(self, request_id: str, received_at: str, records: list[dict[str, Any]], model_version: str, role: str,
               probabilities: np.ndarray, threshold: float, unseen: list[dict[str, str]], latency_ms: float) -> None:
        """Append one request's rows with the answer they got."""
        self._write(
            "INSERT INTO predictions (request_id, row, received_at, inputs, model_version, role, probability, decision, "
            "threshold, unseen_categories, latency_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (request_id, i, received_at, json.dumps(record), model_version, role, float(p), int(p >= threshold),
                 threshold, json.dumps(flags) if flags else None, latency_ms)
                for i, (record, p, flags) in enumerate(zip(records, probabilities, unseen, strict=True))
            ],
        )

    def record_shadow(self, request_id: str, scored_at: str, model_version: str, probabilities: np.ndarray,
                      threshold: float, latency_ms: float) -> None:
        """Append the other model's scores of one request's rows."""
        self._write(
            "INSERT OR REPLACE INTO shadow_predictions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(request_id, i, model_version, float(p), int(p >= threshold), threshold, latency_ms, scored_at)
             for i, p in enumerate(probabilities)],
        )

    def record_request(self, received_at: str, route: str, status: int, latency_ms: float, rows: int,
                       rejected_rows: int) -> None:
        """Append one HTTP request: one autocommitted INSERT, so logging every request stays cheap."""
        with self._lock:
            self._connection.execute("INSERT INTO requests VALUES (?, ?, ?, ?, ?, ?)",
                                     (received_at, route, status, latency_ms, rows, rejected_rows))

    def add_feedback(self, request_id: str, labels: list[str], labelled_at: str, sender: str) -> int:
        """Record the true label of each row of a logged request, with who sent it; return how many rows now conflict.

        Every label is kept (table `feedback`, append-only). A row's label is its first one; a later,
        different label for the same row is kept beside it and makes the row conflicting: its label
        is then unknown to monitoring and retraining (`frame`), never silently replaced.
        """
        with self._lock:
            (rows,) = self._connection.execute("SELECT COUNT(*) FROM predictions WHERE request_id = ?", (request_id,)).fetchone()
        if rows == 0:
            raise UnknownRequestError(request_id)
        if rows != len(labels):
            raise ValueError(f"request {request_id} has {rows} row(s); feedback gives {len(labels)} label(s)")
        self._write("INSERT INTO feedback VALUES (?, ?, ?, ?, ?)",
                    [(request_id, i, label, labelled_at, sender) for i, label in enumerate(labels)])
        self._write("UPDATE predictions SET label = ?, labelled_at = ? WHERE request_id = ? AND row = ? AND label IS NULL",
                    [(label, labelled_at, request_id, i) for i, label in enumerate(labels)])
        with self._lock:
            (conflicting,) = self._connection.execute(
                "SELECT COUNT(*) FROM (SELECT row FROM feedback WHERE request_id = ? GROUP BY row HAVING COUNT(DISTINCT label) > 1)",
                (request_id,)).fetchone()
        return int(conflicting)

    def count(self) -> int:
        """Return how many rows the log holds."""
        with self._lock:
            return int(self._connection.execute("SELECT COUNT(*) FROM predictions").fetchone()[0])

    def _query(self, sql: str, params: tuple = ()) -> pd.DataFrame:
        with self._lock:
            cursor = self._connection.execute(sql, params)
            names = [d[0] for d in cursor.description]
            return pd.DataFrame(cursor.fetchall(), columns=names)

    def frame(self, since: str | None = None) -> pd.DataFrame:
        """Return the logged rows, oldest first: the inputs as sent (one column per field), then the answer and `label`."""
        logged = self._query(
            f"""
            SELECT p.*, COALESCE(f.conflict, 0) AS label_conflict,
                   (SELECT sender FROM feedback s WHERE s.request_id = p.request_id AND s.row = p.row
                    ORDER BY s.rowid LIMIT 1) AS label_sender
            FROM predictions p LEFT JOIN {CONFLICTS} f ON f.request_id = p.request_id AND f.row = p.row
            WHERE p.received_at >= ? ORDER BY p.received_at, p.request_id, p.row
            """, (since or "",))
        logged["label_conflict"] = logged["label_conflict"].astype(bool)
        logged["label"] = logged["label"].where(~logged["label_conflict"])  # conflicting labels are unknown labels
        logged["label_sender"] = logged["label_sender"].where(logged["label"].notna())
        inputs = pd.DataFrame([json.loads(text) for text in logged.pop("inputs")], index=logged.index)
        return pd.concat([inputs, logged[META_COLUMNS]], axis=1)

    def requests_frame(self) -> pd.DataFrame:
        """Return every logged HTTP request, oldest first."""
        return self._query(f"SELECT {', '.join(REQUEST_COLUMNS)} FROM requests ORDER BY received_at")

    def paired_scores(self, challenger: str) -> pd.DataFrame:
        """Return every logged row scored by both the challenger and another model, with the label when known."""
        return self._query(
            f"""
            SELECT p.request_id, p.row, CASE WHEN f.conflict THEN NULL ELSE p.label END AS label,
                   CASE WHEN p.model_version = :c THEN s.model_version ELSE p.model_version END AS champion_version,
                   CASE WHEN p.model_version = :c THEN s.probability ELSE p.probability END AS champion_probability,
                   CASE WHEN p.model_version = :c THEN s.decision ELSE p.decision END AS champion_decision,
                   CASE WHEN p.model_version = :c THEN p.probability ELSE s.probability END AS challenger_probability,
                   CASE WHEN p.model_version = :c THEN p.decision ELSE s.decision END AS challenger_decision,
                   p.model_version = :c AS challenger_answered
            FROM predictions p JOIN shadow_predictions s ON s.request_id = p.request_id AND s.row = p.row
            LEFT JOIN {CONFLICTS} f ON f.request_id = p.request_id AND f.row = p.row
            WHERE (p.model_version = :c) <> (s.model_version = :c)
            """,
            {"c": challenger},  # type: ignore[arg-type]
        )


def compare_models(paired: pd.DataFrame, positive_label: str) -> dict[str, Any]:
    """Return champion vs challenger on the same logged rows: agreement, and metrics on the labelled ones."""
    if paired.empty:
        return {"rows_compared": 0}
    labelled = paired[paired["label"].notna()]
    result: dict[str, Any] = {
        "rows_compared": len(paired),
        "answered_by_challenger": int(paired["challenger_answered"].sum()),
        "decision_agreement": round(float((paired["champion_decision"] == paired["challenger_decision"]).mean()), 4),
        "mean_absolute_probability_difference": round(
            float((paired["champion_probability"] - paired["challenger_probability"]).abs().mean()), 4
        ),
        "labelled_rows": len(labelled),
    }
    if len(labelled):
        y = (labelled["label"] == positive_label).astype(int).to_numpy()
        for role in ("champion", "challenger"):
            result[f"{role}_metrics"] = {k: round(v, 4) for k, v in score_all(y, labelled[f"{role}_probability"].to_numpy()).items()}
    return result


class RequestLogDataset(AbstractDataset[None, pd.DataFrame]):
    """Kedro view of the request log (read-only).

    `table: predictions` (the default): one row per logged input row; `label` is null until fed
    back. `table: requests`: one row per HTTP request (REQUEST_COLUMNS).
    """

    def __init__(self, filepath: str, table: str = "predictions", metadata: dict[str, Any] | None = None) -> None:
        if table not in TABLES:
            raise DatasetError(f"{filepath}: table {table!r} is not a request-log view; known: {list(TABLES)}")
        self._filepath = Path(filepath)
        self._table = table
        self.metadata = metadata

    @property
    def filepath(self) -> Path:
        """Where the service writes the log."""
        return self._filepath

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "table": self._table}

    def _exists(self) -> bool:
        return self._filepath.exists()

    def _load(self) -> pd.DataFrame:
        if not self._filepath.exists():
            return pd.DataFrame(columns=META_COLUMNS if self._table == "predictions" else REQUEST_COLUMNS)
        log = RequestLog(self._filepath)
        try:
            return log.frame() if self._table == "predictions" else log.requests_frame()
        finally:
            log.close()

    def _save(self, data: None) -> None:
        raise DatasetError(f"{self._filepath}: the request log is written by the prediction service only")
