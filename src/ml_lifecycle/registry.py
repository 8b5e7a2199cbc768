"""The model registry: one folder of self-contained bundles and an append-only history.

    registry.lock            held (flock) around every write, so concurrent writers queue
    history.jsonl            one JSON event per line, only ever appended: registered, promoted,
                             blocked, rolled back; the champion is the version of the last
                             promotion or rollback
    versions/vN/bundle.pkl   the pickled ModelBundle (created with the version's folder,
                             which is made exclusively: two writers never share a version)
    versions/vN/manifest.json

A version exists once its `registered` event, which carries the bundle's sha256, is in the
history. Inside a Kedro run the registry's datasets stage their events instead: the run's nodes
see them, and they are appended in one write when the run publishes (`ml_lifecycle.publishing`);
a run that fails or is killed appends none, and the version folders it reserved are deleted (at
once when it fails, by the next run when it was killed).
Loading checks the bundle file against that hash before anything is unpickled, and
the manifest's library versions against the installed ones, and refuses any difference with
a message naming the file.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from kedro.io import AbstractDataset, DatasetError
from pydantic import Field

from ml_lifecycle.bundle import (
    BundleError,
    InputSchema,
    ModelBundle,
    library_mismatches,
    library_versions,
)
from ml_lifecycle.experiment_log import git_commit
from ml_lifecycle.files import atomic_write
from ml_lifecycle.gate import GateVerdict
from ml_lifecycle.publishing import PublishingRun
from ml_lifecycle.spec import StrictModel

Stage = Literal["candidate", "released", "retrained"]
# shadow: a challenger the gate passed, scored beside the champion until enough labels judge it (promoted or retired).
EventKind = Literal["registered", "promoted", "blocked", "rolled back", "shadow", "retired"]
CHAMPION_EVENTS = ("promoted", "rolled back")
DecisionEvent = Literal["promoted", "blocked", "shadow", "retired", "rolled back"]
DECISIONS = ("promoted", "blocked", "shadow", "retired", "rolled back")


class ReleaseInfo(StrictModel):
    """What the releasing node knows about a bundle; the registry adds version, time, hash, code and libraries."""

    problem: str
    model: str = Field(description="The selected model's name on the leaderboard, e.g. 'catboost'.")
    stage: Stage
    description: str
    data_fingerprint: str
    calibration: str = "none"
    metrics: dict[str, float] = Field(default_factory=dict, description="Headline figures and where they come from (metrics_source).")
    metrics_source: str = ""
    details: dict[str, Any] = Field(default_factory=dict, description="Stage-specific record, e.g. the retraining decision.")


class ReleaseContext(StrictModel):
    """Who releases a model and why: given to the release steps by the pipeline that instantiates them."""

    stage: Stage
    reason: str
    details: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True)
class ReleaseCandidate:
    """A bundle ready to register, with what is known about it."""

    bundle: ModelBundle
    info: ReleaseInfo


class Manifest(ReleaseInfo):
    """The JSON beside a registered bundle: who it is, what it was trained on, with which code and libraries."""

    version: str
    registered_at: str
    threshold: float
    abstain_band: tuple[float, float] | None
    feature_schema: InputSchema
    code_commit: str
    libraries: dict[str, str]
    sha256: str = Field(description="Of versions/<version>/bundle.pkl; also in the history's registered event.")


class RegistryEvent(StrictModel):
    """One line of the append-only history."""

    at: str
    event: EventKind
    version: str
    reason: str
    sha256: str | None = None
    verdict: GateVerdict | None = None
    forced: bool = False
    previous_champion: str | None = None
    data_time: str | None = Field(default=None, description="The newest production batch time the decision saw, when data made it.")


class RegistrySnapshot(StrictModel):
    """The registry as it is now: every registered version's manifest, the champion and the history."""

    versions: dict[str, Manifest]
    champion: str | None
    history: list[RegistryEvent]

    def last_promotion(self, version: str) -> RegistryEvent | None:
        """Return the latest event that made `version` champion (None if it never was)."""
        events = [e for e in self.history if e.version == version and e.event in CHAMPION_EVENTS]
        return events[-1] if events else None

    def shadow(self) -> RegistryEvent | None:
        """Return the event that put the current shadow challenger in shadow (None when no challenger is in shadow)."""
        for event in reversed(self.history):
            if event.event == "shadow":
                return None if event.version == self.champion else event
            if event.event in ("retired", *CHAMPION_EVENTS):
                return None
        return None

    def champion_event(self) -> RegistryEvent | None:
        """Return the event that made the current champion champion."""
        return self.last_promotion(self.champion) if self.champion else None

    def verdict_of(self, version: str) -> GateVerdict | None:
        """Return the gate verdict recorded for `version` at its release (None when it was not gated)."""
        verdicts = [e.verdict for e in self.history if e.version == version and e.verdict is not None]
        return verdicts[-1] if verdicts else None


