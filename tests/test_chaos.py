"""Chaos checks: runs killed (SIGKILL) or failing part-way leave every reader on the last complete run, and the
stores kept across runs (registry, experiment log) without any of their writes.

`kill_run_when` and `consistency_problems` are shared with `benchmarks/chaos.py`.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataSummaryPreset
from kedro.io import AbstractDataset, AbstractVersionedDataset, DataCatalog

from ml_lifecycle.publishing import (
    MANIFEST,
    RUNS,
    STAGING,
    Move,
    PublishingRun,
    RunPublisher,
    StagedDataset,
    read_manifest,
)
from ml_lifecycle.registry import ModelRegistry
from ml_lifecycle.rows import DataValidationError
from tests.conftest import add_env, project_catalog, run_kedro

# Early (the release steps), mid-run (a staged report folder written, pages not yet) and late (the
# gate's verdict saved, the registry written, the pages about to be): see the order in a run's log.
EVALUATION_KILL_POINTS = (
    "Saving data to threshold_choice",
    "Saving data to evidently_slice_classification_reports",
    "Saving data to gate_verdict",
)
# The release's promotion record is saved (the registry written) before this node starts, and the run is far from done.
AFTER_PROMOTION = "Running node: summarise_evaluation"
PAGES = ("08_reporting/index.html", "08_reporting/index_sections.json", "08_reporting/evaluation/evaluation_report.html",
         "08_reporting/evaluation/model_card.md", "08_reporting/evidently/evaluation_test_classification.html")


def kill_run_when(project: Path, pipelines: str, marker: str, env: str = "test", timeout: float = 600) -> str:
    """Start `kedro run --pipelines=<pipelines>` in `project`, SIGKILL it as soon as `marker` is logged; return the log."""
    log_path = project / f"killed_{pipelines.replace(',', '_')}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "kedro", "run", f"--pipelines={pipelines}", f"--env={env}"],
            cwd=project, stdout=log, stderr=subprocess.STDOUT,
            env=os.environ | {"KEDRO_DISABLE_TELEMETRY": "true", "COLUMNS": "200"},
        )
        deadline = time.monotonic() + timeout
        while marker not in log_path.read_text() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait()
    return log_path.read_text()


def data_root(project: Path, env: str = "test") -> Path:
    """Return the data root of environment `env` in a project copy (the test environments use data/<env>)."""
    return project / "data" / env


def reader_versions(project: Path, env: str = "test") -> dict[str, str]:
    """Return the version a reader's catalog (as kedro-viz builds it) loads for each published dataset, or why it cannot."""
    catalog = project_catalog(project, env)
    versions = {}
    for name in read_manifest(data_root(project, env)).datasets:
        dataset = catalog.get(name)
        assert isinstance(dataset, AbstractVersionedDataset), name
        versions[name] = dataset.resolve_load_version() if dataset.exists() else "missing"
    return versions


def consistency_problems(project: Path, env: str = "test") -> list[str]:
    """Return what breaks "every reader sees only complete runs, every store is intact" (empty when all holds)."""
    root = data_root(project, env)
    manifest = read_manifest(root)
    problems = [f"{name}: a reader loads {version}, the published version is {manifest.datasets[name]}"
                for name, version in reader_versions(project, env).items() if version != manifest.datasets[name]]
    problems += [f"{move.target}: staged output not moved into place" for move in manifest.moves if Path(move.source).exists()]
    for database in (root / "experiment_log.sqlite", root / "serving/requests.sqlite"):
        if database.exists():
            with sqlite3.connect(database) as connection:
                verdict = connection.execute("PRAGMA integrity_check").fetchone()[0]
            if verdict != "ok":
                problems.append(f"{database.name}: PRAGMA integrity_check says {verdict}")
    registry = ModelRegistry(root / "06_models/model_registry")
    try:
        for version in registry.snapshot().versions:
            registry.load(version)
    except Exception as error:  # noqa: BLE001 - any failure to read the registry is the finding
        problems.append(f"model registry: {error}")
    return problems


