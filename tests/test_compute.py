"""Where work runs: the `compute` settings, and tasks run in process or on a real LocalCluster."""

from __future__ import annotations

import logging
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from distributed import Client
from kedro.io import DataCatalog
from kedro.pipeline import Node, Pipeline
from pydantic import ValidationError
from threadpoolctl import threadpool_info

from ml_lifecycle.compute import ComputeConfig, ComputeHook, dask_client, run_tasks
from tests.dask_cluster import local_cluster


@pytest.fixture(scope="module")
def cluster() -> Iterator[Client]:
    """One two-worker cluster for this module's tests."""
    with local_cluster() as client:
        yield client


def scaled(item: int, factor: int) -> int:
    """A task: the item times the shared factor."""
    return item * factor


def blas_dot(seed: int) -> tuple[float, list[int]]:
    """A task: a long dot product (BLAS splits it by thread count) and the BLAS thread counts it ran with."""
    vector = np.random.default_rng(seed).normal(size=1_000_000)
    return float(vector @ vector), [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def fails_once(item: int, marker: Path) -> int:
    """A task that fails the first time any worker runs it (the marker file remembers), then returns the item."""
    if not marker.exists():
        marker.touch()
        raise RuntimeError("worker hiccup")
    return item


@pytest.mark.parametrize("value", ["locale", "local-cluster:0", "local-cluster:two", "tcp://host", "http://host:8786", ""])
def test_a_malformed_scheduler_is_refused_naming_the_key(value):
    with pytest.raises(ValidationError, match="compute.scheduler="):
        ComputeConfig(scheduler=value)


@pytest.mark.parametrize("value", ["local", "local-cluster:2", "tcp://127.0.0.1:8786", "tls://scheduler.example.org:8786"])
def test_the_three_scheduler_forms_are_accepted(value):
    assert ComputeConfig(scheduler=value).target() == value


def test_the_dask_address_variable_overrides_the_setting_and_is_checked(monkeypatch):
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "tcp://10.0.0.5:8786")
    assert ComputeConfig(scheduler="local").target() == "tcp://10.0.0.5:8786"
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "10.0.0.5")
    with pytest.raises(ValueError, match="DASK_SCHEDULER_ADDRESS='10.0.0.5' is not a scheduler"):
        ComputeConfig().target()


def test_local_runs_the_tasks_in_this_process_in_order():
    with dask_client(ComputeConfig()) as client:
        assert client is None
        assert run_tasks(client, scaled, [3, 1, 2], {"factor": 10}, retries=0) == [30, 10, 20]


def test_the_cluster_returns_results_in_item_order(cluster):
    assert run_tasks(cluster, scaled, list(range(20)), {"factor": 3}, retries=0) == [3 * i for i in range(20)]


def test_tasks_compute_on_one_blas_thread_so_local_and_cluster_give_the_same_bits(cluster):
    # Outside a task this process has a BLAS thread per core; a Dask worker starts with one.
    local = run_tasks(None, blas_dot, [0, 1], {}, retries=0)
    assert run_tasks(cluster, blas_dot, [0, 1], {}, retries=0) == local
    assert all(set(threads) == {1} for _, threads in local)


def test_a_failed_task_is_retried_on_the_cluster(cluster, tmp_path):
    assert run_tasks(cluster, fails_once, [7], {"marker": tmp_path / "failed-once"}, retries=1) == [7]


def test_a_task_failing_beyond_its_retries_fails_the_run(cluster, tmp_path):
    with pytest.raises(RuntimeError, match="worker hiccup"):
        run_tasks(cluster, fails_once, [7], {"marker": tmp_path / "failed-once"}, retries=0)


def test_local_cluster_starts_for_the_block_logs_where_and_stops_after(caplog):
    caplog.set_level(logging.INFO, logger="ml_lifecycle.compute")
    with dask_client(ComputeConfig(scheduler="local-cluster:1", dashboard=False)) as client:
        assert len(client.scheduler_info()["workers"]) == 1
        assert run_tasks(client, scaled, [1], {"factor": 2}, retries=0) == [2]
    assert client.status == "closed"
    assert re.search(r"Computing on local-cluster:1 \(tcp://127\.0\.0\.1:\d+, 1 workers\); no dashboard", caplog.text)


def distributed_log_level(item: object) -> int:
    """A task: the level of Dask's `distributed` logger in the process running it."""
    return logging.getLogger("distributed").getEffectiveLevel()


def test_dask_logs_only_warnings_here_and_on_the_workers_and_the_log_links_the_dashboard(caplog):
    caplog.set_level(logging.INFO, logger="ml_lifecycle.compute")
    with dask_client(ComputeConfig(scheduler="local-cluster:1", dashboard=True)) as client:
        assert run_tasks(client, distributed_log_level, [None], {}, retries=0) == [logging.WARNING]
        link = re.search(r"dashboard (http://127\.0\.0\.1:\d+/status)", caplog.text)
        assert link is not None and urllib.request.urlopen(link[1], timeout=60).status == 200
    assert [r.getMessage() for r in caplog.records if r.name.startswith("distributed") and r.levelno < logging.WARNING] == []


def _pipeline_reading_compute() -> Pipeline:
    return Pipeline([Node(scaled, ["params:item", "params:compute"], "scaled", name="scale")])


def test_the_hook_opens_one_cluster_for_the_run_that_nodes_reuse_and_closes_it_after():
    config = ComputeConfig(scheduler="local-cluster:1", dashboard=False)
    catalog = DataCatalog()
    catalog["params:compute"] = config
    hook = ComputeHook()
    hook.before_pipeline_run({}, _pipeline_reading_compute(), catalog)
    try:
        with dask_client(config) as first, dask_client(config) as second:
            assert first is second and first.status == "running"
    finally:
        hook.after_pipeline_run()
    assert first.status == "closed"


def test_a_bad_address_variable_stops_the_run_before_any_node(monkeypatch):
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "scheduler:8786")
    catalog = DataCatalog()
    catalog["params:compute"] = ComputeConfig()
    with pytest.raises(ValueError, match="DASK_SCHEDULER_ADDRESS='scheduler:8786'"):
        ComputeHook().before_pipeline_run({}, _pipeline_reading_compute(), catalog)
