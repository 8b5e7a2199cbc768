"""Every HTTP request is a row of the request log's `requests` table: answered, refused and failed ones alike."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route
from starlette.testclient import TestClient

from ml_lifecycle.serving.challenger import BackgroundScorer
from ml_lifecycle.serving.metrics import MetricsMiddleware, ServiceMetrics
from ml_lifecycle.serving.request_log import RequestLog
from ml_lifecycle.spec import ProblemSpec
from tests.conftest import project_catalog

from .conftest import as_records


def test_the_requests_table_records_each_requests_route_status_rows_and_refused_rows(
        service: httpx.Client, deployed_project: Path, new_rows: pd.DataFrame, spec: ProblemSpec):
    good = as_records(new_rows.iloc[:3], spec)
    since = datetime.now(UTC).isoformat()
    statuses = [
        service.post("/predict", json=good[:2]).status_code,
        httpx.post(f"{service.base_url}/admin/reload").status_code,  # no token
        httpx.post(f"{service.base_url}/admin/reload", headers={"Authorization": "Bearer guess"}).status_code,
        service.post("/predict", json=[good[0]] * 20_000).status_code,  # over serving.max_body_bytes
        service.post("/predict", json=[good[0]] * 1001).status_code,  # over serving.max_rows
        # rows 0 and 2 of 3 are bad, row 2 in two fields: two rows refused
        service.post("/predict", json=[good[0] | {"age": -1}, good[1], good[2] | {"age": "old", "sex": 3}]).status_code,
        service.post("/predict", json=good[0] | {"age": "old"}).status_code,
        service.get("/nowhere").status_code,
    ]
    assert statuses == [200, 401, 403, 413, 413, 422, 422, 404]

    logged = project_catalog(deployed_project).load("service_requests")
    mine = logged[logged["received_at"] >= since]
    assert list(mine[["route", "status", "rows", "rejected_rows"]].itertuples(index=False, name=None)) == [
        ("/predict", 200, 2, 0),
        ("/admin/reload", 401, 0, 0),
        ("/admin/reload", 403, 0, 0),
        ("/predict", 413, 0, 0),
        ("/predict", 413, 0, 0),
        ("/predict", 422, 0, 2),
        ("/predict", 422, 0, 1),
        ("other", 404, 0, 0),
    ]
    assert (mine["latency_ms"] > 0).all()
    assert pd.to_datetime(mine["received_at"], format="ISO8601").dt.tz is not None


def test_a_request_whose_exception_escapes_every_handler_is_logged_and_counted_as_500(tmp_path: Path, spec: ProblemSpec):
    def broken(request: Request) -> Any:
        raise RuntimeError("a bug")

    log = RequestLog(tmp_path / "requests.sqlite")
    background = BackgroundScorer(log, spec, queue_size=1, batch_seconds=0, batch_rows=1)
    metrics = ServiceMetrics(routes={"/broken"}, background=background)
    app = Starlette(routes=[Route("/broken", broken)])
    app.add_middleware(MetricsMiddleware, metrics=metrics, log=log)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            assert client.get("/broken").status_code == 500
        assert log.requests_frame()[["route", "status", "rows", "rejected_rows"]].values.tolist() == [["/broken", 500, 0, 0]]
        assert metrics.registry.get_sample_value("ml_service_requests_total", {"route": "/broken", "status": "500"}) == 1
    finally:
        background.stop()
        log.close()
