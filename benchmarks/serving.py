"""Benchmark serving: one-row latency through the real HTTP server, and batch inference throughput.

Works on a temporary copy of the project's configuration, raw data and model registry
(the repository's request log and registry are left untouched), so run `make run` (or at least
`kedro run --pipeline=inference`) first. It prints:

- one-row latency p50 / p95 / p99 and throughput of `POST /predict` through uvicorn started as
  `make serve` starts it, on a free loopback port, one client, keep-alive, a bounded loop;
  next to the in-process cost of the same rows (the service's path, `DeployedModel.score_records`,
  and `predict_proba` alone on prepared one-row frames), with the ratio;
- the same HTTP loop with a challenger scored in shadow, to show what shadowing adds;
- batch inference rows/s (the inference pipeline's scoring node: validation, preparation,
  scoring, output table) next to raw `predict_proba` rows/s on the prepared rows, the two
  measured in turn several times and compared by their medians (the first, cold run of the
  node is shown too); then `kedro run --pipeline=inference` end to end on a CSV of those rows,
  next to the same command on 200 rows (Kedro start-up and deploying the champion).

Targets on 2 cores: p50 <= 3 ms and p99 <= 10 ms for one row; batch >= 100k rows/s and >= 0.5x raw.

usage: .venv/bin/python benchmarks/serving.py [--project .] [--env adult] [--requests 3000] [--batch-rows 200000]
       [--batch-repeats 5]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ml_lifecycle import rows  # noqa: E402
from ml_lifecycle.batch_scoring import InferenceConfig, score_new_rows  # noqa: E402
from ml_lifecycle.bundle import ModelBundle  # noqa: E402
from ml_lifecycle.deployment import DeployedModel  # noqa: E402
from ml_lifecycle.project import project_context  # noqa: E402
from ml_lifecycle.registry import ModelRegistry, ReleaseCandidate, ReleaseInfo  # noqa: E402
from ml_lifecycle.serving.app import load_live  # noqa: E402
from ml_lifecycle.spec import ProblemSpec  # noqa: E402
from tests.conftest import copy_project  # noqa: E402

SAVED_LAYERS = ["06_models/model_registry"]  # a bundle needs nothing else to be served


def free_port() -> int:
    """Return a loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def percentiles(milliseconds: list[float]) -> str:
    """Return p50 / p95 / p99 of a list of durations."""
    p50, p95, p99 = np.percentile(milliseconds, [50, 95, 99])
    return f"p50 {p50:.2f} ms, p95 {p95:.2f} ms, p99 {p99:.2f} ms"


def bounded(calls: list[Callable[[], Any]], max_seconds: float) -> list[float]:
    """Return the duration of each call in milliseconds, stopping early after `max_seconds`."""
    durations: list[float] = []
    stop = time.perf_counter() + max_seconds
    for call in calls:
        start = time.perf_counter()
        call()
        durations.append((time.perf_counter() - start) * 1000)
        if start > stop:
            break
    return durations


def project_copy(source: Path, destination: Path, env: str) -> Path:
    """Copy what serving needs (configuration, raw data, the environment's saved layers) into `destination`."""
    copy_project(destination, repo_root=source)
    for layer in SAVED_LAYERS:
        if not (source / "data" / env / layer).exists():
            sys.exit(f"{source / 'data' / env / layer} is missing: run `make run` first")
        shutil.copytree(source / "data" / env / layer, destination / "data" / env / layer, dirs_exist_ok=True)
    return destination


def service_arguments(description: str) -> argparse.ArgumentParser:
    """Return a parser with the options every service benchmark takes: the project and its environment."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--project", type=Path, default=REPO, help="Kedro project with a champion (default: this repository)")
    parser.add_argument("--env", default="adult", help="Kedro environment (default: adult)")
    return parser


def cpu_model() -> str:
    """Return the CPU's model name from /proc/cpuinfo, or the platform's processor string where there is none."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


@contextmanager
def copied_project(source: Path, env: str) -> Iterator[tuple[Path, Any, ProblemSpec]]:
    """Print the machine, copy the project into a temporary folder and work there; yield it, its context and spec."""
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPU(s) ({cpu_model()}), Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as folder:
        project = project_copy(source.resolve(), Path(folder) / "project", env)
        os.chdir(project)  # the catalog's relative paths resolve against the working folder
        context = project_context(project, env)
        yield project, context, ProblemSpec.model_validate(context.params["problem"])


def test_file_rows(context: Any, spec: ProblemSpec) -> pd.DataFrame:
    """Return the raw rows of the problem's test file (every value text, as a file of new rows would hold them)."""
    raw = rows.read_raw_table(context.catalog.load("raw_files")[spec.raw.test_file](), spec.raw.test_file, spec)
    return rows.standardise(raw, spec, spec.raw.test_file, label_optional=True)


def as_records(standardised: pd.DataFrame, spec: ProblemSpec) -> list[dict[str, Any]]:
    """Return rows as API records: numbers as JSON numbers, missing values as null."""
    typed = rows.cast_features(standardised, spec)
    return [{k: (None if pd.isna(v) else v) for k, v in record.items()} for record in typed.astype(object).to_dict("records")]


