"""Where heavy work runs: in this process, on a Dask LocalCluster started for the run, or on an existing Dask cluster.

`compute.scheduler` (`conf/base/parameters_compute.yml`) names the place; Dask's own
`DASK_SCHEDULER_ADDRESS` overrides it. Nodes that fan work out (CV folds, tuning trials) open
`dask_client(config)` and hand independent tasks to `run_tasks`; with `local` the same task
functions run in order in this process, so both paths compute the same things.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any, Literal, TypeVar

import dask
from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog
from kedro.pipeline import Pipeline
from pydantic import Field, field_validator
from threadpoolctl import threadpool_limits

from ml_lifecycle.spec import StrictModel

logger = logging.getLogger(__name__)
ADDRESS_VARIABLE = "DASK_SCHEDULER_ADDRESS"
SCHEDULER = re.compile(
    r"local|local-cluster:(?P<workers>[1-9]\d{0,2})|(?P<address>(tcp|tls)://(\[[0-9a-fA-F:]+\]|[\w.-]+):\d{1,5})"
)
Item = TypeVar("Item")
Result = TypeVar("Result")


def parse_scheduler(value: str, source: str) -> str:
    """Return `value` when it is `local`, `local-cluster:N` or `tcp://host:port`, else raise naming `source`."""
    if not SCHEDULER.fullmatch(value):
        raise ValueError(
            f"{source}={value!r} is not a scheduler: use 'local', 'local-cluster:N' (N workers, 1-999) "
            "or a Dask scheduler address such as 'tcp://host:8786'"
        )
    return value


class ComputeConfig(StrictModel):
    """Where folds, trials and partitions run (`parameters_compute.yml`, key `compute`)."""

    scheduler: str = Field(
        default="local",
        description=f"'local', 'local-cluster:N' or 'tcp://host:port'; the environment variable {ADDRESS_VARIABLE} overrides it.",
    )
    task_retries: int = Field(default=2, ge=0, description="Times a failed task is run again on the cluster.")
    threads_per_worker: int = Field(
        default=1, gt=0, description="local-cluster only. One thread per process keeps CPU-time latency figures per task."
    )
    dashboard: bool = Field(default=True, description="local-cluster only: serve Dask's dashboard on a free port.")
    dask_log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="warning", description="Dask's own logs (`distributed`), here and in local-cluster workers; "
                                       "'info' shows every worker start and connection.")

    @field_validator("scheduler")
    @classmethod
    def _known_form(cls, value: str) -> str:
        return parse_scheduler(value, "compute.scheduler")

    def target(self) -> str:
        """Return where to compute: `DASK_SCHEDULER_ADDRESS` when set, else `scheduler`."""
        override = os.environ.get(ADDRESS_VARIABLE)
        return parse_scheduler(override, ADDRESS_VARIABLE) if override else self.scheduler


# Clients opened for the whole run by `ComputeHook`, by target; nodes reuse them instead of starting their own.
_RUN_CLIENTS: dict[str, Any] = {}


@contextmanager
def _open_client(target: str, config: ComputeConfig) -> Iterator[Any]:
    """Yield a Dask client for `target`, starting (and afterwards stopping) a LocalCluster for `local-cluster:N`."""
    from distributed import Client, LocalCluster  # noqa: PLC0415 - the default `local` path never needs it

    # distributed sets its loggers to INFO when first imported, after Kedro configured logging, and each worker
    # process imports it afresh: set the level here, and for workers through Dask's config variable before they spawn.
    logging.getLogger("distributed").setLevel(config.dask_log_level.upper())
    if target.startswith("local-cluster:"):
        with dask.config.set({"distributed.nanny.pre-spawn-environ.DASK_LOGGING__DISTRIBUTED": config.dask_log_level}):
            cluster = LocalCluster(
                n_workers=int(target.split(":")[1]), threads_per_worker=config.threads_per_worker, processes=True,
                host="127.0.0.1", dashboard_address="127.0.0.1:0" if config.dashboard else None,
            )
        with cluster, Client(cluster) as client:
            _log_where(client, target)
            yield client
    else:
        with Client(target) as client:
            _log_where(client, target)
            yield client


def _serves_dashboard(dask_scheduler: Any) -> bool:
    """Return whether the scheduler serves Dask's dashboard (run on the scheduler)."""
    return bool(getattr(dask_scheduler.http_application, "applications", None))


