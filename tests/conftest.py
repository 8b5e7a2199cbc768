"""Shared test helpers: throwaway copies of the project and real Kedro runs inside them.

End-to-end tests never touch the repository's own `data/`: they copy the project's
configuration and raw data into a temporary folder and run Kedro there.

- `copy_project(destination)` makes such a copy; `run_kedro(project, [...])` runs
  pipelines in it through a real `KedroSession` (environment `test` by default);
  `project_catalog(project)` opens its catalog to load what a run saved.
- Fixture `test_project` (session-scoped): one copy shared by the whole test session;
  tests that need saved outputs run their pipeline into it (upstream outputs that do
  not exist yet are produced first by the project's hook). Do not edit its config.
- Fixture `project_copy` (per test): a fresh copy for tests that change configuration
  or raw files, or that must see a project in which nothing has run yet.

Import the functions with `from tests.conftest import copy_project, run_kedro`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from kedro.framework.session import KedroSession
from kedro.framework.startup import ProjectMetadata, bootstrap_project
from kedro.io import DataCatalog

from ml_lifecycle.config_loader import LayeredConfigLoader
from ml_lifecycle.settings import CONFIG_LOADER_ARGS

# Kedro's telemetry plugin is installed (a kedro-viz dependency) and the machines are offline.
os.environ["KEDRO_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "1"

REPO_ROOT = Path(__file__).resolve().parents[1]
RAW_FOLDER = Path("data") / "01_raw"


def copy_project(destination: Path, repo_root: Path = REPO_ROOT) -> Path:
    """Copy pyproject.toml, conf/ (without conf/local's files) and data/01_raw into `destination`.

    Runs write under `data/<env>/` (the test environment: `data/test/`). `src/` is created
    empty because `bootstrap_project` requires it; the code that runs is the installed `ml_lifecycle`.
    """
    destination.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(repo_root / "pyproject.toml", destination / "pyproject.toml")
    shutil.copytree(
        repo_root / "conf",
        destination / "conf",
        ignore=lambda folder, names: names if Path(folder).name == "local" else [],
        # plain copies: the repository's raw files are read-only, test copies may be edited
        copy_function=shutil.copyfile,
    )
    shutil.copytree(repo_root / RAW_FOLDER, destination / RAW_FOLDER, copy_function=shutil.copyfile)
    (destination / "src").mkdir(exist_ok=True)
    return destination


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """Return a frame as the bytes of a raw CSV file: header-less when its columns are positions (0, 1, ...)."""
    return frame.to_csv(index=False, header=not isinstance(frame.columns, pd.RangeIndex)).encode()


def add_env(project: Path, name: str, files: dict[str, str | dict[str, Any]], extends: str = "test") -> str:
    """Write configuration environment `name` extending `extends` into a project copy; return its name.

    `files` maps a file name to its YAML text or content. Its outputs go to `data/<name>/` unless
    a `globals.yml` in `files` says otherwise.
    """
    folder = project / "conf" / name
    folder.mkdir()
    (folder / "environment.yml").write_text(f"extends: {extends}\n")
    if "globals.yml" not in files:
        (folder / "globals.yml").write_text(f"data_root: data/{name}\n")
    for file, content in files.items():
        (folder / file).write_text(content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False))
    return name


def env_parameters(env: str | None = None, conf: Path = REPO_ROOT / "conf") -> dict[str, Any]:
    """Return the raw (untyped) parameters of a configuration environment, layered as the project's settings say."""
    loader = LayeredConfigLoader(str(conf), env=env, **CONFIG_LOADER_ARGS)
    return loader["parameters"]


@contextlib.contextmanager
def inside_project(project_path: Path) -> Iterator[ProjectMetadata]:
    """Bootstrap the project at `project_path` with it as the working directory, then restore.

    Kedro keeps the configured settings and pipeline registry in module globals; every
    copy configures the same installed package, so re-bootstrapping per run is enough.
    The working directory, `sys.path` and PYTHONPATH (which `bootstrap_project` extends)
    are restored on exit, so several projects can be used in one pytest session.
    """
    saved_sys_path = list(sys.path)
    saved_pythonpath = os.environ.get("PYTHONPATH")
    try:
        with contextlib.chdir(project_path):
            yield bootstrap_project(project_path)
    finally:
        sys.path[:] = saved_sys_path
        if saved_pythonpath is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved_pythonpath


def run_kedro(
    project_path: Path,
    pipeline_names: list[str] | None,
    env: str = "test",
    runtime_params: dict[str, Any] | None = None,
    to_outputs: list[str] | None = None,
) -> dict[str, Any]:
    """Run the named pipelines (None: `__default__`), up to `to_outputs` when given, in the project copy; return the run result.

    The result maps each free output's name to its dataset (call `.load()`); saved
    outputs are read with `project_catalog(project_path, env).load(name)`.
    """
    project_path = Path(project_path).resolve()
    with (
        inside_project(project_path),
        KedroSession.create(project_path=project_path, env=env, runtime_params=runtime_params) as session,
    ):
        return session.run(pipeline_names=pipeline_names, to_outputs=to_outputs)


def project_catalog(project_path: Path, env: str = "test") -> DataCatalog:
    """Return the project copy's catalog in `env`; versioned datasets load their latest version."""
    project_path = Path(project_path).resolve()
    with (
        inside_project(project_path),
        KedroSession.create(project_path=project_path, env=env) as session,
    ):
        return session.load_context().catalog


@pytest.fixture(scope="session")
def test_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One project copy shared by the whole test session; run pipelines into it, never edit it."""
    return copy_project(tmp_path_factory.mktemp("test_project"))


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A fresh project copy for one test, free to change its conf/ and data/."""
    return copy_project(tmp_path / "project")
