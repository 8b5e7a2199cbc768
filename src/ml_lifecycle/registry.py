"""The model registry: every registered model version, which one is champion, and the audit trail.

A folder with `registry.json` and one pickle per version. Writes go to a temporary file that
replaces the old one in a single step, so a crash never leaves a half-written record or model.
Promotion swaps the champion pointer only; earlier versions stay on disk, ready for rollback.
"""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from ml_lifecycle.files import atomic_write


class ModelRegistry:
    """Versions, champion pointer and history kept in a folder."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.record_path = self.folder / "registry.json"

    def record(self) -> dict[str, Any]:
        """Return the registry record (empty when nothing is registered yet)."""
        if not self.record_path.exists():
            return {"champion": None, "versions": {}, "history": []}
        return json.loads(self.record_path.read_text())

    def _write(self, record: dict[str, Any]) -> None:
        atomic_write(self.record_path, json.dumps(record, indent=2, default=str).encode())

    def model_path(self, version: str) -> Path:
        """Return where a version's pickled model lives."""
        return self.folder / "models" / f"{version}.pkl"

    def register(self, model: Any, metadata: dict[str, Any], promote: bool, reason: str) -> str:
        """Store a new version (model first, then the record); promote it when asked. Return its name."""
        record = self.record()
        version = f"v{len(record['versions']) + 1}"
        atomic_write(self.model_path(version), pickle.dumps(model))
        now = datetime.now(UTC).isoformat()
        record["versions"][version] = {"registered_at": now, **metadata}
        record["history"].append({"at": now, "event": "registered", "version": version, "reason": reason})
        self._write(record)
        if promote:
            self.promote(version, reason)
        return version

    def promote(self, version: str, reason: str, event: str = "promoted") -> None:
        """Make `version` the champion, keeping the previous one for rollback."""
        record = self.record()
        if version not in record["versions"]:
            raise KeyError(f"unknown model version {version!r}; known: {sorted(record['versions'])}")
        record["history"].append({"at": datetime.now(UTC).isoformat(), "event": event, "version": version,
                                  "previous_champion": record["champion"], "reason": reason})
        record["champion"] = version
        self._write(record)

    def rollback(self, version: str | None = None, reason: str = "rollback") -> str:
        """Make `version` (default: the champion before the current one) the champion again."""
        record = self.record()
        if version is None:
            promotions = [e for e in record["history"] if e["event"] in ("promoted", "rolled back")]
            if not promotions or promotions[-1].get("previous_champion") is None:
                raise ValueError("no earlier champion to roll back to")
            version = promotions[-1]["previous_champion"]
        self.promote(version, reason, event="rolled back")
        return version

    def load(self, version: str | None = None) -> tuple[str, Any, dict[str, Any]]:
        """Return (version, model, metadata) of `version`, the champion by default."""
        record = self.record()
        version = version or record["champion"]
        if version is None:
            raise LookupError(f"{self.record_path}: no champion registered yet; run `kedro run --pipeline=modeling`")
        model = pickle.loads(self.model_path(version).read_bytes())
        return version, model, record["versions"][version]


class ModelRegistryDataset(AbstractDataset[dict[str, Any], dict[str, Any]]):
    """Kedro view of the registry: save registers (and maybe promotes) a model; load returns the record."""

    def __init__(self, path: str, metadata: dict[str, Any] | None = None) -> None:
        self._registry = ModelRegistry(path)
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._registry.folder)}

    def _exists(self) -> bool:
        return self._registry.record_path.exists()

    def _load(self) -> dict[str, Any]:
        return self._registry.record()

    def _save(self, entry: dict[str, Any]) -> None:
        self._registry.register(entry["model"], entry["metadata"], entry.get("promote", True), entry["reason"])


class ChampionModelDataset(AbstractDataset[None, dict[str, Any]]):
    """Read-only Kedro view of the registry's champion: load returns {version, model, metadata}.

    Registering goes through `ModelRegistryDataset`; this view exists so pipelines that score
    with the champion (inference, monitoring) receive the model itself rather than the record.
    """

    def __init__(self, path: str, metadata: dict[str, Any] | None = None) -> None:
        self._registry = ModelRegistry(path)
        self.metadata = metadata

    @property
    def registry(self) -> ModelRegistry:
        """The registry behind the view, for callers that promote, roll back or load other versions."""
        return self._registry

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._registry.folder)}

    def _exists(self) -> bool:
        return self._registry.record()["champion"] is not None

    def _load(self) -> dict[str, Any]:
        version, model, metadata = self._registry.load()
        return {"version": version, "model": model, "metadata": metadata}

    def _save(self, data: None) -> None:
        raise DatasetError(f"{self._registry.folder}: the champion view is read-only; register through ModelRegistryDataset")