@contextmanager
def running_service(project: Path, env: str) -> Iterator[tuple[int, int]]:
    """Run the service as `make serve` does (`python -m ml_lifecycle.serving`), on a free loopback port; yield the port and the process id."""
    port = free_port()
    log = (project / f"service-{port}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "ml_lifecycle.serving", "--host", "127.0.0.1", "--port", str(port), "--env", env],
        cwd=project, env=os.environ | {"KEDRO_ENV": env, "KEDRO_DISABLE_TELEMETRY": "true"}, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 240
        while True:
            if process.poll() is not None:
                sys.exit(f"the service exited: {(project / f'service-{port}.log').read_text()[-3000:]}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/health")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                sys.exit("the service did not become healthy in 240 s")
            time.sleep(0.3)
        yield port, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def http_loop(port: int, bodies: list[bytes], requests: int, max_seconds: float,
              extra_headers: dict[str, str] | None = None) -> tuple[list[float], float]:
    """POST one-row bodies over one keep-alive connection; return per-request milliseconds and wall seconds."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"content-type": "application/json", **(extra_headers or {})}

    def post(body: bytes) -> None:
        connection.request("POST", "/predict", body=body, headers=headers)
        response = connection.getresponse()
        answer = response.read()
        if response.status != 200:
            sys.exit(f"POST /predict answered {response.status}: {answer[:300]!r}")

    for body in bodies[:200]:  # warm-up, not measured
        post(body)
    latencies: list[float] = []
    started = time.perf_counter()
    stop = started + max_seconds
    for i in range(requests):
        start = time.perf_counter()
        post(bodies[i % len(bodies)])
        latencies.append((time.perf_counter() - start) * 1000)
        if start > stop:
            break
    wall = time.perf_counter() - started
    connection.close()
    return latencies, wall


def add_shadow_challenger(project: Path, env: str, champion: DeployedModel) -> str:
    """Register a copy of the champion in the copy's registry and serve it in shadow (the copy's config only)."""
    registry = ModelRegistry(project / "data" / env / "06_models" / "model_registry")
    info = champion.manifest.model_dump(include=set(ReleaseInfo.model_fields)) | {"description": "benchmark shadow copy"}
    version = registry.register(ReleaseCandidate(bundle=ModelBundle(recipe=champion.bundle.recipe, model=champion.model),
                                                 info=ReleaseInfo.model_validate(info))).version
    conf = project / "conf" / env / "parameters_serving_benchmark.yml"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(yaml.safe_dump({"serving": {"challenger": {"version": version, "mode": "shadow"}}}))
    return version


def timed_inference_run(project: Path, env: str, input_path: Path, output_path: Path) -> float:
    """Run `kedro run --pipeline=inference` on `input_path` in the project; return its wall seconds."""
    command = [str(Path(sys.executable).with_name("kedro")), "run", "--pipeline=inference", f"--env={env}",
               f"--params=input_path={input_path},output_path={output_path}"]
    start = time.perf_counter()
    finished = subprocess.run(command, cwd=project, capture_output=True, text=True, check=False,
                              env=os.environ | {"KEDRO_DISABLE_TELEMETRY": "true"})
    seconds = time.perf_counter() - start
    if finished.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{finished.stderr[-3000:]}")
    return seconds


def measure_one_row(project: Path, env: str, champion: DeployedModel, records: list[dict[str, Any]], spec: ProblemSpec,
                    requests: int, max_seconds: float) -> None:
    """Print one-row latency in process and through the HTTP server, without and with a shadow challenger."""
    bodies = [json.dumps(record).encode() for record in records]
    prepared = [champion.model_rows_from_records([r], spec)[0] for r in records]
    for record, frame in zip(records[:20], prepared[:20], strict=True):  # warm-up, not measured
        champion.score_records([record], spec)
        champion.model.predict_proba(frame)
    service_path = bounded([lambda r=r: champion.score_records([r], spec) for r in records], max_seconds)
    raw_single = bounded([lambda f=f: champion.model.predict_proba(f) for f in prepared], max_seconds)
    print(f"in process, one row ({len(service_path)} rows): the service's path (preparation + scoring, "
          f"{'object array' if champion.scores_arrays else 'frame'}) {percentiles(service_path)}")
    print(f"in process, one row ({len(raw_single)} rows): predict_proba alone on prepared one-row frames {percentiles(raw_single)}")

    with running_service(project, env) as (port, _):
        latencies, wall = http_loop(port, bodies, requests, max_seconds)
    p50_http = float(np.percentile(latencies, 50))
    print(f"HTTP POST /predict, one row, {len(latencies)} requests, 1 client, keep-alive: {percentiles(latencies)}, "
          f"throughput {len(latencies) / wall:.0f} req/s")
    print(f"  ratio HTTP p50 / in-process predict_proba p50: {p50_http / float(np.percentile(raw_single, 50)):.1f}x; "
          f"HTTP p50 - in-process service path p50: {p50_http - float(np.percentile(service_path, 50)):.2f} ms "
          f"(targets: p50 <= 3 ms, p99 <= 10 ms)")

    shadow = add_shadow_challenger(project, env, champion)
    with running_service(project, env) as (port, _):
        shadowed, wall = http_loop(port, bodies, requests, max_seconds)
    print(f"HTTP POST /predict with challenger {shadow} in shadow: {percentiles(shadowed)}, "
          f"throughput {len(shadowed) / wall:.0f} req/s "
          f"(p50 {float(np.percentile(shadowed, 50)) - p50_http:+.2f} ms vs no challenger)")


def raw_bytes(batch: pd.DataFrame, spec: ProblemSpec) -> bytes:
    """Return raw rows as a file in the problem's raw format (header-less when it declares its column names)."""
    return batch.to_csv(index=False, header=spec.raw.column_names is None, sep=spec.raw.separator).encode(spec.raw.encoding)


