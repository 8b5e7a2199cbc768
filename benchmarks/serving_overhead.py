"""Benchmark what the service's own bookkeeping costs a one-row POST /predict: metrics and the requests table, and a token.

Starts the real service (as `make serve` does, helpers of benchmarks/serving.py) on a temporary
copy of the project three ways, one after the other, and sends each `--requests` sequential
one-row requests over one keep-alive connection after a 200-request warm-up:

- plain: `serving.metrics: false` (no Prometheus request counting or timing, no `requests` row);
- metrics: `serving.metrics: true`, the default (both of those, per request);
- metrics + token: also `serving.protect_predict: true`, the client sending the bearer token.

`--rounds` repeats the three in turn and pools each one's latencies, so a slow spell of the
machine does not fall on one variant only. Prints p50 / p99 per variant and their ratios to plain.
Needs a champion (`make run` first).

usage: .venv/bin/python benchmarks/serving_overhead.py [--project .] [--env adult] [--requests 2000] [--rounds 2]
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.serving import (  # noqa: E402
    as_records,
    copied_project,
    http_loop,
    running_service,
    service_arguments,
    test_file_rows,
)
from ml_lifecycle.serving.access import TOKEN_VARIABLE  # noqa: E402

# variant -> the `serving` settings it runs with
VARIANTS = {
    "plain": {"metrics": False, "protect_predict": False},
    "metrics": {"metrics": True, "protect_predict": False},
    "metrics + token": {"metrics": True, "protect_predict": True},
}


def serve_variant(project: Path, env: str, settings: dict[str, bool]) -> None:
    """Write the copy's serving settings for the next service start."""
    conf = project / "conf" / env / "parameters_serving_overhead.yml"
    conf.write_text(yaml.safe_dump({"serving": settings}))


def measure(project: Path, env: str, bodies: list[bytes], requests: int, rounds: int, token: str) -> dict[str, list[float]]:
    """Return each variant's one-row POST /predict latencies (ms), pooled over the rounds."""
    latencies: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(rounds):
        for name, settings in VARIANTS.items():
            serve_variant(project, env, settings)
            headers = {"Authorization": f"Bearer {token}"} if settings["protect_predict"] else None
            with running_service(project, env) as (port, _):
                measured, _ = http_loop(port, bodies, requests, max_seconds=120, extra_headers=headers)
            latencies[name] += measured
    return latencies


def print_table(latencies: dict[str, list[float]]) -> None:
    """Print p50 / p99 per variant and their ratios to the plain service."""
    plain_p50, plain_p99 = np.percentile(latencies["plain"], [50, 99])
    print("| variant | requests | p50 ms | p99 ms | p50 / plain | p99 / plain |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, measured in latencies.items():
        p50, p99 = np.percentile(measured, [50, 99])
        print(f"| {name} | {len(measured)} | {p50:.3f} | {p99:.3f} | {p50 / plain_p50:.2f}x | {p99 / plain_p99:.2f}x |")


def main() -> None:
    parser = service_arguments(__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="measured one-row requests per variant and round")
    parser.add_argument("--rounds", type=int, default=2, help="times the three variants are measured in turn")
    args = parser.parse_args()

    token = secrets.token_urlsafe(32)
    os.environ[TOKEN_VARIABLE] = token  # inherited by every service this script starts
    with copied_project(args.project, args.env) as (project, context, spec):
        bodies = [json.dumps(record).encode() for record in as_records(test_file_rows(context, spec), spec)[:1000]]
        latencies = measure(project, args.env, bodies, args.requests, args.rounds, token)
    print(f"one-row POST /predict, 1 client, keep-alive, {args.requests} requests x {args.rounds} round(s) per variant "
          "after a 200-request warm-up each")
    print_table(latencies)


if __name__ == "__main__":
    main()
