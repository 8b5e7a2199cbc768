"""Champion-challenger retraining on the service's labelled traffic: one command, the release gate decides, an audit trail."""

from __future__ import annotations

from pathlib import Path

import httpx
import pandas as pd

from ml_lifecycle.registry import RegistrySnapshot
from ml_lifecycle.spec import ProblemSpec
from tests.conftest import project_catalog, run_kedro

from .conftest import as_records, project_registry, registry_record


def send_labelled_requests(service: httpx.Client, batch: pd.DataFrame, labels: list[str], spec: ProblemSpec) -> None:
    """Score `batch` through the service in requests of 40 rows and send `labels` back as their feedback."""
    for start in range(0, len(batch), 40):
        answer = service.post("/predict", json=as_records(batch.iloc[start : start + 40], spec)).json()
        feedback = service.post("/feedback", json={"request_id": answer["request_id"], "labels": labels[start : start + 40]})
        assert feedback.status_code == 200


def retrain(project: Path) -> tuple[str, RegistrySnapshot, RegistrySnapshot, dict]:
    """Run the retraining pipeline; return the new version, the registry before and after, and the decision."""
    before = registry_record(project)
    run_kedro(project, ["retraining"], runtime_params={"retraining": {"min_improvement": 0.0}})
    after = registry_record(project)
    (new_version,) = set(after.versions) - set(before.versions)
    return new_version, before, after, project_catalog(project).load("retraining_decision")


def restore(project: Path, before: RegistrySnapshot, after: RegistrySnapshot) -> None:
    """Leave the champion the other tests expect."""
    if after.champion != before.champion:
        project_registry(project).rollback(before.champion, "test: restore the champion")


def test_retraining_releases_a_challenger_through_the_gate_with_its_comparison_on_recent_rows(
        service: httpx.Client, deployed_project: Path, new_rows: pd.DataFrame, spec: ProblemSpec):
    batch = new_rows.iloc[:240]
    send_labelled_requests(service, batch, batch["income"].tolist(), spec)
    new_version, before, after, decision = retrain(deployed_project)
    labelled = decision["holdout_rows"] + decision["recent_training_rows"]
    assert labelled >= 240  # every labelled request in the log, earlier tests' included
    assert decision["holdout_rows"] == -(-labelled // 2)  # the latest half is held out
    assert decision["champion_version"] == before.champion
    metric = decision["primary_metric"]
    gain = decision["champion_metrics"][metric] - decision["challenger_metrics"][metric]
    assert decision["gain"] == round(gain, 6) and decision["wins_on_recent_rows"] == (gain > 0)

    manifest = after.versions[new_version]
    assert manifest.stage == "retrained" and manifest.details["incumbent"] == before.champion
    events = [e for e in after.history if e.version == new_version]
    assert [e.event for e in events][0] == "registered" and events[-1].event in ("promoted", "blocked")
    verdict = project_catalog(deployed_project).load("challenger_gate_verdict")
    assert events[-1].verdict == verdict and verdict.incumbent == before.champion
    assert (after.champion == new_version) == verdict.passed
    restore(deployed_project, before, after)


def test_poisoned_feedback_cannot_get_a_retrained_model_promoted(
        service: httpx.Client, deployed_project: Path, new_rows: pd.DataFrame, spec: ProblemSpec):
    batch = new_rows.iloc[:400]
    send_labelled_requests(service, batch, [spec.target.negative_label] * len(batch), spec)  # every row labelled negative
    new_version, before, after, decision = retrain(deployed_project)
    verdict = project_catalog(deployed_project).load("challenger_gate_verdict")
    beats = next(r for r in verdict.rules if r.rule == "beats the incumbent")
    assert not beats.passed and "frozen holdout" in beats.detail
    assert after.champion == before.champion and after.history[-1].event == "blocked"
    assert service.post("/admin/reload").json()["champion"] == before.champion  # the incumbent still answers
    answer = service.post("/predict", json=as_records(batch.iloc[:1], spec)[0]).json()
    assert answer["model_version"] == before.champion
    restore(deployed_project, before, after)