@dataclass(frozen=True)
class LoadedBundle:
    """A verified registry version: its bundle, manifest and the event that made it champion (if any)."""

    version: str
    bundle: ModelBundle
    manifest: Manifest
    promotion: RegistryEvent | None


def _now() -> str:
    return datetime.now(UTC).isoformat()


def sha256_of(data: bytes) -> str:
    """Return the hex SHA-256 of `data`."""
    return hashlib.sha256(data).hexdigest()


class ModelRegistry:
    """Bundles, manifests and the history kept in a folder; see the module docstring for the layout.

    With `run` (a live publishing run), events are staged in the run and appended when it publishes;
    the history read meanwhile is the file's followed by the run's staged events.
    """

    def __init__(self, folder: str | Path, run: PublishingRun | None = None) -> None:
        self.folder = Path(folder)
        self.history_path = self.folder / "history.jsonl"
        self.lock_path = self.folder / "registry.lock"
        self._run = run

    def version_folder(self, version: str) -> Path:
        """Return where a version's bundle and manifest live."""
        return self.folder / "versions" / version

    def bundle_path(self, version: str) -> Path:
        """Return a version's bundle file."""
        return self.version_folder(version) / "bundle.pkl"

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def history(self) -> list[RegistryEvent]:
        """Return every event, oldest first (a torn last line, from a writer killed mid-append, is skipped)."""
        staged = self._run.staged_lines(self.history_path) if self._run else []
        lines = self.history_path.read_text().splitlines() if self.history_path.exists() else []
        events = [RegistryEvent.model_validate_json(line) for line in staged]
        if not lines:
            return events
        written = []
        for number, line in enumerate(lines, start=1):
            try:
                written.append(RegistryEvent.model_validate_json(line))
            except ValueError as error:
                if number == len(lines):
                    break
                raise BundleError(f"{self.history_path}: line {number} is not a registry event: {error}") from None
        return written + events

    def _append(self, event: RegistryEvent) -> RegistryEvent:
        if self._run is not None:
            self._run.append(self.history_path, self.lock_path, event.model_dump_json())
            return event
        line = (event.model_dump_json() + "\n").encode()
        handle = os.open(self.history_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(handle, line)
            os.fsync(handle)
        finally:
            os.close(handle)
        return event

    def snapshot(self) -> RegistrySnapshot:
        """Return the registry's versions, champion and history."""
        history = self.history()
        registered = [e.version for e in history if e.event == "registered"]
        champions = [e.version for e in history if e.event in CHAMPION_EVENTS]
        return RegistrySnapshot(versions={v: self._manifest(v) for v in registered},
                                champion=champions[-1] if champions else None, history=history)

    def _manifest(self, version: str) -> Manifest:
        path = self.version_folder(version) / "manifest.json"
        try:
            return Manifest.model_validate_json(path.read_bytes())
        except (OSError, ValueError) as error:
            raise BundleError(f"{path}: unreadable manifest of registry version {version}: {error}") from None

    def _new_version_folder(self) -> str:
        """Create the next version's folder exclusively and return the version's name."""
        versions = self.folder / "versions"
        versions.mkdir(parents=True, exist_ok=True)
        number = 1 + max((int(p.name[1:]) for p in versions.iterdir() if p.name[1:].isdigit()), default=0)
        while True:
            try:
                (versions / f"v{number}").mkdir()
                return f"v{number}"
            except FileExistsError:
                number += 1

    def register(self, candidate: ReleaseCandidate) -> Manifest:
        """Store a new version (bundle, manifest, then its history event) and return its manifest; never promotes."""
        data = pickle.dumps(candidate.bundle)
        with self._locked():
            version = self._new_version_folder()
            if self._run is not None:  # reserved for this run: deleted if it never publishes the registration
                self._run.own(self.version_folder(version))
            manifest = Manifest(**candidate.info.model_dump(), version=version, registered_at=_now(),
                                threshold=candidate.bundle.threshold, abstain_band=candidate.bundle.abstain_band,
                                feature_schema=candidate.bundle.recipe.schema, code_commit=git_commit(),
                                libraries=library_versions(), sha256=sha256_of(data))
            atomic_write(self.bundle_path(version), data)
            atomic_write(self.version_folder(version) / "manifest.json", manifest.model_dump_json(indent=2).encode())
            self._append(RegistryEvent(at=manifest.registered_at, event="registered", version=version, sha256=manifest.sha256,
                                       reason=f"{candidate.info.stage} {candidate.info.model}: {candidate.info.description}"))
        return manifest

    def record(self, version: str, event: EventKind, reason: str, verdict: GateVerdict | None = None,
               forced: bool = False, data_time: str | None = None) -> RegistryEvent:
        """Append a promotion, rollback, shadow, retirement or blocked release of a registered `version`; return the event."""
        with self._locked():
            snapshot = self.snapshot()
            if version not in snapshot.versions:
                raise KeyError(f"unknown model version {version!r}; known: {sorted(snapshot.versions, key=_version_number)}")
            return self._append(RegistryEvent(at=_now(), event=event, version=version, reason=reason, verdict=verdict,
                                              forced=forced, previous_champion=snapshot.champion, data_time=data_time))

    def rollback(self, version: str | None = None, reason: str = "rollback", data_time: str | None = None) -> str:
        """Make `version` (default: the champion before the current one) the champion again; return it."""
        if version is None:
            promotions = [e for e in self.history() if e.event in CHAMPION_EVENTS]
            if not promotions or promotions[-1].previous_champion is None:
                raise ValueError("no earlier champion to roll back to")
            version = promotions[-1].previous_champion
        self.load(version)  # refuse a version that cannot be served before it becomes champion
        self.record(version, "rolled back", reason, data_time=data_time)
        return version

    def load(self, version: str | None = None) -> LoadedBundle:
        """Return a verified version (the champion by default): its hash and libraries checked before unpickling."""
        snapshot = self.snapshot()
        version = version or snapshot.champion
        if version is None:
            blocked = [e.version for e in snapshot.history if e.event == "blocked"]
            why = (f"the release gate blocked {', '.join(blocked)} (the gate_verdict report and `kedro champion status` say "
                   "which rule); fix what it names and rerun, or `kedro champion promote VERSION --force --reason ...`"
                   if blocked else "run `kedro run` (a release the gate passes is promoted)")
            raise LookupError(f"{self.history_path}: no champion yet: {why}")
        registered = [e for e in snapshot.history if e.event == "registered" and e.version == version]
        if not registered:
            raise KeyError(f"unknown model version {version!r}; known: {sorted(snapshot.versions, key=_version_number)}")
        manifest, path = snapshot.versions[version], self.bundle_path(version)
        expected = registered[0].sha256
        if manifest.sha256 != expected:
            raise BundleError(f"{self.version_folder(version) / 'manifest.json'}: sha256 {manifest.sha256[:12]}... differs from "
                              f"the {expected[:12]}... recorded in {self.history_path.name} when {version} was registered")
        data = path.read_bytes()
        if sha256_of(data) != expected:
            raise BundleError(f"{path}: sha256 {sha256_of(data)[:12]}... differs from the {expected[:12]}... recorded when "
                              f"{version} was registered; the file was changed or replaced, so it is not unpickled")
        mismatches = library_mismatches(manifest.libraries)
        if mismatches:
            raise BundleError(f"{path}: pickled with other library versions than installed ({'; '.join(mismatches)}); "
                              "install the recorded versions or release a model trained with these")
        bundle = pickle.loads(data)  # noqa: S301 - the bytes match the hash recorded when this registry wrote them
        return LoadedBundle(version=version, bundle=bundle, manifest=manifest, promotion=snapshot.last_promotion(version))


def _version_number(version: str) -> int:
    return int(version[1:]) if version[1:].isdigit() else 0


class _RegistryView(AbstractDataset):
    """Shared plumbing of the registry's Kedro views."""

    def __init__(self, path: str, metadata: dict[str, Any] | None = None) -> None:
        self._registry = ModelRegistry(path)
        self.metadata = metadata

    def stage_for(self, run: PublishingRun) -> None:
        """Stage this run's registry events until it publishes (`PublishRunHook`), reading them back meanwhile."""
        self._registry = ModelRegistry(self._registry.folder, run)

    @property
    def registry(self) -> ModelRegistry:
        """The registry behind the view (the CLI and the service promote, roll back and load through it)."""
        return self._registry

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._registry.folder)}

    def _exists(self) -> bool:
        return self._registry.history_path.exists()

    def _save(self, data: Any) -> None:
        raise DatasetError(f"{self._registry.folder}: this view of the registry is read-only")


