"""Champion-challenger retraining on the service's labelled traffic: one command, a decision by margin, an audit trail."""

from __future__ import annotations

from pathlib import Path

import httpx
import pandas as pd

from ml_lifecycle.registry import ModelRegistry
from ml_lifecycle.spec import ProblemSpec
from tests.conftest import project_catalog, run_kedro

from .conftest import as_records, registry_record


def test_retraining_trains_a_challenger_on_labelled_requests_and_promotes_only_a_winner(
        service: httpx.Client, deployed_project: Path, new_rows: pd.DataFrame, spec: ProblemSpec):
    for start in range(0, 240, 40):
        batch = new_rows.iloc[start : start + 40]
        answer = service.post("/predict", json=as_records(batch, spec)).json()
        feedback = service.post("/feedback", json={"request_id": answer["request_id"], "labels": batch["income"].tolist()})
        assert feedback.status_code == 200
    before = registry_record(deployed_project)

    run_kedro(deployed_project, ["retraining"], runtime_params={"retraining": {"min_improvement": 0.0}})

    after = registry_record(deployed_project)
    (new_version,) = set(after["versions"]) - set(before["versions"])
    decision = project_catalog(deployed_project).load("retraining_decision")
    labelled = decision["holdout_rows"] + decision["recent_training_rows"]
    assert labelled >= 240  # every labelled request in the log, earlier tests' included
    assert decision["holdout_rows"] == -(-labelled // 2)  # the latest half is held out
    assert decision["champion_version"] == before["champion"]
    metric = decision["primary_metric"]
    gain = decision["champion_metrics"][metric] - decision["challenger_metrics"][metric]
    assert decision["gain"] == round(gain, 6)
    assert decision["promote"] == (gain > 0)  # margin 0: any improvement wins

    entry = after["versions"][new_version]
    assert entry["stage"] == "retrained"
    assert entry["retraining"] == decision  # the audit trail: when, why, both models' metrics
    events = [e for e in after["history"] if e["version"] == new_version]
    assert events[0]["event"] == "registered" and events[0]["reason"].startswith("retraining: ")
    if decision["promote"]:
        assert after["champion"] == new_version and events[-1]["event"] == "promoted"
        # Leave the champion the other tests expect.
        ModelRegistry(deployed_project / "data/06_models/registry").rollback(before["champion"], "test: restore the champion")
    else:
        assert after["champion"] == before["champion"] and len(events) == 1
