"""Benchmark scaling: model selection `local` vs `local-cluster:2`, and batch scoring pandas vs block by block (Dask).

Works in a temporary copy of the project (configuration, raw data and the environment's model
registry; run `make run` first) and prints:

- `kedro run --pipeline=modeling` wall time and peak memory with `compute.scheduler: local` and
  with `local-cluster:2` on the default data (data preparation run once before both), and
  whether the two leaderboards and champions are identical;
- batch scoring of N rows resampled (with replacement, seeded) from the raw training file, for
  each N of `--rows`: `kedro run --pipeline=inference` (pandas, whole file in memory) and
  `kedro run --pipeline=inference_partitioned` (Dask blocks, default `local` scheduler), each in
  its own process: wall seconds, rows/s, peak RSS of the process tree, and whether the two
  summaries agree;
- with `--pipelines ... monitoring_partitioned`: `kedro run --pipeline=monitoring_partitioned` on
  the block path's predictions (statistics and drift from Dask counts, Evidently on the sample):
  wall seconds, rows/s, peak RSS and the drift verdict.

Peak RSS is sampled every 50 ms over the `kedro` process and its children (cluster workers too).

usage: .venv/bin/python benchmarks/scale.py [--env adult] [--rows 1000000 5000000] [--skip-modeling]
       [--skip-scoring] [--blocksize 16MiB] [--pipelines inference inference_partitioned [monitoring_partitioned]]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest import copy_project, project_catalog  # noqa: E402

KEDRO = str(Path(sys.executable).with_name("kedro"))
RESULT_COLUMNS = ["rank", "model", "role", "log_loss_mean", "roc_auc_mean", "eligible"]
SUMMARY_KEYS = ["rows", "scored", "rejected", "positive_share", "low_confidence_share"]


def monitored_run(arguments: list[str], project: Path) -> tuple[float, float]:
    """Run `kedro <arguments>` in the project; return wall seconds and peak RSS (MiB) of its process tree.

    Prints the machine's 1-minute load average before and after: other work on the machine slows a run.
    """
    print(f"  (load average {os.getloadavg()[0]:.1f} before kedro {arguments[1]})", flush=True)
    start = time.perf_counter()
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen([KEDRO, *arguments], cwd=project, stdout=log, stderr=subprocess.STDOUT,
                                   env=os.environ | {"KEDRO_DISABLE_TELEMETRY": "true"})
        watched, peak = psutil.Process(process.pid), 0
        while process.poll() is None:
            try:
                tree = [watched, *watched.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
            except psutil.NoSuchProcess:
                pass
            time.sleep(0.05)
        seconds = time.perf_counter() - start
        print(f"  (load average {os.getloadavg()[0]:.1f} after)", flush=True)
        if process.returncode != 0:
            log.seek(0)
            sys.exit(f"kedro {' '.join(arguments)} failed:\n{log.read().decode()[-4000:]}")
    return seconds, peak / 2**20


def compare_modeling(project: Path, env: str) -> None:
    """Time modeling locally and on a two-worker LocalCluster from the same splits; say whether the results agree."""
    seconds, peak = monitored_run(["run", "--pipeline=data_processing", f"--env={env}"], project)
    print(f"data preparation (once, before both): {seconds:.0f} s")
    results = {}
    for scheduler in ("local", "local-cluster:2"):
        seconds, peak = monitored_run(["run", "--pipeline=modeling", f"--env={env}",
                                       f"--params=compute.scheduler={scheduler}"], project)
        catalog = project_catalog(project, env)
        results[scheduler] = (catalog.load("leaderboard")[RESULT_COLUMNS], catalog.load("champion_selection").champion)
        print(f"modeling, compute.scheduler={scheduler}: {seconds:.0f} s wall, peak RSS {peak:.0f} MiB "
              f"(process tree), champion {results[scheduler][1]}")
    (local_board, local_champion), (cluster_board, cluster_champion) = results.values()
    local_board, cluster_board = (board.sort_values("model", ignore_index=True) for board in (local_board, cluster_board))
    same_rows = local_board[["rank", "model", "role", "eligible"]].equals(cluster_board[["rank", "model", "role", "eligible"]])
    largest = {c: float((local_board[c] - cluster_board[c]).abs().max()) for c in ("log_loss_mean", "roc_auc_mean")}
    print(f"same champion: {local_champion == cluster_champion}; same models, ranks, roles and eligibility: {same_rows}; "
          "largest difference local vs cluster: " + ", ".join(f"{c} {d:.2e}" for c, d in largest.items()))
    if not same_rows or max(largest.values()) > 0:
        print(pd.concat({"local": local_board, "local-cluster:2": cluster_board}, axis=1).to_string())


def resampled_file(raw_file: Path, rows: int, destination: Path, seed: int = 0) -> Path:
    """Write `rows` lines drawn with replacement from the raw file's data lines; return the file."""
    lines = np.array([line for line in raw_file.read_bytes().split(b"\n") if line.strip()], dtype=object)
    rng = np.random.default_rng(seed)
    with destination.open("wb") as handle:
        for start in range(0, rows, 500_000):
            handle.write(b"\n".join(lines[rng.integers(0, len(lines), min(500_000, rows - start))]) + b"\n")
    return destination


