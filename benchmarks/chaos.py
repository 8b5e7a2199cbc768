"""Kill modeling, evaluation and the prediction service (SIGKILL) at random points N times; print what survived.

Works in a temporary copy of the project (environment `test`, the small sample, by default). After one
complete run of modeling and of evaluation, which counts their tasks, the rounds cycle through the three
targets in a shuffled order and kill each at a random point: a run a random 0-2 s after a random number
of its tasks completed (so machine load cannot let it finish first), the service a random 0.5-10 s after
it answers /health:

- a run: what readers see must be the last complete run (the run manifest, the version a reader's
  catalog loads for every published dataset, the report pages, the registry's champion and history,
  the experiment log's runs), or the new run when it published before the kill; and every store must
  be intact (`consistency_problems` of tests/test_chaos.py: published
  versions load, the experiment log and the request log pass `PRAGMA integrity_check`, every registry
  version loads against its recorded hash);
- the service, while a client posts predictions: the same stores must be intact and the service must
  start again and answer /health.

A last complete run then must leave none of the killed runs' versions, staging folders or locks.

usage: .venv/bin/python benchmarks/chaos.py [--kills 12] [--seed 0] [--env test]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ml_lifecycle.publishing import RUNS, read_manifest  # noqa: E402
from tests.conftest import copy_project, project_catalog  # noqa: E402
from tests.test_chaos import (  # noqa: E402
    consistency_problems,
    leftovers,
    page_bytes,
    reader_versions,
    store_view,
)

TARGETS = ("modeling", "evaluation", "service")
SERVICE_SECONDS = 10.0  # the service is killed uniformly within [0.5, this] seconds of serving
KEDRO_ENV = os.environ | {"KEDRO_DISABLE_TELEMETRY": "true", "COLUMNS": "200"}


def start_run(project: Path, pipeline: str, env: str, log_path: Path) -> subprocess.Popen:
    """Start `kedro run --pipeline=<pipeline>` in `project`, logging to `log_path`."""
    return subprocess.Popen([sys.executable, "-m", "kedro", "run", f"--pipeline={pipeline}", f"--env={env}"],
                            cwd=project, stdout=log_path.open("w"), stderr=subprocess.STDOUT, env=KEDRO_ENV)


def complete_run(project: Path, pipeline: str, env: str) -> int:
    """Run a pipeline to completion; return its number of tasks (exit with its log when it fails)."""
    log_path = project / f"{pipeline}.log"
    if start_run(project, pipeline, env, log_path).wait() != 0:
        sys.exit(f"`kedro run --pipeline={pipeline}` failed:\n{log_path.read_text()[-4000:]}")
    return int(re.findall(r"Completed \d+ out of (\d+) tasks", log_path.read_text())[-1])


def kill_run_at(project: Path, pipeline: str, env: str, tasks_done: int, seconds: float) -> bool:
    """Start a run and SIGKILL it `seconds` after its `tasks_done`-th task completed; return whether it ended first."""
    log_path = project / f"killed_{pipeline}.log"
    marker = f"Completed {tasks_done} out of" if tasks_done else "Running node:"
    process = start_run(project, pipeline, env, log_path)
    while marker not in log_path.read_text() and process.poll() is None:
        time.sleep(0.05)
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait()
        return False
    return True


def reader_view(project: Path, env: str) -> tuple:
    """Return what readers see: the run manifest, each published dataset's loaded version, the report pages, and the
    registry and experiment log."""
    return (read_manifest(project / "data" / env), reader_versions(project, env), page_bytes(project, env),
            store_view(project, env))


def free_port() -> int:
    """Return a free loopback port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_service(project: Path, env: str) -> tuple[subprocess.Popen, int]:
    """Start `python -m ml_lifecycle.serving` on a free port and wait until /health answers; return it and its port."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "ml_lifecycle.serving", "--host", "127.0.0.1", "--port", str(port),
                                "--env", env], cwd=project, stdout=(project / "service.log").open("a"),
                               stderr=subprocess.STDOUT, env=KEDRO_ENV | {"KEDRO_ENV": env})
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return process, port
        except OSError:
            time.sleep(0.3)
    process.kill()
    sys.exit(f"the service did not become healthy:\n{(project / 'service.log').read_text()[-3000:]}")


def post_until_refused(port: int, bodies: list[bytes], statuses: Counter[int]) -> None:
    """POST one-row predictions until the connection fails (the service was killed); count the answers' statuses."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        for i in range(10**9):
            connection.request("POST", "/predict", body=bodies[i % len(bodies)], headers={"content-type": "application/json"})
            response = connection.getresponse()
            response.read()
            statuses[response.status] += 1
    except (OSError, http.client.HTTPException):
        return


