"""The experiment log: an embedded SQLite file every modeling run appends to (docs/experiment_log.md).

Each run's rows are written in one transaction, so a run that fails half-way adds nothing and
leaves earlier runs intact. Inside a Kedro run they are written to a staged database and merged
into the log in one transaction when the run publishes (`ml_lifecycle.publishing`): a run that
fails or is killed before it publishes adds no row. Tables are long-format so plain SQL answers
most questions.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from ml_lifecycle.files import LocalFileDataset, transaction
from ml_lifecycle.publishing import Merge, PublishingRun

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
    """Append a run (a dict of a `run` row and long tables) to SQLite; load the `runs` table.

    In a publishing run (`stage_for`), save writes the rows to a database in the run's staging folder,
    merged into the log when the run publishes; load then includes them.
    """

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        super().__init__(filepath, metadata)
        self._run: PublishingRun | None = None
        self._staged: Path | None = None

    def stage_for(self, run: PublishingRun) -> None:
        """Stage this run's rows until it publishes (`PublishRunHook`)."""
        self._run, self._staged = run, None

    def _load(self) -> pd.DataFrame:
        staged = [self._staged] if self._staged is not None else []
        frames = []
        for path in [p for p in (self._filepath, *staged) if p.exists()]:
            with sqlite3.connect(path) as connection:
                frames.append(pd.read_sql("SELECT * FROM runs", connection))
        return pd.concat(frames, ignore_index=True).sort_values("started_at", ignore_index=True)

    def _save(self, record: dict[str, Any]) -> None:
        run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        run = record["run"] | {"run_id": run_id, "started_at": datetime.now(UTC).isoformat(), "git_commit": git_commit()}
        if self._run is None:  # outside a session run (a test saving through a bare catalog): straight into the log
            _write_run(self._filepath, run, record)
            return
        self._staged = self._run.staging_folder(self._filepath) / f"{run_id}.sqlite"
        _write_run(self._staged, run, record)
        self._run.merge(Merge(source=str(self._staged), target=str(self._filepath), key_table="runs", key_column="run_id"))


def _write_run(path: Path, run: dict[str, Any], record: dict[str, Any]) -> None:
    """Write a run's row and long tables into the SQLite file at `path` in one transaction."""
    run_id = run["run_id"]
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.executescript(SCHEMA)  # before the transaction: executescript commits whatever is open
        with transaction(connection):
            _insert(connection, "runs", pd.DataFrame([run]))
            for table in TABLES:
                frame = pd.DataFrame(record.get(table, []))
                if not frame.empty:
                    _insert(connection, table, frame.assign(run_id=run_id))
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
