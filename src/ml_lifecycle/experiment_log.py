"""The experiment log: an embedded SQLite file every modeling run appends to (docs/experiment_log.md).

Each run's rows are written in one transaction, so a run that fails half-way adds nothing and
leaves earlier runs intact. Tables are long-format so plain SQL answers most questions.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import uuid
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from ml_lifecycle.files import LocalFileDataset

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, started_at TEXT, git_commit TEXT, data_fingerprint TEXT,
    primary_metric TEXT, champion TEXT, cv_score REAL, params_json TEXT);
CREATE TABLE IF NOT EXISTS fold_metrics (
    run_id TEXT, model TEXT, role TEXT, fold INTEGER, metric TEXT, value REAL);
CREATE TABLE IF NOT EXISTS model_metrics (
    run_id TEXT, model TEXT, role TEXT, metric TEXT, mean REAL, std REAL);
CREATE TABLE IF NOT EXISTS step_metrics (
    run_id TEXT, model TEXT, curve TEXT, step INTEGER, split TEXT, metric TEXT, value REAL);
CREATE TABLE IF NOT EXISTS timings (
    run_id TEXT, model TEXT, fit_seconds REAL, predict_ms_per_1000_rows REAL, size_bytes INTEGER);
CREATE TABLE IF NOT EXISTS trials (
    run_id TEXT, model TEXT, trial INTEGER, params_json TEXT, score REAL);
"""
TABLES = ("fold_metrics", "model_metrics", "step_metrics", "timings", "trials")


def git_commit() -> str:
    """Return the current git commit (with '-dirty' when there are uncommitted changes), or 'unknown'."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("-dirty" if dirty.strip() else "")


class ExperimentLogDataset(LocalFileDataset):
    """Append a run (a dict of a `run` row and long tables) to SQLite; load the `runs` table."""

    def _load(self) -> pd.DataFrame:
        with sqlite3.connect(self._filepath) as connection:
            return pd.read_sql("SELECT * FROM runs ORDER BY started_at", connection)

    def _save(self, record: dict[str, Any]) -> None:
        run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        run = record["run"] | {"run_id": run_id, "started_at": datetime.now(UTC).isoformat(), "git_commit": git_commit()}
        self._filepath.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode, so the transaction is ours alone: sqlite3's implicit transactions and pandas' to_sql
        # commit on their own terms, which once left half a run behind when a later insert failed.
        connection = sqlite3.connect(self._filepath, isolation_level=None)
        try:
            connection.executescript(SCHEMA)  # before BEGIN: executescript commits whatever is open
            connection.execute("BEGIN IMMEDIATE")
            try:
                _insert(connection, "runs", pd.DataFrame([run]))
                for table in TABLES:
                    frame = pd.DataFrame(record.get(table, []))
                    if not frame.empty:
                        _insert(connection, table, frame.assign(run_id=run_id))
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        finally:
            connection.close()


def _insert(connection: sqlite3.Connection, table: str, frame: pd.DataFrame) -> None:
    """Insert a frame's rows into `table`, by column name, inside the caller's transaction."""
    names = list(frame.columns)
    rows = frame.astype(object).where(frame.notna(), None).itertuples(index=False, name=None)
    connection.executemany(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})", list(rows))


def as_json(value: Any) -> str:
    """Return `value` as canonical JSON text for a SQL column."""
    return json.dumps(value, sort_keys=True, default=str)