def store_view(project: Path, env: str = "test") -> tuple[str | None, int, bytes, int]:
    """Return what readers of the stores kept across runs see: the registry's champion, its number of events and its
    history's bytes, and the experiment log's number of runs."""
    root = data_root(project, env)
    registry = ModelRegistry(root / "06_models/model_registry")
    with sqlite3.connect(root / "experiment_log.sqlite") as connection:
        runs = connection.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    return registry.snapshot().champion, len(registry.history()), registry.history_path.read_bytes(), runs


def registry_folders(project: Path, env: str = "test") -> list[str]:
    """Return the registry's version folders (registered or reserved by a run)."""
    return sorted(path.name for path in (data_root(project, env) / "06_models/model_registry/versions").iterdir())


def page_bytes(project: Path, env: str = "test") -> dict[str, bytes]:
    """Return the bytes of the report pages people open at fixed paths."""
    return {page: (data_root(project, env) / page).read_bytes() for page in PAGES}


def leftovers(project: Path, versions: list[str], env: str = "test") -> list[Path]:
    """Return what runs that never published left on disk: their version folders, staging folders and lock files."""
    root = data_root(project, env)
    return sorted([path for version in versions for path in root.rglob(version)] + list(root.rglob(STAGING))
                  + [path for path in (root / RUNS).glob("*.lock") if path.name != "publish.lock"])


def test_an_evaluation_run_killed_at_any_point_leaves_every_reader_on_the_last_complete_run(test_project: Path):
    run_kedro(test_project, ["evaluation"])
    manifest, versions, pages = read_manifest(data_root(test_project)), reader_versions(test_project), page_bytes(test_project)
    last_complete = manifest.last_run.version
    assert {versions[name] for name in manifest.last_run.datasets} == {last_complete}
    assert {"released_model", "threshold_choice", "test_predictions", "threshold_curve"} <= set(manifest.last_run.datasets)

    killed = []
    for marker in EVALUATION_KILL_POINTS:
        log = kill_run_when(test_project, "evaluation", marker)
        assert marker in log and "Published run" not in log, log[-3000:]
        (dead,) = [path.stem for path in (data_root(test_project) / RUNS).glob("2*.lock")]  # the next run sweeps it
        assert any(data_root(test_project).rglob(dead)), marker  # the killed run did write versions
        killed.append(dead)
        assert read_manifest(data_root(test_project)) == manifest, marker
        assert reader_versions(test_project) == versions, marker
        assert page_bytes(test_project) == pages, marker
        assert consistency_problems(test_project) == [], marker

    RunPublisher(data_root(test_project)).recover()  # what the next run does first
    assert leftovers(test_project, killed) == []
    assert read_manifest(data_root(test_project)) == manifest
    assert consistency_problems(test_project) == []


def test_a_failing_ingestion_run_changes_no_output_and_leaves_nothing_behind(project_copy: Path):
    run_kedro(project_copy, ["data_processing"])
    root = data_root(project_copy)
    before = {path: path.read_bytes() for path in root.rglob("*") if path.is_file() and RUNS not in path.parts}
    raw = project_copy / "data/01_raw/adult/adult.data"
    lines = raw.read_text().splitlines()[:100]
    lines[10] = lines[10].replace(lines[10].split(",")[0], "thirty", 1)
    raw.write_text("\n".join(lines) + "\n")

    with pytest.raises(DataValidationError):
        run_kedro(project_copy, ["data_processing"])

    after = {path: path.read_bytes() for path in root.rglob("*") if path.is_file() and RUNS not in path.parts}
    assert after == before  # 02_intermediate included: a failing run's rows never replace good ones
    assert list((root / RUNS).iterdir()) == [root / RUNS / "publish.lock"]


