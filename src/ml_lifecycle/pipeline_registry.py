"""Project pipelines."""

from __future__ import annotations

from importlib import import_module

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

LIFECYCLE_ORDER = ["data_processing", "modeling", "evaluation", "monitoring", "inference"]


def register_pipelines() -> dict[str, Pipeline]:
    """Register every pipeline; `__default__` is the whole lifecycle in order."""
    pipelines = find_pipelines(raise_errors=True)
    pipelines["__default__"] = sum(
        (pipelines[name] for name in LIFECYCLE_ORDER if name in pipelines), Pipeline([])
    )
    return pipelines


def lifecycle_pipeline() -> Pipeline:
    """Return every lifecycle pipeline, whichever ones the CLI asked Kedro to load."""
    found = []
    for name in LIFECYCLE_ORDER:
        try:
            found.append(import_module(f"{__package__}.pipelines.{name}").create_pipeline())
        except ModuleNotFoundError:
            continue
    return sum(found, Pipeline([]))
