"""Project hooks."""

from __future__ import annotations

import logging

from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline
from kedro.runner import SequentialRunner

logger = logging.getLogger(__name__)


class ProduceMissingUpstreamHook:
    """Run the upstream nodes of any persisted pipeline input that does not exist yet.

    So each named pipeline (`kedro run --pipeline=evaluation`) works on a fresh clone, and
    reuses the latest saved upstream outputs (the champion, the splits) when they exist.
    """

    def __init__(self) -> None:
        self._context: KedroContext | None = None

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        self._context = context

    @hook_impl
    def before_pipeline_run(self, run_params: dict, pipeline: Pipeline, catalog: DataCatalog) -> None:
        from kedro.framework.project import pipelines  # noqa: PLC0415 - registry loads lazily

        missing = sorted(
            name
            for name in pipeline.inputs()
            if not name.startswith("params:")
            and name != "parameters"
            and name in catalog
            and not isinstance(catalog[name], MemoryDataset)
            and not catalog.exists(name)
        )
        upstream = pipelines["__default__"]
        producible = [name for name in missing if name in upstream.all_outputs()]
        if not producible:
            return
        logger.info("Upstream output(s) %s not saved yet: producing them first.", producible)
        upstream = upstream.to_outputs(*producible)
        # Parameters in the catalog are validated only for the requested pipeline's nodes;
        # the upstream nodes get theirs validated the same way, for every pipeline.
        for name, value in self._context.params.items():
            catalog[f"params:{name}"] = value
        SequentialRunner().run(upstream, catalog)
