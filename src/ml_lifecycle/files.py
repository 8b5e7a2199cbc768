"""File writes that never leave a half-written file behind."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset


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


class AtomicCSVDataset(AbstractDataset[pd.DataFrame, pd.DataFrame]):
    """A CSV file (no index column) replaced in one step: a failed run leaves the previous file whole."""

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}

    def _exists(self) -> bool:
        return self._filepath.exists()

    def _load(self) -> pd.DataFrame:
        return pd.read_csv(self._filepath)

    def _save(self, data: pd.DataFrame) -> None:
        atomic_write(self._filepath, data.to_csv(index=False).encode())
