"""`python -m ml_lifecycle.serving` (what `make serve` runs): the bind-address guard, the port, and `serving.metrics: false`."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ml_lifecycle.serving.__main__ import bind_refusal, chosen_port, is_loopback
from ml_lifecycle.serving.access import TOKEN_VARIABLE
from ml_lifecycle.spec import ProblemSpec
from tests.conftest import add_env

from .conftest import as_records, logged, running_service

COUNTS = "SELECT (SELECT COUNT(*) FROM requests), (SELECT COUNT(*) FROM predictions)"


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("[::1]", True), ("localhost", True), ("LOCALHOST", True),
    ("0.0.0.0", False), ("::", False), ("10.0.0.5", False), ("192.168.1.20", False), ("service.example", False),
])
def test_only_loopback_addresses_and_localhost_count_as_loopback(host: str, loopback: bool):
    assert is_loopback(host) is loopback


def test_an_address_off_loopback_needs_a_token():
    assert bind_refusal("127.0.0.1", None) is None
    assert bind_refusal("0.0.0.0", "a-token") is None
    refusal = bind_refusal("0.0.0.0", None)
    assert refusal is not None and "serving.host" in refusal and "SERVING_TOKEN" in refusal and "credentials.yml" in refusal


def test_the_port_is_the_option_then_the_port_variable_then_the_configured_one(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PORT", "9001")
    assert chosen_port(9002, 8000) == 9002
    assert chosen_port(None, 8000) == 9001
    monkeypatch.delenv("PORT")
    assert chosen_port(None, 8000) == 8000
    monkeypatch.setenv("PORT", "eighty")
    with pytest.raises(SystemExit, match=r"\$PORT='eighty' is not a port number"):
        chosen_port(None, 8000)


def test_the_launcher_refuses_to_listen_off_loopback_without_a_token(deployed_project: Path):
    env = {k: v for k, v in os.environ.items() if k != TOKEN_VARIABLE} | {"KEDRO_DISABLE_TELEMETRY": "true"}
    refused = subprocess.run([sys.executable, "-m", "ml_lifecycle.serving", "--host", "0.0.0.0", "--env", "test"],
                             cwd=deployed_project, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert refused.returncode == 2, refused.stderr[-2000:]
    assert "refusing to listen on '0.0.0.0' (serving.host" in refused.stderr
    assert "SERVING_TOKEN" in refused.stderr and "serving_token in conf/<problem>/credentials.yml" in refused.stderr
    assert "Uvicorn running" not in refused.stderr


@pytest.fixture(scope="module")
def launched(deployed_project: Path) -> Iterator[httpx.Client]:
    """The service started by the launcher on loopback at $PORT, in an environment of the test project with `serving.metrics: false`."""
    env = add_env(deployed_project, "metrics_off", {"globals.yml": "data_root: data/test\n",
                                                    "parameters_serving.yml": {"serving": {"metrics": False}}})
    with running_service(deployed_project, env_name=env, launcher=True) as client:
        yield client


def test_the_launcher_serves_the_project_on_loopback_at_the_port_given(launched: httpx.Client, new_rows: pd.DataFrame,
                                                                       spec: ProblemSpec):
    assert launched.get("/health").json()["status"] == "ok"
    assert launched.post("/predict", json=as_records(new_rows.iloc[:1], spec)[0]).status_code == 200


def test_with_metrics_off_requests_are_neither_counted_nor_in_the_requests_table(
        launched: httpx.Client, deployed_project: Path, new_rows: pd.DataFrame, spec: ProblemSpec):
    ((requests_before, rows_before),) = logged(deployed_project, COUNTS)
    answer = launched.post("/predict", json=as_records(new_rows.iloc[:2], spec))
    assert answer.status_code == 200
    ((requests_after, rows_after),) = logged(deployed_project, COUNTS)
    assert (requests_after, rows_after) == (requests_before, rows_before + 2)  # the rows scored are still logged
    samples = {s.name for family in text_string_to_metric_families(launched.get("/metrics").text) for s in family.samples}
    assert "ml_service_rows_scored_total" in samples
    assert not {"ml_service_requests_total", "ml_service_request_latency_seconds_count"} & samples
