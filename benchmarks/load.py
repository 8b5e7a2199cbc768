"""Load test of the prediction service: concurrent clients on loopback for a bounded time.

Starts the real service (uvicorn, as `make serve` does) from this project, drives `POST /predict`
with one row per request from `clients` threads for `seconds`, and reports throughput, latency
percentiles, errors (must be zero) and the service's resident memory before and after.
Needs a champion in the registry (`make run` first).

usage: .venv/bin/python benchmarks/load.py [--clients 8] [--seconds 30]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest import project_catalog  # noqa: E402


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def request_rows(limit: int = 2000) -> list[dict]:
    """Return raw-format rows of the official test file as JSON rows (missing values as null)."""
    catalog = project_catalog(REPO, env="local")
    spec = catalog.load("params:problem")
    rows = catalog.load("validated_rows")
    rows = rows[rows["source_file"].str.endswith(spec.raw.test_file)].head(limit)[spec.features]
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
            for r in rows.astype(object).to_dict("records")]


def wait_healthy(url: str, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"the service exited with code {process.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    sys.exit("the service did not become healthy")


def client(url: str, rows: list[dict], stop: float, latencies: list[float], errors: list[str], offset: int) -> None:
    """Send one-row requests until `stop`, recording latencies (ms) and any non-200 answer."""
    with httpx.Client(base_url=url, timeout=10) as http:
        i = offset
        while time.monotonic() < stop:
            start = time.perf_counter()
            try:
                response = http.post("/predict", json=rows[i % len(rows)])
                if response.status_code != 200:
                    errors.append(f"{response.status_code}: {response.text[:200]}")
            except httpx.HTTPError as error:
                errors.append(repr(error))
            latencies.append((time.perf_counter() - start) * 1000)
            i += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPU(s), Python {platform.python_version()}")
    rows = request_rows()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    service = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "ml_lifecycle.serving.app:create_app", "--factory",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        cwd=REPO, env=os.environ | {"KEDRO_DISABLE_TELEMETRY": "true"},
    )
    try:
        wait_healthy(url, service)
        memory = psutil.Process(service.pid)
        for row in rows[:200]:  # warm-up, outside the measurement
            httpx.post(f"{url}/predict", json=row, timeout=10)
        rss_before = memory.memory_info().rss / 2**20
        latencies: list[float] = []
        errors: list[str] = []
        stop = time.monotonic() + args.seconds
        threads = [threading.Thread(target=client, args=(url, rows, stop, latencies, errors, k * 97))
                   for k in range(args.clients)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        rss_after = memory.memory_info().rss / 2**20
    finally:
        service.terminate()
        service.wait(timeout=30)
    p50, p99 = np.percentile(latencies, [50, 99])
    print(f"{args.clients} clients x {args.seconds:.0f} s on loopback, one row per request")
    print(f"requests: {len(latencies)}, throughput {len(latencies) / elapsed:.0f} req/s, "
          f"latency p50 {p50:.2f} ms, p99 {p99:.2f} ms, errors {len(errors)}")
    print(f"service RSS: {rss_before:.0f} MiB before, {rss_after:.0f} MiB after "
          f"({rss_after - rss_before:+.1f} MiB, {100 * (rss_after / rss_before - 1):+.1f} %)")
    if errors:
        print("first errors:", *errors[:5], sep="\n  ")
        sys.exit(1)


if __name__ == "__main__":
    main()
