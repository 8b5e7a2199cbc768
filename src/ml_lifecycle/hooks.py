"""Project hooks."""

from __future__ import annotations

import logging
import re

from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline
from kedro.runner import SequentialRunner
from kedro.validation.parameter_validator import ParameterValidator

from ml_lifecycle.experiment_log import ExperimentLogDataset
from ml_lifecycle.pipeline_registry import lifecycle_pipeline
from ml_lifecycle.publishing import (
    PublishingRun,
    RunPublisher,
    StagedDataset,
    data_root_of,
    pin_inputs_to_published,
    read_manifest,
)
from ml_lifecycle.registry import (
    ChampionBundleDataset,
    DecisionsDataset,
    ModelRegistryDataset,
    PromotionDataset,
    RegistrationDataset,
    ShadowBundleDataset,
)

logger = logging.getLogger(__name__)
# What a run writes only when it publishes: staged outputs, and the stores kept across runs (the registry's views
# stage its events, the experiment log its rows); each has `stage_for(run)`.
RUN_STAGED = [StagedDataset, ExperimentLogDataset, ModelRegistryDataset, ChampionBundleDataset, ShadowBundleDataset,
              DecisionsDataset, RegistrationDataset, PromotionDataset]
KEY_PATH = re.compile(r"[\w.\[\]-]+")  # what a problem line starts with: the key it is about, e.g. monitoring.slices


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


class ConfigurationError(ValueError):
    """Settings that do not fit the problem spec; the message names every one, with its file and key."""


class CheckConfigsAgainstSpecHook:
    """Before anything runs, check the whole configuration: every typed parameter, then each against the problem spec.

    Kedro validates only the parameters of the requested pipeline, each on its own, so a setting
    cannot be checked against the spec while it is validated, and a bad setting of another
    pipeline waits until that pipeline runs. This hook, first of all hooks, validates the
    parameters of every pipeline (Kedro reports all type errors at once), then asks every config
    that names problem columns or queries for its `problems_against(spec)`, and raises once with
    every problem, each prefixed by the file that sets its key.
    """

    def __init__(self) -> None:
        self._context: KedroContext | None = None

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        self._context = context

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict, pipeline: Pipeline, catalog: DataCatalog) -> None:
        loader = self._context.config_loader
        params = ParameterValidator({"lifecycle": lifecycle_pipeline()}).validate_raw_params(loader["parameters"])
        spec = params["problem"]
        problems = [problem for config in params.values() if hasattr(config, "problems_against")
                    for problem in config.problems_against(spec)]
        if problems:
            raise ConfigurationError(
                "The configuration does not fit params:problem (conf/<problem>/parameters.yml):\n- "
                + "\n- ".join(f"{loader.file_defining(KEY_PATH.match(p).group())}: {p}" for p in problems))


class PublishRunHook:
    """A run's outputs become the latest together once every node has run; a failed or killed run's never do.

    Before the nodes (and before `ProduceMissingUpstreamHook`, so upstream outputs it produces
    belong to the run too): finish an interrupted publish, delete what killed runs wrote, register
    this run, point every `StagedDataset` at its staging folder and make the registry and the
    experiment log stage this run's events and rows. After the last node: publish
    (`ml_lifecycle.publishing`). On a node's error: delete this run's outputs.
    """

    def __init__(self) -> None:
        self._context: KedroContext | None = None
        self._run: PublishingRun | None = None

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        self._context = context

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict, pipeline: Pipeline, catalog: DataCatalog) -> None:
        if self._run is not None:  # this process's last run failed in a hook, before on_pipeline_error could apply
            self._run.discard()
        publisher = RunPublisher(data_root_of(self._context))
        publisher.recover()
        self._run = publisher.start(run_params["run_id"])
        for name in catalog.filter(by_type=RUN_STAGED):
            catalog[name].stage_for(self._run)
        pin_inputs_to_published(catalog, pipeline.inputs(), read_manifest(publisher.data_root), run_params["load_versions"] or {})

    @hook_impl
    def after_pipeline_run(self, run_params: dict, pipeline: Pipeline, catalog: DataCatalog) -> None:
        self._run.publish(catalog, run_params["pipeline_names"] or ["__default__"])
        self._run = None

    @hook_impl
    def on_pipeline_error(self, error: Exception, run_params: dict, pipeline: Pipeline, catalog: DataCatalog) -> None:
        self._run.discard()
        self._run = None
