"""A real Dask LocalCluster on loopback for tests: two worker processes, one thread each, no dashboard."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from distributed import Client, LocalCluster


@contextmanager
def local_cluster(workers: int = 2) -> Iterator[Client]:
    """Yield a client of a fresh LocalCluster (offline: loopback, no dashboard), closed afterwards."""
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield client
