"""Champion-challenger retraining on the service's labelled traffic: monitoring then retraining, the release gate decides
whether the challenger goes into shadow, an audit trail."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from ml_lifecycle.registry import RegistrySnapshot
from ml_lifecycle.rows import DataValidationError
from ml_lifecycle.spec import ProblemSpec
from tests.conftest import project_catalog, run_kedro

from .conftest import as_records, project_registry, registry_record


def send_labelled_requests(service: httpx.Client, batch: pd.DataFrame, labels: list[str], spec: ProblemSpec) -> None:
    """Score `batch` through the service in requests of 40 rows and send `labels` back as their feedback."""
    for start in range(0, len(batch), 40):
        answer = service.post("/predict", json=as_records(batch.iloc[start : start + 40], spec)).json()
        feedback = service.post("/feedback", json={"request_id": answer["request_id"], "labels": labels[start : start + 40]})
        assert feedback.status_code == 200


def retrain(project: Path, **retraining: Any) -> tuple[str, RegistrySnapshot, RegistrySnapshot, dict]:
    """Run monitoring (it joins the labels) and retraining; return the new version, the registry before and after, and the
    decision."""
    before = registry_record(project)
    run_kedro(project, ["monitoring", "retraining"], runtime_params={"retraining": {"min_improvement": 0.0, **retraining}})
    after = registry_record(project)
    (new_version,) = set(after.versions) - set(before.versions)
    return new_version, before, after, project_catalog(project).load("retraining_decision")


def restore(project: Path, before: RegistrySnapshot, after: RegistrySnapshot) -> None:
    """Leave the champion the other tests expect, and no challenger in shadow."""
    registry = project_registry(project)
    if after.champion != before.champion:
        registry.rollback(before.champion, "test: restore the champion")
    shadow = registry.snapshot().shadow()
    if shadow is not None:
        registry.record(shadow.version, "retired", "test: end the shadow")


def test_retraining_releases_a_challenger_through_the_gate_with_its_comparison_on_recent_rows(
        service: httpx.Client, deployed_project: Path, new_rows: pd.DataFrame, spec: ProblemSpec):
    batch = new_rows.iloc[:240]
    send_labelled_requests(service, batch, batch["income"].tolist(), spec)
    new_version, before, after, decision = retrain(deployed_project)
    labelled = decision["holdout_rows"] + decision["calibration_rows"] + decision["recent_training_rows"]
    assert labelled >= 240  # every labelled request in the log, earlier tests' included
    assert decision["label_provenance"]["request_log"] == {"feedback from 127.0.0.1": labelled}
    assert decision["holdout_rows"] == -(-labelled // 4)  # the latest quarter is held out (retraining.holdout_share)
    assert decision["champion_version"] == before.champion
    metric = decision["primary_metric"]
    gain = decision["champion_metrics"][metric] - decision["challenger_metrics"][metric]
    assert decision["gain"] == round(gain, 6) and decision["wins_on_recent_rows"] == (gain > 0)

    manifest = after.versions[new_version]
    assert manifest.stage == "retrained" and manifest.details["incumbent"] == before.champion
    assert manifest.metrics_source == f"the latest labelled production rows (held out) ({decision['holdout_rows']} rows)"
    events = [e for e in after.history if e.version == new_version]
    assert [e.event for e in events][0] == "registered" and events[-1].event in ("shadow", "blocked")
    verdict = project_catalog(deployed_project).load("challenger_gate_verdict")
    assert events[-1].verdict == verdict and verdict.incumbent == before.champion
    # A challenger the gate passes runs in shadow: new labelled rows decide, never retraining itself.
    assert after.champion == before.champion and (events[-1].event == "shadow") == verdict.passed
    restore(deployed_project, before, after)


def test_poisoned_feedback_from_one_sender_is_refused_and_never_promoted(
        service: httpx.Client, deployed_project: Path, new_rows: pd.DataFrame, spec: ProblemSpec):
    batch = new_rows.iloc[:400]
    send_labelled_requests(service, batch, [spec.target.negative_label] * len(batch), spec)  # every row labelled negative
    before = registry_record(deployed_project)
    with pytest.raises(DataValidationError, match="'feedback from 127.0.0.1' gave 100% of the .* labelled rows; "
                                        "retraining.max_source_share allows 50% from one source"):
        run_kedro(deployed_project, ["monitoring", "retraining"], runtime_params={"retraining": {"max_source_share": 0.5}})
    assert registry_record(deployed_project).history == before.history  # nothing registered
    # One sender allowed: the latest labelled rows, all poisoned, hold one class, so nothing can be calibrated or judged
    # on them (which part is found first depends on how many labelled rows earlier tests left).
    with pytest.raises(DataValidationError, match="(calibration|held-out) rows .* hold one class only"):
        run_kedro(deployed_project, ["monitoring", "retraining"])
    assert registry_record(deployed_project).history == before.history
    assert service.post("/admin/reload").json()["champion"] == before.champion  # the incumbent still answers
    answer = service.post("/predict", json=as_records(batch.iloc[:1], spec)[0]).json()
    assert answer["model_version"] == before.champion