class ModelRegistryDataset(_RegistryView):
    """The registry as data: load returns a `RegistrySnapshot` (versions, champion, history)."""

    def _load(self) -> RegistrySnapshot:
        return self._registry.snapshot()


class ChampionBundleDataset(_RegistryView):
    """The champion's verified bundle: load returns a `LoadedBundle` (with `optional`, None while there is no champion)."""

    def __init__(self, path: str, optional: bool = False, metadata: dict[str, Any] | None = None) -> None:
        super().__init__(path, metadata)
        self._optional = optional

    def _exists(self) -> bool:
        return self._optional or self._registry.snapshot().champion is not None

    def _load(self) -> LoadedBundle | None:
        if self._optional and self._registry.snapshot().champion is None:
            return None
        return self._registry.load()


class ShadowBundleDataset(_RegistryView):
    """The shadow challenger's verified bundle: load returns a `LoadedBundle`, or None while no challenger is in shadow."""

    def _load(self) -> LoadedBundle | None:
        event = self._registry.snapshot().shadow()
        return None if event is None else self._registry.load(event.version)


class DecisionsDataset(_RegistryView):
    """Decisions a run takes on its own (a shadow challenger promoted or retired, an automatic rollback): save appends each
    to the history; load returns the events of the last save (none before one)."""

    def __init__(self, path: str, metadata: dict[str, Any] | None = None) -> None:
        super().__init__(path, metadata)
        self._events: list[RegistryEvent] = []

    def _save(self, decisions: list[PromotionDecision]) -> None:
        self._events = [PromotionDataset.apply(self._registry, decision) for decision in decisions]

    def _load(self) -> list[RegistryEvent]:
        return self._events


