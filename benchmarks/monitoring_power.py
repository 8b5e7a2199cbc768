"""Monitoring's false-alarm rate on clean batches and its power to detect each fault kind, for Adult and a generated problem.

For each problem, batches of the configured size (the held-out rows / the number of simulated
scenarios) are resampled (seeded) from the held-out test split and judged as the monitoring
pipeline judges them, with the same functions: drift against the limits calibrated on the
reference for that size (calibration.py), the quality tests (missing, new-category and
out-of-range shares) and the relative ROC AUC limit. Printed: the share of clean batches that
alarm, next to the declared per-batch rate; then the detection rate of every fault kind at three
severities (a power curve).

Adult needs a saved run (`make run`). The generated problem (the subscription table of
tests/test_own_problem_end_to_end.py) is made with `kedro problem init` and run in a temporary
copy of the project, with the test suite's smaller modeling settings (about a minute).

usage: .venv/bin/python benchmarks/monitoring_power.py [--clean 200] [--per-severity 50] [--skip-adult]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ml_lifecycle.deployment import DeployedModel, deploy  # noqa: E402
from ml_lifecycle.evidently_glue import PROBABILITY  # noqa: E402
from ml_lifecycle.pipelines.monitoring import calibration, checks, scenarios  # noqa: E402
from ml_lifecycle.pipelines.monitoring.config import MonitoringConfig, SimulationConfig  # noqa: E402
from ml_lifecycle.problem_init import init_problem  # noqa: E402
from ml_lifecycle.spec import ProblemSpec  # noqa: E402
from tests.conftest import (  # noqa: E402
    add_env,
    copy_project,
    inside_project,
    project_catalog,
    run_kedro,
)
from tests.test_own_problem_end_to_end import subscription_table  # noqa: E402


class Judge:
    """Judges one batch as the monitoring pipeline does: drift, quality and ROC AUC against their limits."""

    def __init__(self, project: Path, env: str) -> None:
        with inside_project(project):
            catalog = project_catalog(project, env)
            self.spec = ProblemSpec.model_validate(catalog.load("params:problem"))
            self.config = MonitoringConfig.model_validate(catalog.load("params:monitoring"))
            self.champion: DeployedModel = deploy(catalog.load("champion_bundle"), self.spec)
            self.reference = checks.score_reference(catalog.load("monitoring_reference"), self.champion, self.spec)
            self.holdout = catalog.load("frozen_holdout")
        self.rows = len(self.holdout) // len(self.declared_scenarios())
        self.limits = checks.DriftLimits.for_batch(
            calibration.calibrate_for_size(self.reference, calibration.calibration_rows(self.rows), self.config, self.spec),
            self.rows)
        self.methods = calibration.drift_methods(self.config, self.spec)

    def declared_scenarios(self) -> list:
        """Return the problem's scenarios: declared, or generated as the pipeline generates them."""
        declared = self.config.simulation.scenarios
        return declared if declared is not None else scenarios.generated_scenarios(self.holdout, self.spec)

    def alarms(self, batch: pd.DataFrame) -> dict[str, bool]:
        """Return which kinds of test alarm on a batch of held-out rows (features, banded columns, 0/1 target)."""
        spec, tests = self.spec, self.config.tests
        scored = checks.score_reference(batch, self.champion, spec)
        drifted = np.mean([calibration.drift_score(self.reference[c], scored[c], numeric, method) >= self.limits.columns[c]
                           for c, (numeric, method) in self.methods.items() if c != PROBABILITY])
        numeric, method = self.methods[PROBABILITY]
        prediction = calibration.drift_score(self.reference[PROBABILITY], scored[PROBABILITY], numeric, method)
        quality = any(batch[c].isna().mean() > tests.missing_share.max for c in spec.features)
        quality |= any((~batch[c].dropna().isin(self.champion.categories[c])).mean() > tests.new_category_share.max
                       for c in spec.categorical_features)
        quality |= any((~batch[c].dropna().between(self.reference[c].min(), self.reference[c].max())).mean()
                       > tests.out_of_range_share.max for c in spec.numeric_features)
        labels = batch[spec.target_column].astype(int)
        positives = int(labels.sum())
        limit = tests.roc_auc.limit(self.champion.manifest.metrics.get("roc_auc"), positives, len(labels) - positives)
        performance = 0 < positives < len(labels) and roc_auc_score(labels, scored[PROBABILITY]) < limit
        drift = drifted > self.limits.drifted_share or prediction > self.limits.prediction
        return {"drift": bool(drift), "quality": bool(quality), "performance": bool(performance),
                "any": bool(drift or quality or performance)}

    def sample(self, rng: np.random.Generator) -> pd.DataFrame:
        """Return a clean batch: rows drawn with replacement from the held-out split."""
        return self.holdout.iloc[rng.integers(0, len(self.holdout), self.rows)].reset_index(drop=True)


