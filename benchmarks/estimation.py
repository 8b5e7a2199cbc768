"""How close estimated performance (CBPE) comes to the realised one on shifted batches of Adult's held-out rows.

Batches of 1,000+ rows are resampled (seeded) from the frozen holdout of the saved Adult run,
clean and under covariate shift and prior shift at three severities (the generated scenarios'
columns), scored by the registry champion. Printed per kind and severity: the mean and largest
|estimated - realised| for accuracy and ROC AUC, plain and prior-adjusted, against the aims
(<= 0.02 accuracy, <= 0.03 ROC AUC). Needs `make run` first.

usage: .venv/bin/python benchmarks/estimation.py [--batches 30] [--rows 1628]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from monitoring_power import Judge  # noqa: E402

from ml_lifecycle.evidently_glue import PROBABILITY  # noqa: E402
from ml_lifecycle.performance_estimation import (  # noqa: E402
    adjust_to_prior,
    expected_metrics,
    realised_metrics,
)
from ml_lifecycle.pipelines.monitoring import checks, scenarios  # noqa: E402
from ml_lifecycle.pipelines.monitoring.config import SimulationConfig  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=30, help="batches per kind and severity (default 30)")
    parser.add_argument("--rows", type=int, default=1628, help="rows per batch (default 1,628, the simulation's size)")
    args = parser.parse_args()
    os.environ["KEDRO_DISABLE_TELEMETRY"] = "true"
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPU(s), Python {platform.python_version()}")
    judge = Judge(REPO, "adult")
    judge.rows = args.rows
    spec, champion = judge.spec, judge.champion
    target, threshold = spec.target_column, champion.threshold
    prior = float(judge.reference[target].mean())
    shift = next(s for s in scenarios.generated_scenarios(judge.holdout, spec) if s.kind == "covariate_shift")
    kinds = {"clean": [{"kind": "clean"}],
             "covariate_shift": [{"kind": "covariate_shift", "toward": shift.toward, "share": s} for s in (0.35, 0.5, 0.8)],
             "prior_shift": [{"kind": "prior_shift", "positive_share": round(prior * f, 3)} for f in (0.5, 1.6, 2.5)]}
    rng = np.random.default_rng(spec.seed)
    print(f"champion {champion.version}, threshold {threshold:g}; {args.batches} batches of {args.rows} rows per line; "
          "|estimated - realised| mean (max); aims: accuracy <= 0.02, ROC AUC <= 0.03")
    for kind, steps in kinds.items():
        for scenario in SimulationConfig(scenarios=steps).scenarios:
            errors: dict[str, list[float]] = {"accuracy": [], "roc_auc": [], "adjusted accuracy": [], "adjusted roc_auc": []}
            for i in range(args.batches):
                batch = scenarios.apply_scenario(judge.sample(rng), scenario, spec, np.random.default_rng(i), kind)
                p = checks.score_reference(batch, champion, spec)[PROBABILITY].to_numpy()
                realised = realised_metrics(batch[target].astype(int).to_numpy(), p, threshold)
                estimated = expected_metrics(p, threshold)
                adjusted = expected_metrics(adjust_to_prior(p, prior)[0], threshold)
                for metric in ("accuracy", "roc_auc"):
                    errors[metric].append(abs(estimated[metric] - realised[metric]))
                    errors[f"adjusted {metric}"].append(abs(adjusted[metric] - realised[metric]))
            shown = "; ".join(f"{name} {np.mean(e):.3f} ({np.max(e):.3f})" for name, e in errors.items())
            print(f"  {scenario.describe():<45} {shown}")


if __name__ == "__main__":
    main()