def test_a_publish_interrupted_after_its_commit_is_finished_by_the_next_run(tmp_path: Path):
    target, folder = tmp_path / "08_reporting/page.html", tmp_path / "08_reporting/slices"
    target.parent.mkdir(parents=True)
    target.write_text("old page")
    (folder / "a").mkdir(parents=True)
    (folder / "a/old.html").write_text("old slice")
    staging = tmp_path / "08_reporting" / STAGING / "2026-01-01T00.00.00.000Z"
    (staging / "slices/b").mkdir(parents=True)
    (staging / "page.html").write_text("new page")
    (staging / "slices/b/new.html").write_text("new slice")
    # The manifest is the commit: it names the moves, as a process killed right after writing it leaves them.
    moves = [Move(source=str(staging / "page.html"), target=str(target)), Move(source=str(staging / "slices"), target=str(folder))]
    (tmp_path / MANIFEST).write_text(read_manifest(tmp_path).model_copy(update={"moves": moves}).model_dump_json())

    RunPublisher(tmp_path).recover()

    assert target.read_text() == "new page"
    assert [p.relative_to(folder).as_posix() for p in folder.rglob("*.html")] == ["b/new.html"]
    assert not (tmp_path / "08_reporting" / STAGING).exists()


def test_a_release_killed_or_failing_after_its_promotion_leaves_the_registry_and_the_experiment_log_unchanged(project_copy: Path):
    # Modeling registers a candidate and logs a run; nothing is promoted yet, so the release below would promote.
    run_kedro(project_copy, ["data_processing", "modeling"])
    champion, events, _, runs = before = store_view(project_copy)
    assert (champion, events, runs, registry_folders(project_copy)) == (None, 1, 1, ["v1"])

    log = kill_run_when(project_copy, "modeling,evaluation", AFTER_PROMOTION)
    assert AFTER_PROMOTION in log and "Published run" not in log, log[-3000:]
    assert "Saving data to release_promotion" in log and "Saving data to experiment_log" in log, log[-3000:]
    assert store_view(project_copy) == before
    assert registry_folders(project_copy) == ["v1", "v2", "v3"]  # the killed run did register its candidate and release
    assert consistency_problems(project_copy) == []  # integrity_check ok; every registered version loads
    RunPublisher(data_root(project_copy)).recover()  # what the next run does first
    assert store_view(project_copy) == before and registry_folders(project_copy) == ["v1"]

    # A real failure after the promotion: evaluation_summary cannot be saved (its folder is a file).
    broken = add_env(project_copy, "broken_summary", {
        "globals.yml": "data_root: data/test\n",
        "catalog.yml": {"evaluation_summary": {"type": "json.JSONDataset", "filepath": "data/test/published.json/summary.json"}}})
    with pytest.raises(Exception, match="published.json"):
        run_kedro(project_copy, ["evaluation"], env=broken)
    assert store_view(project_copy) == before and registry_folders(project_copy) == ["v1"]
    assert consistency_problems(project_copy) == []


def test_evidently_workspace_snapshots_of_a_run_show_only_once_it_publishes(tmp_path: Path):
    rows = pd.DataFrame({"age": [30.0, 41.0, 52.0], "sex": ["Male", "Female", "Male"]})
    snapshot = Report([DataSummaryPreset()]).run(
        Dataset.from_pandas(rows, data_definition=DataDefinition(numerical_columns=["age"], categorical_columns=["sex"])))
    config = {"type": "ml_lifecycle.evidently_glue.EvidentlyWorkspaceDataset", "path": str(tmp_path / "09_monitoring_workspace"),
              "project": "monitoring"}
    reader = AbstractDataset.from_config("reader", config)
    AbstractDataset.from_config("workspace", config).save([{"name": "batch 1", "snapshot": snapshot}])
    publisher = RunPublisher(tmp_path)

    def run_adding(version: str, name: str) -> tuple[PublishingRun, StagedDataset]:
        run, workspace = publisher.start(version), StagedDataset(config, copy_existing=True)
        workspace.stage_for(run)
        workspace.save([{"name": name, "snapshot": snapshot}])
        assert workspace.load() == sorted(["batch 1", name])  # the run sees its snapshot
        assert reader.load() == ["batch 1"]  # nobody else does
        return run, workspace

    failed, _ = run_adding("2026-01-01T00.00.00.000Z", "batch 2")
    failed.discard()
    assert reader.load() == ["batch 1"] and list(tmp_path.rglob(STAGING)) == []
    published, _ = run_adding("2026-01-02T00.00.00.000Z", "batch 3")
    published.publish(DataCatalog(), ["monitoring"])
    assert reader.load() == ["batch 1", "batch 3"] and list(tmp_path.rglob(STAGING)) == []
