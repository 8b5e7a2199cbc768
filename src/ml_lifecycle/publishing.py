"""Runs publish whole: a run's outputs become the latest together when it succeeds, or not at all.

A run (one `KedroSession.run`; its version V is the session id, Kedro's save version) writes

    <filepath>/<V>/<name>                     each versioned dataset, as Kedro always does
    <target folder>/.staging/<V>/<name>       each `StagedDataset` (pages at fixed paths, report
                                              folders, the report index), moved into place on publish
    <data_root>/.runs/<V>.lock                held (flock) while the run lives; lists its staging folders and
                                              the folders it owns (a registry version it reserved)

and, once every node has run, publishes by replacing the run manifest in one atomic rename:

    <data_root>/published.json                each versioned dataset's published version, the last
                                              publishing run, and its staged moves, appends and merges

Stores that keep history across runs publish the same way: a run's registry events are lines to
append to the registry's history (`Append`), its experiment-log rows a staged SQLite database to
merge into the log (`Merge`); within the run, readers of those stores see them staged.

The rename is the commit. The staged moves, appends and merges are done right after it, each
idempotent; if the process dies between the two, the next run (or the next commit) redoes them.
Readers outside a run (kedro-viz, notebooks, `context.catalog`) load the manifest's versions
(`PublishedContext`), so they never see an unpublished one. A run that fails deletes its versions,
staging and owned folders; one that was killed leaves a lock file no process holds, and the next
run deletes what it wrote. So a run reads the published versions of
its inputs (one still being written by a concurrent run is pinned back to the published one).
"""

from __future__ import annotations

import fcntl
import inspect
import logging
import os
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from kedro.framework.context import KedroContext
from kedro.io import AbstractDataset, AbstractVersionedDataset, DataCatalog, Version
from kedro.io.catalog_config_resolver import CatalogConfigResolver
from kedro.io.core import parse_dataset_definition
from pydantic import Field

from ml_lifecycle.files import atomic_write, transaction
from ml_lifecycle.spec import StrictModel

logger = logging.getLogger(__name__)
MANIFEST = "published.json"
RUNS = ".runs"
STAGING = ".staging"


class Move(StrictModel):
    """A staged output and the path it replaces when its run publishes."""

    source: str
    target: str


class Append(StrictModel):
    """Lines a run appends to a file (the registry's history) when it publishes, under the file's writers' lock."""

    target: str
    lock: str
    lines: list[str]


class Merge(StrictModel):
    """A staged SQLite database of one run's rows, merged into `target` when the run publishes.

    `key_table.key_column` identifies the run's rows: a merge whose keys are already in `target` was done.
    """

    source: str
    target: str
    key_table: str
    key_column: str


class PublishedRun(StrictModel):
    """The run that published last: its version, pipelines and what it published."""

    version: str
    pipelines: list[str]
    published_at: str
    datasets: list[str]


class RunManifest(StrictModel):
    """`<data_root>/published.json`: what every reader takes as the latest."""

    datasets: dict[str, str] = Field(default_factory=dict, description="Versioned dataset -> its published version.")
    last_run: PublishedRun | None = None
    moves: list[Move] = Field(default_factory=list, description="The last run's staged outputs, moved in after the commit.")
    appends: list[Append] = Field(default_factory=list, description="The last run's lines for append-only files.")
    merges: list[Merge] = Field(default_factory=list, description="The last run's staged rows for SQLite stores.")

    def published(self, version: str) -> bool:
        """Return whether run `version` published (it is the last run, or the published version of some dataset)."""
        return (self.last_run is not None and self.last_run.version == version) or version in self.datasets.values()


def read_manifest(data_root: Path) -> RunManifest:
    """Return the data root's run manifest (empty before the first published run)."""
    path = data_root / MANIFEST
    if not path.exists():
        return RunManifest()
    try:
        return RunManifest.model_validate_json(path.read_bytes())
    except ValueError as error:
        raise ValueError(f"{path}: not a run manifest: {error}") from None


def move_into_place(move: Move) -> None:
    """Replace `move.target` by the staged `move.source` (a file or a folder); nothing when the source is gone (done)."""
    source, target = Path(move.source), Path(move.target)
    if not source.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir() and target.exists():
        # A folder cannot replace a folder in one rename: set the old one aside inside the staging folder first.
        target.rename(source.parent / f"{source.name}.replaced")
    os.replace(source, target)