def latest_output(project: Path, env: str, name: str) -> dict:
    """Return the last saved version of a versioned JSON report of the project copy."""
    versions = sorted((project / "data" / env / "08_reporting" / name).iterdir())
    return json.loads((versions[-1] / name).read_text())


def compare_scoring(project: Path, env: str, rows: int, blocksize: str, work: Path, pipelines: list[str]) -> None:
    """Score `rows` resampled rows with the pandas pipeline and the block-by-block one; print both and whether they agree."""
    catalog = project_catalog(project, env)
    spec = catalog.load("params:problem")
    source = resampled_file(project / spec.raw.folder / spec.raw.train_file, rows, work / f"rows_{rows}.csv")
    print(f"\n{rows:,} rows ({source.stat().st_size / 2**20:.0f} MiB of CSV), blocksize {blocksize}")
    summaries = {}
    for label, pipeline, output in [path for path in (("pandas", "inference", work / f"scored_{rows}.csv"),
                                                      ("dask (local)", "inference_partitioned", work / f"scored_{rows}"))
                                    if path[1] in pipelines]:
        seconds, peak = monitored_run(["run", f"--pipeline={pipeline}", f"--env={env}",
                                       f"--params=input_path={source},output_path={output}"], project)
        summaries[label] = latest_output(project, env, "inference_summary.json")
        print(f"  {label:13s} {seconds:6.1f} s wall, {rows / seconds:9,.0f} rows/s end to end, peak RSS {peak:6.0f} MiB"
              + (f", {summaries[label]['partitions']} blocks" if "partitions" in summaries[label] else ""))
    if "monitoring_partitioned" in pipelines:
        seconds, peak = monitored_run(["run", "--pipeline=monitoring_partitioned", f"--env={env}",
                                       f"--params=output_path={work / f'scored_{rows}'}"], project)
        verdict = latest_output(project, env, "large_batch_summary.json")
        print(f"  {'monitoring':13s} {seconds:6.1f} s wall, {rows / seconds:9,.0f} rows/s end to end, peak RSS {peak:6.0f} MiB, "
              f"sample {verdict['sample_rows']:,} rows, drifted columns share {verdict['drifted_columns_share']:.3f} "
              f"(limit {verdict['drifted_columns_share_limit']:.3f}), calibrated at {verdict['calibrated_at_rows']:,} rows")
    if len(summaries) == 2:
        pandas_summary, dask_summary = summaries.values()
        print(f"  same rows scored, rejected, positive and low-confidence shares: "
              f"{all(pandas_summary[k] == dask_summary[k] for k in SUMMARY_KEYS)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="adult")
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--blocksize", default="16MiB")
    parser.add_argument("--skip-modeling", action="store_true")
    parser.add_argument("--skip-scoring", action="store_true")
    parser.add_argument("--pipelines", nargs="+", default=["inference", "inference_partitioned"],
                        choices=["inference", "inference_partitioned", "monitoring_partitioned"],
                        help="the scoring paths to measure (monitoring_partitioned needs inference_partitioned)")
    args = parser.parse_args()
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPU(s), {psutil.virtual_memory().total / 2**30:.0f} GiB, "
          f"Python {platform.python_version()}")
    registry = REPO / "data" / args.env / "06_models" / "model_registry"
    if not args.skip_scoring and not registry.exists():
        sys.exit(f"{registry.relative_to(REPO)} is missing: run `make run` first")
    with tempfile.TemporaryDirectory() as folder:
        project = copy_project(Path(folder) / "project")
        if not args.skip_modeling:
            compare_modeling(project, args.env)
        if not args.skip_scoring:
            # The repository's champion, so scoring does not depend on the modeling runs above.
            shutil.rmtree(project / "data" / args.env / "06_models" / "model_registry", ignore_errors=True)
            shutil.copytree(registry, project / "data" / args.env / "06_models" / "model_registry")
            catalog_file = project / "conf" / "base" / "catalog_deployment.yml"
            catalog_file.write_text(re.sub(r"blocksize: \S+", f"blocksize: {args.blocksize}", catalog_file.read_text()))
            for rows in args.rows:
                compare_scoring(project, args.env, rows, args.blocksize, Path(folder), args.pipelines)


if __name__ == "__main__":
    main()
