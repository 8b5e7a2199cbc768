"""The request log is a monitoring batch source: requests sent to the service appear in the next monitoring run."""

from __future__ import annotations

from pathlib import Path

import httpx
import pandas as pd

from ml_lifecycle.spec import ProblemSpec
from tests.conftest import project_catalog, run_kedro

from .conftest import as_records, logged


def test_requests_sent_to_the_service_are_a_batch_in_the_next_monitoring_summary(
        service: httpx.Client, deployed_project: Path, new_rows: pd.DataFrame, spec: ProblemSpec):
    batch = new_rows.iloc[200:350]
    answer = service.post("/predict", json=as_records(batch, spec)).json()
    assert service.post("/feedback", json={"request_id": answer["request_id"], "labels": batch["income"].tolist()}).status_code == 200
    days = dict(logged(deployed_project, "SELECT substr(received_at, 1, 10), COUNT(*) FROM predictions GROUP BY 1"))
    day = logged(deployed_project, "SELECT substr(received_at, 1, 10) FROM predictions WHERE request_id = ?",
                 (answer["request_id"],))[0][0]

    # Only the request-log source: the simulated scenarios have their own tests.
    run_kedro(deployed_project, ["monitoring"], runtime_params={"monitoring": {"simulation": {"enabled": False}}})

    summary = project_catalog(deployed_project).load("monitoring_summary").set_index("batch")
    assert f"requests_{day}" in summary.index, summary.index.tolist()
    assert summary.loc[f"requests_{day}", "rows"] == days[day]
    assert set(summary.index) == {f"requests_{d}" for d in days}