def append_missing(append: Append) -> None:
    """Append, in one write, the lines of `append` that its target does not hold yet (none when it was done)."""
    target = Path(append.target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(append.lock, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            present = set(target.read_text().splitlines()) if target.exists() else set()
            missing = [line for line in append.lines if line not in present]
            if not missing:
                return
            handle = os.open(target, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                _cut_torn_line(handle)
                os.write(handle, "".join(f"{line}\n" for line in missing).encode())
                os.fsync(handle)
            finally:
                os.close(handle)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _cut_torn_line(handle: int) -> None:
    """Cut a last line without its newline (a writer killed mid-append; writers hold the lock), so ours start a line."""
    size = os.fstat(handle).st_size
    if size == 0 or os.pread(handle, 1, size - 1) == b"\n":
        return
    tail = b""
    while size > 0 and b"\n" not in tail:
        start = max(0, size - 4096)
        tail = os.pread(handle, size - start, start) + tail
        size = start
    os.ftruncate(handle, size + tail.rfind(b"\n") + 1)


def merge_database(merge: Merge) -> None:
    """Copy every table's rows of the staged database into the target in one transaction (nothing when it was done)."""
    if not Path(merge.source).exists():
        return
    Path(merge.target).parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(merge.target, isolation_level=None, timeout=60)  # a concurrent run may be merging
    try:
        connection.execute("ATTACH DATABASE ? AS staged", (merge.source,))
        with transaction(connection):
            tables = connection.execute("SELECT name, sql FROM staged.sqlite_master WHERE type = 'table'").fetchall()
            present = {name for (name,) in connection.execute("SELECT name FROM main.sqlite_master WHERE type = 'table'")}
            for name, sql in tables:
                if name not in present:
                    connection.execute(sql)  # unqualified: creates the table in main
            done = merge.key_table in present and connection.execute(
                f"SELECT EXISTS (SELECT 1 FROM main.{merge.key_table} WHERE {merge.key_column} IN "
                f"(SELECT {merge.key_column} FROM staged.{merge.key_table}))").fetchone()[0]
            if not done:
                for name, _ in tables:
                    connection.execute(f"INSERT INTO main.{name} SELECT * FROM staged.{name}")
    finally:
        connection.close()


def remove_staging(folder: Path) -> None:
    """Delete a run's staging folder, and its `.staging` parent once empty."""
    shutil.rmtree(folder, ignore_errors=True)
    if folder.parent.name == STAGING and folder.parent.exists() and not any(folder.parent.iterdir()):
        folder.parent.rmdir()


class RunPublisher:
    """Starts, publishes and cleans up the runs of one data root; see the module docstring for the layout."""

    def __init__(self, data_root: Path) -> None:
        self.data_root = data_root
        self.runs = data_root / RUNS

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the data root's publishing lock: starts, commits and clean-ups of concurrent runs queue."""
        self.runs.mkdir(parents=True, exist_ok=True)
        with open(self.runs / "publish.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def recover(self) -> None:
        """Finish the last publish if it was interrupted, and delete what killed runs wrote."""
        with self._locked():
            manifest = read_manifest(self.data_root)
            finish(manifest)
            for lock_path in sorted(self.runs.glob("*.lock")):
                if lock_path.name != "publish.lock":
                    self._clean_up_if_dead(lock_path, manifest)

    def _clean_up_if_dead(self, lock_path: Path, manifest: RunManifest) -> None:
        """Delete the outputs of the run holding nothing on `lock_path` (it died) unless it published."""
        with open(lock_path, "r+") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return  # the run is alive
            version = lock_path.stem
            staging = [Path(line) for line in lock.read().splitlines() if line]
        if not manifest.published(version):
            removed = self.discard(version, staging)
            logger.warning("Run %s stopped before publishing; deleted its %d unpublished output(s): earlier runs' "
                           "outputs stay the latest.", version, removed)
        for folder in staging:
            if folder.parent.name == STAGING:  # the folders it owns (registry versions) are published now: they stay
                remove_staging(folder)
        lock_path.unlink()

    def discard(self, version: str, staging: list[Path]) -> int:
        """Delete run `version`'s versioned outputs, staging and owned folders; return how many were deleted."""
        versions = [path for path in self.data_root.rglob(version) if path.is_dir() and path.parent.name != STAGING]
        for path in versions:
            shutil.rmtree(path)
        for folder in staging:
            remove_staging(folder)
        return len(versions) + len(staging)

    def start(self, version: str) -> PublishingRun:
        """Register run `version` as live (its lock is taken while no clean-up can look at it)."""
        with self._locked():
            lock = open(self.runs / f"{version}.lock", "a+")  # noqa: SIM115 - held until the run publishes or fails
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return PublishingRun(self, version, lock)

    def commit(self, run: PublishedRun, moves: list[Move], appends: list[Append], merges: list[Merge]) -> None:
        """Publish `run` in one atomic manifest rename, then move, append and merge what it staged."""
        with self._locked():
            manifest = read_manifest(self.data_root)
            finish(manifest)  # the previous run's, if its process died half-way: the new manifest forgets them
            datasets = manifest.datasets | dict.fromkeys(run.datasets, run.version)
            published = RunManifest(datasets=dict(sorted(datasets.items())), last_run=run, moves=moves, appends=appends,
                                    merges=merges)
            atomic_write(self.data_root / MANIFEST, published.model_dump_json(indent=2).encode())
            finish(published)


def finish(manifest: RunManifest) -> None:
    """Do the last run's staged moves, appends and merges (again, after an interruption), then delete its staging folders."""
    for move in manifest.moves:
        move_into_place(move)
    for append in manifest.appends:
        append_missing(append)
    for merge in manifest.merges:
        merge_database(merge)
    for folder in {staging_folder_of(Path(path)) for path in [m.source for m in manifest.moves + manifest.merges]}:
        remove_staging(folder)


def staging_folder_of(path: Path) -> Path:
    """Return the run's staging folder (`.staging/<version>`) that holds staged `path`."""
    return next(folder for folder in path.parents if folder.parent.name == STAGING)


class PublishingRun:
    """A live run: records its staging folders and staged outputs, then publishes or discards them."""

    def __init__(self, publisher: RunPublisher, version: str, lock: IO[str]) -> None:
        self.publisher = publisher
        self.version = version
        self._lock = lock
        self._staging: list[Path] = []
        self._moves: dict[str, Move] = {}
        self._appends: dict[str, Append] = {}
        self._merges: dict[str, Merge] = {}

    def staging_folder(self, target: Path) -> Path:
        """Return this run's staging folder beside `target`, recorded in the lock file before it is created."""
        folder = target.parent / STAGING / self.version
        self.own(folder)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def own(self, folder: Path) -> None:
        """Record in the lock file a folder this run writes, deleted unless the run publishes (a staging folder, a registry
        version it reserved)."""
        if folder not in self._staging:
            self._lock.write(f"{folder}\n")
            self._lock.flush()
            os.fsync(self._lock.fileno())
            self._staging.append(folder)

    def stage(self, move: Move) -> None:
        """Record a staged output to move into place on publish."""
        self._moves[move.target] = move

    def append(self, target: Path, lock: Path, line: str) -> None:
        """Stage a line to append to `target` (under the writers' `lock`) on publish."""
        staged = self._appends.setdefault(str(target), Append(target=str(target), lock=str(lock), lines=[]))
        staged.lines.append(line)

    def staged_lines(self, target: Path) -> list[str]:
        """Return the lines staged for `target` that are not appended yet (none once the run published or failed)."""
        staged = self._appends.get(str(target))
        return list(staged.lines) if staged else []

    def merge(self, merge: Merge) -> None:
        """Stage a database of this run's rows to merge into `merge.target` on publish."""
        self._merges[merge.source] = merge

    def publish(self, catalog: DataCatalog, pipelines: list[str]) -> PublishedRun:
        """Publish every versioned dataset this run saved and every staged output, together; return the record."""
        datasets = saved_versioned_datasets(catalog, self.version)
        run = PublishedRun(version=self.version, pipelines=pipelines, published_at=datetime.now(UTC).isoformat(),
                           datasets=datasets)
        self.publisher.commit(run, list(self._moves.values()), list(self._appends.values()), list(self._merges.values()))
        self._close()
        logger.info("Published run %s: %d versioned dataset(s), %d staged output(s), %d appended line(s), %d merged "
                    "database(s).", self.version, len(datasets), len(self._moves),
                    sum(len(a.lines) for a in self._appends.values()), len(self._merges))
        self._appends, self._merges = {}, {}
        return run

    def discard(self) -> None:
        """Delete everything this failed run wrote, so the published outputs stay the latest."""
        removed = self.publisher.discard(self.version, self._staging)
        self._close()
        self._appends, self._merges = {}, {}
        logger.warning("Run %s failed: deleted its %d unpublished output(s); earlier runs' outputs stay the latest.",
                       self.version, removed)

    def _close(self) -> None:
        (self.publisher.runs / f"{self.version}.lock").unlink(missing_ok=True)
        self._lock.close()


def is_versioned(catalog: DataCatalog, name: str) -> bool:
    """Return whether catalog entry `name` is declared versioned (read from its config: nothing is instantiated)."""
    return bool(catalog.config_resolver.resolve_pattern(name).get("versioned"))


def saved_versioned_datasets(catalog: DataCatalog, version: str) -> list[str]:
    """Return the versioned datasets of `catalog` that have a saved `version`."""
    return sorted(name for name in catalog.keys() if is_versioned(catalog, name) and _has_version_folder(catalog, name, version)
                  and catalog.get(name, version=Version(version, version)).exists())


def _has_version_folder(catalog: DataCatalog, name: str, version: str) -> bool:
    """Return whether the dataset's `<filepath>/<version>` folder exists: a cheap test before instantiating it."""
    return (Path(catalog.config_resolver.resolve_pattern(name)["filepath"]) / version).is_dir()


def data_root_of(context: KedroContext) -> Path:
    """Return the problem's data root (`globals.data_root`), absolute."""
    return context.project_path / context.config_loader["globals"]["data_root"]


def pin_inputs_to_published(catalog: DataCatalog, inputs: set[str], manifest: RunManifest, pinned: dict[str, str]) -> None:
    """Make each versioned input whose latest on disk is not its published version (a concurrent run's) load the published one."""
    for name in sorted(inputs):
        published = manifest.datasets.get(name)
        if published is None or name in pinned or not is_versioned(catalog, name):
            continue
        dataset = catalog.get(name)
        if isinstance(dataset, AbstractVersionedDataset) and dataset.resolve_load_version() != published:
            logger.info("%s: loading published version %s, not a newer one a live run has not published yet.", name, published)
            catalog[name] = catalog.get(name, version=Version(published, dataset.resolve_save_version()))


class StagedDataset(AbstractDataset):
    """A non-versioned output (a file or folder at a fixed path) that a run writes to its staging folder and
    publishing moves into place, so readers see it change only with the rest of the run.

    `dataset` is the wrapped dataset's config; its `filepath` (or `path`) is the target. `files`, for a
    dataset that updates some files of a folder rather than replacing it (the report index), names those
    files: they are copied into the staging folder first and moved one by one. `copy_existing`, for a
    dataset that adds to a folder holding history (the Evidently workspace), copies the whole folder into
    the staging folder first; the updated copy replaces it on publish. A wrapped dataset that names its
    own location in what it writes takes a `published_path` argument, given the target.
    """

    def __init__(self, dataset: dict[str, Any], files: list[str] | None = None, copy_existing: bool = False,
                 metadata: dict[str, Any] | None = None) -> None:
        self._config = dict(dataset)
        self._path_key = "filepath" if "filepath" in dataset else "path"
        self._target = Path(dataset[self._path_key])
        self._files = files
        self._copy_existing = copy_existing
        self._published = AbstractDataset.from_config("published", self._config)
        self._run: PublishingRun | None = None
        self._staged: AbstractDataset | None = None
        self.metadata = metadata

    def stage_for(self, run: PublishingRun) -> None:
        """Write to `run`'s staging folder from now on (until the run publishes)."""
        self._run, self._staged = run, None

    def _describe(self) -> dict[str, Any]:
        return {"target": str(self._target), "files": self._files, "staged_for": self._run and self._run.version}

    def _exists(self) -> bool:
        return (self._staged or self._published).exists()

    def _load(self) -> Any:
        return (self._staged or self._published).load()

    def _save(self, data: Any) -> None:
        if self._run is None:  # outside a session run (a test saving through a bare catalog): write in place
            self._published.save(data)
            return
        if self._staged is None:
            self._staged = self._stage()
        self._staged.save(data)

    def _stage(self) -> AbstractDataset:
        """Return the wrapped dataset writing to the run's staging folder, recording the moves it will need."""
        staged = self._run.staging_folder(self._target) / self._target.name
        if self._files is None:
            if self._copy_existing and self._target.exists():
                shutil.copytree(self._target, staged)
            self._run.stage(Move(source=str(staged), target=str(self._target)))
        else:
            staged.mkdir(exist_ok=True)
            for name in self._files:
                source, target = staged / name, self._target / name
                if target.exists() and not source.exists():  # another section of the same folder may have staged it
                    shutil.copyfile(target, source)
                self._run.stage(Move(source=str(source), target=str(target)))
        staged_config = self._config | {self._path_key: str(staged)}
        if "published_path" in inspect.signature(parse_dataset_definition(self._config)[0]).parameters:
            staged_config["published_path"] = str(self._target)
        return AbstractDataset.from_config("staged", staged_config)


class PublishedContext(KedroContext):
    """A project context whose catalogs outside a run load every versioned dataset's published version."""

    def _get_catalog(self, catalog_class: type = DataCatalog, save_version: str | None = None,
                     load_versions: dict[str, str] | None = None) -> DataCatalog:
        """Build the catalog; a reader's (no save version: kedro-viz, notebooks) is pinned to the run manifest."""
        if save_version is None:
            load_versions = self.published_versions() | (load_versions or {})
        return super()._get_catalog(catalog_class, save_version, load_versions)

    def published_versions(self) -> dict[str, str]:
        """Return the manifest's version of each versioned dataset the catalog still declares."""
        resolver = CatalogConfigResolver(self.config_loader["catalog"])
        return {name: version for name, version in read_manifest(data_root_of(self)).datasets.items()
                if name in resolver.config or resolver.match_dataset_pattern(name)}
