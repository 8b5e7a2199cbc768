"""Project pipelines."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

LIFECYCLE_ORDER = ["data_processing", "modeling", "evaluation", "monitoring", "inference"]


def register_pipelines() -> dict[str, Pipeline]:
    """Register every pipeline; `__default__` runs the whole lifecycle except batch inference."""
    pipelines = find_pipelines(raise_errors=True)
    lifecycle = [pipelines[name] for name in LIFECYCLE_ORDER if name in pipelines and name != "inference"]
    pipelines["__default__"] = sum(lifecycle, Pipeline([]))
    return pipelines
