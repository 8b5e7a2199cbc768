"""Open the Kedro project from tools that run outside `kedro run`: the prediction service and the CLI."""

from __future__ import annotations

from pathlib import Path

from kedro.framework.context import KedroContext
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project


def project_context(project_path: Path, env: str | None) -> KedroContext:
    """Return the project's context (parameters and catalog) in `env`, as `kedro run` would see it.

    Like `kedro run`, the catalog's relative paths resolve against the working folder: call this
    from the project folder.
    """
    bootstrap_project(project_path)
    with KedroSession.create(project_path=project_path, env=env) as session:
        return session.load_context()
