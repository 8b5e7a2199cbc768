"""The closed loop end to end in the test environment (`make demo-loop`'s story): drift -> alert -> retrain -> shadow ->
promote -> an injected faulty champion -> automatic rollback, every step a real Kedro run on a private project copy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from ml_lifecycle.loop_demo import demo
from ml_lifecycle.registry import ModelRegistry, RegistryEvent
from tests.conftest import inside_project, project_catalog

# The test sample's weeks hold 300 rows: the loop's row counts scaled to them, the calibration rule's tolerance
# widened for a challenger calibrated on one such week and judged on the next, and the comparison made on the Brier
# score: on 300 rows a few confident errors make log loss's paired interval wider than the challenger's gain.
SMALL = {"monitoring": {"loop": {"shadow_labelled_rows": 200}},
         "retraining": {"min_labelled_rows": 200, "min_holdout_rows": 100},
         "release": {"gate": {"calibration_error": {"tolerance": 0.05}, "beats_incumbent": {"metric": "brier"}}}}


@pytest.fixture(scope="module")
def loop(test_project: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo run once on a private copy of the test project (the demo runs the lifecycle first when it has no champion)."""
    project = tmp_path_factory.mktemp("loop") / "project"
    shutil.copytree(test_project, project)
    told: list[str] = []
    with inside_project(project):
        events = demo(project, "test", SMALL, told.append)
    registry = ModelRegistry(project / "data/test/06_models/model_registry")
    return {"project": project, "events": events, "told": told, "registry": registry}


def kinds(events: list[RegistryEvent]) -> list[str]:
    return [e.event for e in events]


def test_the_loop_runs_drift_retrain_shadow_promote_fault_rollback_in_order(loop):
    assert kinds(loop["events"]) == ["registered", "shadow", "promoted", "registered", "promoted", "rolled back"], loop["told"]


def test_the_challenger_is_promoted_by_the_shadow_review_on_rows_it_never_saw(loop):
    shadow, promoted = (e for e in loop["events"] if e.event in ("shadow", "promoted") and not e.forced)
    assert shadow.version == promoted.version and promoted.previous_champion != promoted.version
    assert promoted.reason.startswith("shadow review of the batches after") and promoted.data_time > shadow.data_time
    (rule,) = promoted.verdict.rules
    assert rule.rule == "beats the champion in shadow" and rule.passed


def test_the_faulty_champion_is_rolled_back_automatically_with_the_reason(loop):
    faulty, rollback = loop["events"][-2:]
    assert faulty.forced and rollback.previous_champion == faulty.version
    assert rollback.version == faulty.previous_champion  # the retrained champion serves again
    assert rollback.reason.startswith(f"automatic rollback: {faulty.version} alerted on performance within its")
    assert loop["registry"].snapshot().champion == rollback.version


def test_the_watch_and_the_index_page_tell_the_story(loop):
    catalog = project_catalog(loop["project"])
    watch = catalog.load("champion_watch")
    assert watch["status"].startswith("rolled back to") and watch["failing_batches"]
    index = (loop["project"] / "data/test/08_reporting/index.html").read_text()
    assert "Closed loop" in index and "automatic rollback" in index and "shadow review of the batches" in index


def test_every_step_is_told(loop):
    told = "\n".join(loop["told"])
    for step in ("== 1.", "== 2.", "== 3.", "== 4.", "== 5.", "== 6.", "rolled back"):
        assert step in told
    assert json.dumps(loop["events"][0].model_dump())  # events are plain data, fit for the history file