def severity_ladders(judge: Judge) -> dict[str, list]:
    """Return three scenarios per fault kind, mild to strong, on the columns the generated demo picks."""
    generated = {s.kind: s for s in scenarios.generated_scenarios(judge.holdout, judge.spec)}
    rate = float(judge.holdout[judge.spec.target_column].mean())
    ladders: dict[str, list[dict]] = {}
    if "covariate_shift" in generated:
        shift = generated["covariate_shift"]
        ladders["covariate_shift"] = [{"kind": "covariate_shift", "toward": shift.toward, "share": s} for s in (0.35, 0.5, 0.8)]
        ladders["unit_change"] = [{"kind": "unit_change", "column": generated["unit_change"].column, "factor": f}
                                  for f in (1.2, 2, 100)]
        column = generated["unit_change"].column
        ladders["concept_drift"] = [{"kind": "concept_drift", "subgroup": f"{column} >= {judge.holdout[column].quantile(q):.6g}"}
                                    for q in (0.95, 0.85, 0.75)]
    missing = generated["missing_spike"]
    ladders["missing_spike"] = [{"kind": "missing_spike", "column": missing.column, "share": s} for s in (0.1, 0.25, 0.4)]
    if "unseen_category" in generated:
        ladders["unseen_category"] = [{"kind": "unseen_category", "column": generated["unseen_category"].column,
                                       "value": "(never seen)", "share": s} for s in (0.02, 0.06, 0.2)]
    ladders["prior_shift"] = [{"kind": "prior_shift", "positive_share": round(min(rate * f, 0.9), 3)} for f in (1.25, 1.6, 2.5)]
    return {kind: SimulationConfig(scenarios=steps).scenarios for kind, steps in ladders.items()}


def report(name: str, judge: Judge, clean: int, per_severity: int) -> None:
    """Print the clean-batch alarm rates and the detection rate of each fault at each severity."""
    rng = np.random.default_rng(judge.spec.seed)
    start = time.perf_counter()
    outcomes = pd.DataFrame([judge.alarms(judge.sample(rng)) for _ in range(clean)])
    print(f"\n{name}: batches of {judge.rows} rows against a {len(judge.reference):,}-row reference "
          f"(drifted-share limit {judge.limits.drifted_share:.3f}, prediction-drift limit {judge.limits.prediction:.3f})")
    print(f"  clean batches: {clean}; alarm rate: any {outcomes['any'].mean():.1%}, drift {outcomes['drift'].mean():.1%} "
          f"(declared drift false-alarm rate {judge.config.drift.false_alarm_rate:.1%}), quality {outcomes['quality'].mean():.1%}, "
          f"ROC AUC {outcomes['performance'].mean():.1%}")
    for kind, ladder in severity_ladders(judge).items():
        rates = []
        for step, scenario in enumerate(ladder):
            caught = [judge.alarms(scenarios.apply_scenario(judge.sample(rng), scenario, judge.spec,
                                                            np.random.default_rng(step * 1000 + i), kind))["any"]
                      for i in range(per_severity)]
            rates.append(f"{scenario.describe()}: {np.mean(caught):.0%}")
        print(f"  {kind:<16} " + " | ".join(rates))
    print(f"  ({time.perf_counter() - start:.0f} s)")


def generated_problem(folder: Path) -> tuple[Path, str]:
    """Make the generated problem with `kedro problem init` in a project copy and run its lifecycle; return it and its env."""
    project = copy_project(folder / "project")
    data = folder / "renewals.csv"
    subscription_table().to_csv(data, sep=";", index=False)
    init_problem(project, "renewals", data)
    env = add_env(project, "renewals_quick", {"parameters_modeling.yml": (REPO / "conf/test/parameters_modeling.yml").read_text()},
                  extends="renewals")
    run_kedro(project, None, env=env)
    return project, env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clean", type=int, default=200, help="clean batches per problem (default 200)")
    parser.add_argument("--per-severity", type=int, default=50, help="batches per fault severity (default 50)")
    parser.add_argument("--skip-adult", action="store_true", help="only the generated problem")
    args = parser.parse_args()
    os.environ["KEDRO_DISABLE_TELEMETRY"] = "true"
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPU(s), Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    if not args.skip_adult:
        if not (REPO / "data" / "adult" / "06_models" / "model_registry" / "history.jsonl").exists():
            sys.exit("no saved Adult run: run `make run` first")
        report("adult", Judge(REPO, "adult"), args.clean, args.per_severity)
    with tempfile.TemporaryDirectory() as folder:
        project, env = generated_problem(Path(folder))
        report("generated (renewals, via kedro problem init)", Judge(project, env), args.clean, args.per_severity)


if __name__ == "__main__":
    main()
