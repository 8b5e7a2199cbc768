"""Load test of the prediction service: concurrent clients on loopback for a bounded time.

Starts the real service (uvicorn, as `make serve` does) on a temporary copy of the project (the
repository's request log is left untouched), drives `POST /predict` with one row per request
from `--clients` threads for `--seconds`, and reports throughput, latency percentiles, errors
(must be zero) and the service's resident memory after warm-up and at the end (growth must stay
within `--max-growth-mib`). Exits 1 when either check fails. Needs a champion (`make run` first).

usage: .venv/bin/python benchmarks/load.py [--clients 8] [--seconds 30] [--max-growth-mib 25]
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.serving import (  # noqa: E402
    as_records,
    copied_project,
    running_service,
    service_arguments,
    test_file_rows,
)


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


def drive(url: str, rows: list[dict], clients: int, seconds: float) -> tuple[list[float], list[str], float]:
    """Run `clients` threads for `seconds`; return latencies (ms), errors and wall seconds."""
    latencies: list[float] = []
    errors: list[str] = []
    stop = time.monotonic() + seconds
    threads = [threading.Thread(target=client, args=(url, rows, stop, latencies, errors, k * 97)) for k in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors, time.perf_counter() - started


def main() -> None:
    parser = service_arguments(__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--max-growth-mib", type=float, default=25, help="allowed RSS growth from warm-up to the end")
    args = parser.parse_args()

    with copied_project(args.project, args.env) as (project, context, spec):
        rows = as_records(test_file_rows(context, spec), spec)[:2000]
        with running_service(project, args.env) as (port, pid):
            url = f"http://127.0.0.1:{port}"
            memory = psutil.Process(pid)
            drive(url, rows, args.clients, min(5.0, args.seconds))  # warm-up: caches, log tables, thread pools
            rss_before = memory.memory_info().rss / 2**20
            latencies, errors, elapsed = drive(url, rows, args.clients, args.seconds)
            rss_after = memory.memory_info().rss / 2**20

    p50, p99 = np.percentile(latencies, [50, 99])
    growth = rss_after - rss_before
    print(f"{args.clients} clients x {args.seconds:.0f} s on loopback, one row per request")
    print(f"requests: {len(latencies)}, throughput {len(latencies) / elapsed:.0f} req/s, "
          f"latency p50 {p50:.2f} ms, p99 {p99:.2f} ms, errors {len(errors)} (must be 0)")
    print(f"service RSS: {rss_before:.0f} MiB after warm-up, {rss_after:.0f} MiB at the end "
          f"({growth:+.1f} MiB; allowed +{args.max_growth_mib:g} MiB)")
    if errors:
        print("first errors:", *errors[:5], sep="\n  ")
    if errors or growth > args.max_growth_mib:
        sys.exit(1)


if __name__ == "__main__":
    main()