def prediction_bodies(project: Path, env: str) -> list[bytes]:
    """Return JSON bodies of single rows of the test split, without the label, for POST /predict."""
    catalog = project_catalog(project, env)
    spec = catalog.load("params:problem")
    rows = catalog.load("test_split")[spec.numeric_features + spec.categorical_features].head(200)
    return [json.dumps({k: (None if pd.isna(v) else v) for k, v in row.items()}, default=str).encode()
            for row in rows.astype(object).to_dict("records")]


def kill_service_after(project: Path, env: str, seconds: float, bodies: list[bytes]) -> str:
    """Serve, post predictions, SIGKILL the service after `seconds`, start it again; return what happened."""
    process, port = start_service(project, env)
    statuses: Counter[int] = Counter()
    client = threading.Thread(target=post_until_refused, args=(port, bodies, statuses), daemon=True)
    client.start()
    time.sleep(seconds)
    process.send_signal(signal.SIGKILL)
    process.wait()
    client.join(timeout=30)
    restarted, _ = start_service(project, env)
    restarted.terminate()
    restarted.wait(timeout=60)
    answers = ", ".join(f"{count} x {status}" for status, count in sorted(statuses.items())) or "none"
    return f"answers before the kill: {answers}; restarted and healthy"


def round_outcome(project: Path, env: str, target: str, point: tuple[int, float], before: tuple,
                  bodies: list[bytes]) -> tuple[str, list[str]]:
    """Kill `target` at `point` (tasks done, seconds); return what happened and the problems found (none: consistent)."""
    if target == "service":
        happened = kill_service_after(project, env, point[1], bodies)
        return happened, consistency_problems(project, env)
    ended = kill_run_at(project, target, env, *point)
    problems = consistency_problems(project, env)
    after = reader_view(project, env)
    if after[0].last_run != before[0].last_run:  # the manifest's rename, the commit, happened before the kill
        return "ended before the kill" if ended else "killed after its commit", problems
    problems += [f"{what} changed although the run never published"
                 for what, old, new in zip(("the run manifest", "readers' versions", "report pages",
                                            "the registry or the experiment log"), before, after, strict=True)
                 if old != new]
    return "ended without publishing" if ended else "killed before publishing", problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--env", default="test", help="Kedro environment (default: test, the small sample)")
    args = parser.parse_args()
    chooser = random.Random(args.seed)
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPU(s), Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f}; {args.kills} kills, seed {args.seed}, env {args.env}")
    with tempfile.TemporaryDirectory() as folder:
        project = copy_project(Path(folder) / "project")
        # Modeling runs data processing first (the upstream hook); later modeling runs do not.
        tasks = {pipeline: complete_run(project, pipeline, args.env) for pipeline in ("modeling", "evaluation")}
        bodies = prediction_bodies(project, args.env)
        print("tasks of a complete run: " + ", ".join(f"{name} {count}" for name, count in tasks.items()))
        targets = [TARGETS[number % len(TARGETS)] for number in range(args.kills)]
        chooser.shuffle(targets)
        tally: Counter[str] = Counter()
        killed_runs: list[str] = []
        for number, target in enumerate(targets, start=1):
            point = ((0, chooser.uniform(0.5, SERVICE_SECONDS)) if target == "service"
                     else (chooser.randrange(tasks[target]), chooser.uniform(0, 2)))
            before = reader_view(project, args.env)
            happened, problems = round_outcome(project, args.env, target, point, before, bodies)
            killed_runs += [path.stem for path in (project / "data" / args.env / RUNS).glob("2*.lock")]
            tally[f"{target}: {'consistent' if not problems else 'INCONSISTENT'}"] += 1
            where = f"{point[1]:.1f} s after /health" if target == "service" else f"{point[1]:.1f} s after task {point[0]}"
            print(f"{number:>3}. {target:<10} kill {where}: {happened}; "
                  + ("consistent" if not problems else "INCONSISTENT: " + "; ".join(problems)), flush=True)
        complete_run(project, "evaluation", args.env)
        left = leftovers(project, killed_runs, args.env)
        consistent = sum(count for key, count in tally.items() if key.endswith(": consistent"))
        print(f"{args.kills} kills, {consistent} consistent states ({', '.join(f'{k} {v}' for k, v in sorted(tally.items()))}); "
              f"after a complete run, {len(left)} leftovers of the {len(set(killed_runs))} killed runs"
              + (f": {[str(p) for p in left[:5]]}" if left else ""))


if __name__ == "__main__":
    main()
