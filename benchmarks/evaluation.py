"""Benchmark `kedro run --pipeline=evaluation` alone, on the saved splits and champion of this repository.

Copies the project with its current `data/` into a temporary folder (the repository is left
untouched), runs the evaluation pipeline there, and prints wall time, peak memory and the
headline numbers. Run a modeling run first (`kedro run --pipeline=modeling`, or with
`--env test`): without a saved champion the timing would include modeling.

usage: .venv/bin/python benchmarks/evaluation.py [--env test]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest import copy_project, project_catalog  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="adult", help="Kedro environment (default: adult, the full data)")
    args = parser.parse_args()
    if not (REPO / "data" / args.env / "06_models" / "champion_model.pkl").exists():
        sys.exit("no saved champion: run `kedro run --pipeline=modeling` first")
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPU(s), Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as folder:
        project = copy_project(Path(folder) / "project")
        shutil.copytree(REPO / "data" / args.env, project / "data" / args.env)
        start = time.perf_counter()
        completed = subprocess.run([sys.executable, "-m", "kedro", "run", "--pipelines=evaluation", f"--env={args.env}"],
                                   cwd=project, env=os.environ | {"KEDRO_DISABLE_TELEMETRY": "true"},
                                   capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
        if completed.returncode != 0:
            sys.exit(f"evaluation run failed:\n{completed.stderr[-3000:]}")
        peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        target = 20 if args.env == "test" else 60
        print(f"kedro run --pipelines=evaluation --env={args.env}: {wall:.1f} s wall including Kedro start-up, "
              f"peak RSS {peak_mib:.0f} MiB (target: <= {target} s)")
        summary = project_catalog(project, env=args.env).load("evaluation_summary")
        test, gap = summary["test"], summary["largest_fairness_gap"]
        print(f"released {summary['description']}")
        release = summary["release"]
        print(f"registry {release['version']} {release['decision']}: release gate {release['gate']}")
        print(f"test ({summary['test_rows']} rows): " + ", ".join(f"{k} {v:.4f}" for k, v in test.items()))
        if summary["best_baseline"]:
            print("best baseline: " + ", ".join(f"{k} {v}" for k, v in summary["best_baseline"].items()))
        print(f"calibration: {summary['calibration_reason']}")
        if gap:
            print(f"largest fairness gap: {gap['value']:.3f} ({gap['slice_column']}, {gap['metric']})")
        print(f"possible leaks: {summary['possible_leaks'] or 'none'}; behavioural failures: "
              f"{summary['behavioural_failures'] or 'none'}")
        conf, serving = summary["confidence"], summary["serving"]
        print(f"low confidence: {conf['low_confidence_share']:.1%} of rows, error rate {conf['low_confidence_error_rate']:.3f}")
        print(f"predict: {serving['predict_ms_per_1000_rows']:.1f} ms / 1,000 rows, {serving['single_row_predict_ms']:.2f} ms / row, "
              f"{serving['size_bytes'] / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