def measure_batch(batch: pd.DataFrame, champion: DeployedModel, spec: ProblemSpec, repeats: int) -> None:
    """Print the inference node's rows/s next to raw `predict_proba` on the prepared rows, measured in turn."""
    config = InferenceConfig(input_path="benchmark rows", output_path="-", rejects_path="-")
    content = raw_bytes(batch, spec)
    model_rows = champion.bundle.model_rows(
        rows.cast_features(rows.standardise(batch, spec, "benchmark rows", label_optional=True), spec), spec)
    node_seconds, raw_seconds = [], []
    for _ in range(repeats):  # interleaved, so both see the same machine state
        start = time.perf_counter()
        predictions, rejects, _ = score_new_rows(content, champion, spec, config)
        node_seconds.append(time.perf_counter() - start)
        start = time.perf_counter()
        champion.model.predict_proba(model_rows)
        raw_seconds.append(time.perf_counter() - start)
    node_rate, raw_rate = len(batch) / np.median(node_seconds), len(batch) / np.median(raw_seconds)
    ratios = np.array(raw_seconds) / np.array(node_seconds)
    print(f"batch inference ({len(batch)} rows, {len(predictions)} scored, {len(rejects)} rejected), median of "
          f"{repeats} runs: {node_rate:,.0f} rows/s (first run {len(batch) / node_seconds[0]:,.0f}); "
          f"raw predict_proba on prepared rows {raw_rate:,.0f} rows/s; ratio {node_rate / raw_rate:.2f}x "
          f"(per run {ratios.min():.2f}-{ratios.max():.2f}x; targets: >= 100,000 rows/s and >= 0.5x raw)")


def measure_batch_end_to_end(project: Path, env: str, batch: pd.DataFrame, spec: ProblemSpec, small_rows: int = 200) -> None:
    """Print the wall time of `kedro run --pipeline=inference` on a CSV of `batch`, next to the same run on a few rows."""
    folder = project / "data" / "01_raw"  # raw input, shared by problems
    big_input, small_input = folder / "benchmark_rows.csv", folder / "benchmark_few_rows.csv"
    big_input.write_bytes(raw_bytes(batch, spec))
    small_input.write_bytes(raw_bytes(batch.iloc[:small_rows], spec))
    output = project / "data" / env / "07_model_output" / "benchmark_scored.csv"
    fixed = timed_inference_run(project, env, small_input, output)
    whole = timed_inference_run(project, env, big_input, output)
    print(f"kedro run --pipeline=inference (start-up, deploy, CSV read, scoring, CSV writes): {small_rows} rows {fixed:.1f} s; "
          f"{len(batch)} rows {whole:.1f} s, i.e. {len(batch) / (whole - fixed):,.0f} rows/s beyond the {small_rows}-row run")


def main() -> None:
    parser = service_arguments(__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="one-row requests per HTTP loop")
    parser.add_argument("--max-seconds", type=float, default=60, help="upper bound on each HTTP loop")
    parser.add_argument("--batch-rows", type=int, default=200_000, help="rows of the batch inference measurement")
    parser.add_argument("--batch-repeats", type=int, default=5, help="batch measurements (the median is reported)")
    args = parser.parse_args()

    with copied_project(args.project, args.env) as (project, context, spec):
        champion = load_live(context, spec).champion
        print(f"champion {champion.version}: {champion.manifest.model} ({champion.manifest.stage}), "
              f"threshold {champion.threshold:g}")
        records = as_records(test_file_rows(context, spec), spec)[:1000]
        measure_one_row(project, args.env, champion, records, spec, args.requests, args.max_seconds)
        raw = rows.read_raw_table(context.catalog.load("raw_files")[spec.raw.test_file](), spec.raw.test_file, spec)
        batch = raw.sample(n=args.batch_rows, replace=True, random_state=spec.seed).reset_index(drop=True)
        measure_batch(batch, champion, spec, args.batch_repeats)
        measure_batch_end_to_end(project, args.env, batch, spec)


if __name__ == "__main__":
    main()
