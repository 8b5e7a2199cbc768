"""Project hooks."""

from __future__ import annotations

import logging

from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline
from kedro.runner import SequentialRunner
from kedro.validation.parameter_validator import ParameterValidator

from ml_lifecycle.pipeline_registry import lifecycle_pipeline
from ml_lifecycle.spec import ProblemSpec

logger = logging.getLogger(__name__)


class ProduceMissingUpstreamHook:
    """Before a run, produce any persisted input of the pipeline that has never been saved.

    So each named pipeline (`kedro run --pipeline=evaluation`) works on a fresh clone, and
    otherwise reuses the latest saved upstream outputs (the splits, the champion).
    """

    def __init__(self) -> None:
        self._context: KedroContext | None = None

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        self._context = context

    @hook_impl
    def before_pipeline_run(self, run_params: dict, pipeline: Pipeline, catalog: DataCatalog) -> None:
        missing = sorted(
            name
            for name in pipeline.inputs()
            if not name.startswith("params:")
            and name in catalog
            and not isinstance(catalog[name], MemoryDataset)
            and not catalog.exists(name)
        )
        if not missing:  # the usual run: building the whole lifecycle would import every pipeline (Evidently: ~4 s)
            return
        lifecycle = lifecycle_pipeline()
        producible = [name for name in missing if name in lifecycle.all_outputs()]
        if not producible:
            return
        upstream = lifecycle.to_outputs(*producible)
        logger.info("Not saved yet: %s. Running the %d upstream node(s) that produce them first.",
                    ", ".join(producible), len(upstream.nodes))
        # Kedro validated typed parameters for the requested pipeline only; validate the
        # upstream nodes' parameters the same way before they run.
        params = ParameterValidator({"upstream": upstream}).validate_raw_params(self._context.params)
        for key, value in params.items():
            catalog[f"params:{key}"] = value
        SequentialRunner().run(upstream, catalog)


class CheckConfigsAgainstSpecHook:
    """Before anything runs, check each typed config that names problem columns against the problem spec.

    Kedro validates every typed parameter on its own, so a config cannot see the spec while it
    is validated. A config model that names spec columns (e.g. evaluation slices and tags)
    defines `check_against(spec)`; this hook calls it for every parameter the requested
    pipeline reads, first of all hooks, so a bad name fails before upstream outputs are
    produced and before any node runs.
    """

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict, pipeline: Pipeline, catalog: DataCatalog) -> None:
        configs = [catalog[name].load() for name in sorted(pipeline.inputs()) if name.startswith("params:")]
        checked = [config for config in configs if hasattr(config, "check_against")]
        if checked:
            spec = ProblemSpec.model_validate(catalog["params:problem"].load())
            for config in checked:
                config.check_against(spec)