class RegistrationDataset(_RegistryView):
    """Save registers a `ReleaseCandidate` (never promotes); load returns the manifest of the version it registered.

    Loaded in a run that did not save it, it returns the newest registered version.
    """

    def __init__(self, path: str, metadata: dict[str, Any] | None = None) -> None:
        super().__init__(path, metadata)
        self._registered: Manifest | None = None

    def _exists(self) -> bool:
        return any(e.event == "registered" for e in self._registry.history())

    def _save(self, candidate: ReleaseCandidate) -> None:
        self._registered = self._registry.register(candidate)

    def _load(self) -> Manifest:
        if self._registered is not None:
            return self._registered
        versions = self._registry.snapshot().versions
        if not versions:
            raise DatasetError(f"{self._registry.folder}: nothing registered yet")
        return versions[max(versions, key=_version_number)]


class PromotionDecision(StrictModel):
    """A decision node's output: promote `version`, put it in shadow, retire it, roll back to it, or record that the gate
    blocked it."""

    version: str
    event: DecisionEvent
    reason: str
    verdict: GateVerdict | None = None
    forced: bool = False
    data_time: str | None = None


class PromotionDataset(_RegistryView):
    """Save appends the decision to the history (promoted or blocked); load returns the decision's event."""

    def __init__(self, path: str, metadata: dict[str, Any] | None = None) -> None:
        super().__init__(path, metadata)
        self._event: RegistryEvent | None = None

    def _exists(self) -> bool:
        return any(e.event in DECISIONS for e in self._registry.history())

    @staticmethod
    def apply(registry: ModelRegistry, decision: PromotionDecision) -> RegistryEvent:
        """Append the decision to the registry's history and return its event."""
        if decision.event == "rolled back":  # through rollback: it refuses a version that cannot be served
            registry.rollback(decision.version, decision.reason, decision.data_time)
            return registry.history()[-1]
        return registry.record(decision.version, decision.event, decision.reason, decision.verdict, decision.forced,
                               decision.data_time)

    def _save(self, decision: PromotionDecision) -> None:
        self._event = self.apply(self._registry, decision)

    def _load(self) -> RegistryEvent:
        if self._event is not None:
            return self._event
        decided = [e for e in self._registry.history() if e.event in DECISIONS]
        if not decided:
            raise DatasetError(f"{self._registry.folder}: no release decided yet")
        return decided[-1]

