"""Benchmark one monitoring batch's Evidently reports as the batch grows: time, peak memory, growth.

A batch of N rows is resampled (seeded) from the test file's validated rows of this repository's
last data_processing run, scored by the registry champion, and given the pipeline's own per-batch
report (drift + data summary + classification + the declared tests), rendered to HTML and JSON,
against the saved monitoring reference. Each size runs in a fresh process, so its peak memory
(resident set, sampled every 10 ms, above the level before the report) is its own.
Needs a saved run: `make run` (or `kedro run --pipeline=modeling`) first.

usage: .venv/bin/python benchmarks/monitoring.py [--env adult] [--project PATH] [--with-1m]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ml_lifecycle import evidently_glue  # noqa: E402
from ml_lifecycle import rows as row_steps  # noqa: E402
from ml_lifecycle.deployment import deploy  # noqa: E402
from ml_lifecycle.pipelines.monitoring import calibration, checks  # noqa: E402
from ml_lifecycle.pipelines.monitoring.config import MonitoringConfig  # noqa: E402
from ml_lifecycle.spec import ProblemSpec  # noqa: E402
from tests.conftest import project_catalog  # noqa: E402

SIZES = [10_000, 50_000, 200_000]


def measure(rows: int, env: str, project: Path) -> dict[str, float]:
    """Return seconds and peak memory increase (MiB) of one batch's reports at `rows` rows."""
    catalog = project_catalog(project, env=env)
    spec = ProblemSpec.model_validate(catalog.load("params:problem"))
    config = MonitoringConfig.model_validate(catalog.load("params:monitoring"))
    champion = deploy(catalog.load("champion_bundle"), spec)
    validated = catalog.load("validated_rows")
    pool = validated[validated[row_steps.SOURCE_COLUMN] == f"{spec.raw.folder}/{spec.raw.test_file}"]
    batch = pool.sample(n=rows, replace=True, random_state=spec.seed).drop(columns=row_steps.SOURCE_COLUMN)
    batch = batch.reset_index(drop=True).assign(batch="benchmark", source="benchmark", scenario="clean", scenario_detail="",
                                                 batch_time=None, labelled=True)
    scored = checks.score_reference(batch, champion, spec)
    reference = checks.score_reference(catalog.load("monitoring_reference"), champion, spec)
    # The drift limits are calibrated once per batch size in a run; the report timing below leaves that out.
    limits = calibration.calibrate_drift_limits(pd.concat([scored, scored.head(500).assign(batch="warm-up")]), reference,
                                                config, spec)
    checks._batch_report(scored.head(500), reference, champion, limits, config, spec)  # warm-up: imports and first-call costs

    process, peak, done = psutil.Process(), [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.01)

    before = process.memory_info().rss
    sampler = threading.Thread(target=sample)
    sampler.start()
    start = time.perf_counter()
    snapshot, _ = checks._batch_report(scored, reference, champion, limits, config, spec)
    evidently_glue.snapshot_html(snapshot)
    evidently_glue.snapshot_json(snapshot)
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    return {"rows": rows, "seconds": seconds, "peak_mib": max(peak[0] - before, 0) / 2**20,
            "data_summary": config.data_summary}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="adult", help="Kedro environment whose saved run is used (default: adult, the full data)")
    parser.add_argument("--project", type=Path, default=REPO, help="project folder with the saved run (default: this repository)")
    parser.add_argument("--with-1m", action="store_true", help="also run 1,000,000 rows (minutes, several GiB)")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: measure one size in this process
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.env, args.project)))
        return
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPU(s), Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    results = []
    for rows in [*SIZES, *([1_000_000] if args.with_1m else [])]:
        command = [sys.executable, __file__, "--env", args.env, "--project", str(args.project), "--one", str(rows)]
        completed = subprocess.run(command, capture_output=True,
                                   text=True, check=False, env=os.environ | {"KEDRO_DISABLE_TELEMETRY": "true"})
        if completed.returncode != 0:
            sys.exit(f"{rows} rows failed:\n{completed.stderr[-3000:]}")
        results.append(json.loads(completed.stdout.strip().splitlines()[-1]))
        result = results[-1]
        growth = ""
        if len(results) > 1:
            previous = results[-2]
            growth = (f"  x{result['rows'] / previous['rows']:.0f} rows -> x{result['seconds'] / previous['seconds']:.1f} time, "
                      f"x{result['peak_mib'] / max(previous['peak_mib'], 1):.1f} memory")
        print(f"{result['rows']:>9,} rows: {result['seconds']:7.1f} s ({1e5 * result['seconds'] / result['rows']:5.2f} s per 100k rows), "
              f"peak +{result['peak_mib']:7.0f} MiB{growth}", flush=True)
    fifty = next(r for r in results if r["rows"] == 50_000)
    print(f"report: drift + {'data summary + ' if results[0]['data_summary'] else ''}classification + declared tests, HTML and JSON; "
          f"50k rows in {fifty['seconds']:.1f} s (target <= 10 s on 2 cores)")


if __name__ == "__main__":
    main()
