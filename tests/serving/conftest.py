"""A private project copy with a registry champion, and the prediction service running on it over real HTTP.

`deployed_project` runs the inference pipeline in the shared test project (which first produces
any missing upstream output: splits, champion, released model), then copies that project, so
these tests may promote, roll back, retrain and log requests without touching the shared copy.
`service` is uvicorn in a subprocess on a free loopback port, serving that copy.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner, Result

from ml_lifecycle.cli import cli
from ml_lifecycle.registry import ModelRegistry, RegistrySnapshot
from ml_lifecycle.serving.access import TOKEN_VARIABLE
from ml_lifecycle.spec import ProblemSpec, snake_case
from tests.conftest import REPO_ROOT, env_parameters, inside_project, run_kedro

KEDRO = Path(sys.executable).with_name("kedro")
CHALLENGER_CONF = Path("conf/test/parameters_serving_challenger.yml")


SERVICE_TOKEN = "test-token-not-a-secret"


def free_port() -> int:
    """Return a loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_service(project: Path, startup_seconds: float = 240, env_name: str = "test",
                    launcher: bool = False) -> Iterator[httpx.Client]:
    """Start `uvicorn ... create_app --factory` in `project` (environment `env_name`); yield a client; stop it.

    `launcher`: start it as `make serve` does instead, `python -m ml_lifecycle.serving`, with the port in `$PORT`.
    """
    port = free_port()
    log_path = project / f"service-{port}.log"
    env = {**os.environ, "KEDRO_ENV": env_name, "KEDRO_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1",
           TOKEN_VARIABLE: SERVICE_TOKEN, "PORT": str(port)}
    command = [sys.executable, "-m", "ml_lifecycle.serving"] if launcher else [
        sys.executable, "-m", "uvicorn", "ml_lifecycle.serving.app:create_app", "--factory", "--host", "127.0.0.1",
        "--port", str(port)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT)
    # The client holds the service token, as an operator would; test_access.py sends none or a wrong one.
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120, headers={"Authorization": f"Bearer {SERVICE_TOKEN}"})
    try:
        deadline = time.monotonic() + startup_seconds
        while True:
            if process.poll() is not None:
                pytest.fail(f"the service exited during startup:\n{log_path.read_text()[-4000:]}")
            with contextlib.suppress(httpx.TransportError):
                if client.get("/health").status_code == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"the service did not answer within {startup_seconds} s:\n{log_path.read_text()[-4000:]}")
            time.sleep(0.3)
        yield client
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=30)


def kedro_command(project: Path, *args: str) -> subprocess.CompletedProcess:
    """Run a `kedro` command in `project` (environment `test`) as a user would, and return its result."""
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"}
    return subprocess.run([str(KEDRO), *args, "--env", "test"], cwd=project, env=env, capture_output=True, text=True,
                          timeout=600, check=False)


def champion_command(project: Path, *args: str) -> Result:
    """Run `kedro champion ...` (environment `test`) in this process: the same command, without a new interpreter."""
    with inside_project(project) as metadata:
        return CliRunner().invoke(cli, ["champion", *args, "--env", "test"], obj=metadata)


def set_challenger(project: Path, **challenger: Any) -> None:
    """Write the test environment's serving.challenger block (empty: no challenger)."""
    path = project / CHALLENGER_CONF
    if challenger:
        path.write_text(yaml.safe_dump({"serving": {"challenger": challenger}}))
    else:
        path.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def spec() -> ProblemSpec:
    """The default problem's spec (the test environment only changes the sample size)."""
    return ProblemSpec.model_validate(env_parameters("test")["problem"])


@pytest.fixture(scope="session")
def deployed_project(test_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the test project that has a registry champion and its splits."""
    run_kedro(test_project, ["inference"])
    copy = tmp_path_factory.mktemp("deployed") / "project"
    shutil.copytree(test_project, copy)
    return copy


@pytest.fixture(scope="session")
def service(deployed_project: Path) -> Iterator[httpx.Client]:
    """An HTTP client of the prediction service running on the private project copy."""
    with running_service(deployed_project) as client:
        yield client


@pytest.fixture(scope="session")
def new_rows(spec: ProblemSpec) -> pd.DataFrame:
    """Raw rows of the official test file (features as text, as a client would read them), label included."""
    frame = pd.read_csv(REPO_ROOT / "data/01_raw/adult/adult.test", header=None, dtype=str, keep_default_na=False,
                        skipinitialspace=True, comment="|")
    frame.columns = [snake_case(c) for c in spec.raw.column_names]
    return frame.iloc[:400].reset_index(drop=True)


def as_records(raw: pd.DataFrame, spec: ProblemSpec) -> list[dict[str, Any]]:
    """Return raw rows as API records: numbers as JSON numbers, text as sent ('?' included), no extra fields."""
    records = []
    for _, row in raw.iterrows():
        record: dict[str, Any] = {c: float(row[c]) for c in spec.numeric_features}
        record |= {c: row[c] for c in spec.categorical_features}
        records.append(record)
    return records


def logged(project: Path, sql: str, params: tuple = ()) -> list[tuple]:
    """Return the rows of a query on the project's request log (a separate reader, as monitoring would be)."""
    with contextlib.closing(sqlite3.connect(project / "data/test/serving/requests.sqlite")) as connection:
        return connection.execute(sql, params).fetchall()


def project_registry(project: Path) -> ModelRegistry:
    """Return the project's model registry."""
    return ModelRegistry(project / "data/test/06_models/model_registry")


def registry_record(project: Path) -> RegistrySnapshot:
    """Return the project's registry as it is now: versions, champion, history."""
    return project_registry(project).snapshot()