def _log_where(client: Any, target: str) -> None:
    """Log where the work runs, with its dashboard when there is one."""
    workers = len(client.scheduler_info()["workers"])
    # Dask reports a dashboard link whenever the scheduler serves HTTP (health checks, metrics), also when it was
    # started without a dashboard (`--no-dashboard`, `dashboard_address=None`): that link is a 404, so ask the scheduler.
    dashboard = client.dashboard_link if client.run_on_scheduler(_serves_dashboard) else None
    logger.info("Computing on %s (%s, %d workers)%s", target, client.scheduler.address, workers,
                f"; dashboard {dashboard}" if dashboard else "; no dashboard")


@contextmanager
def dask_client(config: ComputeConfig) -> Iterator[Any]:
    """Yield the Dask client to compute with (None for `local`): the run's own when the hook opened one."""
    target = config.target()
    if target == "local":
        yield None
    elif target in _RUN_CLIENTS:
        yield _RUN_CLIENTS[target]
    else:
        with _open_client(target, config) as client:
            yield client


def _on_one_blas_thread(task: Callable[..., Result], item: Item, **shared: Any) -> Result:
    """Return `task(item, **shared)` computed with one BLAS thread.

    BLAS splits its sums by thread count, so a model fitted with BLAS (logistic regression: about
    1e-8 in its probabilities on Adult) would differ between this process, which has a thread per
    core, and a Dask worker, which starts with one. One thread everywhere gives the same bits.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        return task(item, **shared)


def run_tasks(client: Any, task: Callable[..., Result], items: Sequence[Item], shared: dict[str, Any],
              retries: int) -> list[Result]:
    """Return `[task(item, **shared) for item in items]`, in order; on the cluster when `client` is given.

    On a cluster the shared data is scattered once, each item is its own task (retried when it
    fails), and results are gathered as they finish, so a worker lost later loses none of them.
    Every task computes with one BLAS thread, wherever it runs (see `_on_one_blas_thread`).
    """
    if client is None:
        return [_on_one_blas_thread(task, item, **shared) for item in items]
    from distributed import as_completed  # noqa: PLC0415

    scattered = {name: client.scatter([value], hash=False)[0] for name, value in shared.items()}
    futures = client.map(partial(_on_one_blas_thread, task), items, **scattered, retries=retries, pure=False)
    done = {future.key: result for future, result in as_completed(futures, with_results=True)}
    return [done[future.key] for future in futures]


class ComputeHook:
    """Open the run's Dask client before the pipeline runs and close it (and any LocalCluster) after.

    Only when the pipeline reads `params:compute` and the target is not `local`; a bad
    `DASK_SCHEDULER_ADDRESS` fails here, before any node runs.
    """

    def __init__(self) -> None:
        self._client: Any = None

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict, pipeline: Pipeline, catalog: DataCatalog) -> None:
        if "params:compute" not in pipeline.inputs():
            return
        config = catalog.load("params:compute")
        config = config if isinstance(config, ComputeConfig) else ComputeConfig.model_validate(config)
        target = config.target()
        if target == "local":
            logger.info("Computing locally, in this process (compute.scheduler: local)")
            return
        self._client = _open_client(target, config)
        _RUN_CLIENTS[target] = self._client.__enter__()

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._close()

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._close()

    def _close(self) -> None:
        if self._client is not None:
            _RUN_CLIENTS.clear()
            self._client.__exit__(None, None, None)
            self._client = None
