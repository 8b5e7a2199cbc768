"""Real Dask clusters on loopback for tests: a LocalCluster, or a scheduler and workers started as `dask` commands."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from distributed import Client, LocalCluster

DASK = str(Path(sys.executable).with_name("dask"))
START_SECONDS = 120  # a loaded 2-core machine can take this long to start Python processes


@contextmanager
def local_cluster(workers: int = 2) -> Iterator[Client]:
    """Yield a client of a fresh LocalCluster (offline: loopback, no dashboard), closed afterwards."""
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield client


def _stop(process: subprocess.Popen) -> None:
    """End a process this module started: politely, then for good."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _scheduler_address(scheduler_file: Path, scheduler: subprocess.Popen, log: Path) -> str:
    """Return the address the scheduler wrote to its file once it listens (on a port the system chose)."""
    deadline = time.monotonic() + START_SECONDS
    while not scheduler_file.exists() or not scheduler_file.read_text().strip():
        if scheduler.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"dask scheduler did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    return json.loads(scheduler_file.read_text())["address"]


@contextmanager
def separate_cluster(folder: Path, workers: int = 2) -> Iterator[str]:
    """Yield the address of a `dask scheduler` and `workers` `dask worker` processes on loopback, no dashboard.

    The scheduler takes a free port (`--port 0`) and writes its address to a scheduler file;
    every process is ended afterwards, and their output is kept in `folder`.
    """
    scheduler_file = folder / "scheduler.json"
    with ExitStack() as stack:
        def start(name: str, arguments: list[str]) -> subprocess.Popen:
            log = stack.enter_context((folder / f"{name}.log").open("w"))
            process = subprocess.Popen([DASK, *arguments], stdout=log, stderr=subprocess.STDOUT)
            stack.callback(_stop, process)
            return process

        scheduler = start("scheduler", ["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                        "--scheduler-file", str(scheduler_file)])
        address = _scheduler_address(scheduler_file, scheduler, folder / "scheduler.log")
        for number in range(workers):
            start(f"worker-{number}", ["worker", address, "--host", "127.0.0.1", "--nthreads", "1", "--no-dashboard",
                                       "--name", f"worker-{number}"])
        with Client(address, timeout=START_SECONDS) as client:
            client.wait_for_workers(workers, timeout=START_SECONDS)
        yield address
