"""Files as Kedro datasets: raw bytes in, and writes that never leave a half-written file behind."""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import import_module
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, AbstractVersionedDataset, Version
from kedro_datasets._typing import JSONPreview
from pydantic import BaseModel


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@contextmanager
def transaction(connection: sqlite3.Connection) -> Iterator[None]:
    """Run the block in one `BEGIN IMMEDIATE` transaction of an autocommit connection: commit, or roll back and re-raise.

    The connection must be opened with `isolation_level=None`, so the transaction is ours alone: sqlite3's implicit
    transactions and pandas' `to_sql` commit on their own terms, which once left half a run behind.
    """
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


class LocalFileDataset(AbstractDataset):
    """A dataset stored in one local file (not versioned): subclasses say how it is read and written."""

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}

    def _exists(self) -> bool:
        return self._filepath.exists()


class AtomicCSVDataset(LocalFileDataset):
    """A CSV file (no index column) replaced in one step: a failed run leaves the previous file whole."""

    def _load(self) -> pd.DataFrame:
        return pd.read_csv(self._filepath)

    def _save(self, data: pd.DataFrame) -> None:
        atomic_write(self._filepath, data.to_csv(index=False).encode())


class RawFileDataset(LocalFileDataset):
    """A raw file's bytes as they are; `rows.read_raw_table` parses them with the problem's one declared format.

    Parsing in a node rather than in the catalog keeps one declaration of the format (`problem.raw`)
    for training files, batch-inference input and production drop-ins.
    """

    def _load(self) -> bytes:
        return self._filepath.read_bytes()

    def _save(self, data: bytes) -> None:
        atomic_write(self._filepath, data)


class TypedJSONDataset(AbstractVersionedDataset[BaseModel, BaseModel]):
    """A pydantic model saved as JSON in one step (versioned or not) and validated back on load: a misspelt key fails loudly."""

    def __init__(self, filepath: str, model: str, version: Version | None = None, metadata: dict[str, Any] | None = None) -> None:
        super().__init__(PurePosixPath(filepath), version)
        module, _, name = model.rpartition(".")
        self._model: type[BaseModel] = getattr(import_module(module), name)
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "model": self._model.__name__, "version": self._version}

    def _exists(self) -> bool:
        return Path(self._get_load_path()).exists()

    def _load(self) -> BaseModel:
        return self._model.model_validate_json(Path(self._get_load_path()).read_bytes())

    def _save(self, data: BaseModel) -> None:
        atomic_write(Path(self._get_save_path()), self._model.model_validate(data).model_dump_json(indent=2).encode())

    def preview(self) -> JSONPreview:
        """Return the saved JSON for kedro-viz's preview panel."""
        return JSONPreview(Path(self._get_load_path()).read_text())
