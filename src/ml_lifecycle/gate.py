"""The promotion gate: declared rules a release must pass before it is served (docs/release_gate.md).

Each rule has a severity: `block` keeps the incumbent serving when the rule fails, `warn`
records the failure and lets the release through. The comparison with the incumbent is judged
by a paired bootstrap interval on the frozen holdout (rows no caller of the service can supply),
not by a point difference.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from ml_lifecycle.metrics import METRICS, MetricName, expected_calibration_error
from ml_lifecycle.spec import StrictModel

Severity = Literal["block", "warn"]


class Rule(StrictModel):
    """A rule's severity and, where it has one, its limit."""

    severity: Severity = "block"


class CalibrationRule(Rule):
    """Calibration error within what a perfectly calibrated model shows on as many rows, plus a tolerance.

    The limit is derived from the holdout: labels are drawn from the candidate's own
    probabilities `simulations` times and the ECE of each draw computed; the `quantile` of those
    (the error of a perfectly calibrated model on this many rows) plus `tolerance` is the limit.
    """

    tolerance: float = Field(default=0.02, ge=0)
    quantile: float = Field(default=0.99, gt=0.5, lt=1)
    simulations: int = Field(default=200, ge=20)


class ComparisonRule(Rule):
    """Beat the incumbent (or, with none, every baseline) on `metric` by `margin`, at the lower end of a paired bootstrap interval."""

    metric: MetricName = "log_loss"
    margin: float = Field(default=0.0, ge=0, description="The interval's lower end of the gain must be above this.")
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    resamples: int = Field(default=500, ge=50)



class GateConfig(StrictModel):
    """The release gate (`conf/base/parameters_release.yml`, key `release.gate`)."""

    beats_incumbent: ComparisonRule = ComparisonRule()
    no_leak: Rule = Rule()
    behavioural_tests: Rule = Rule()
    fairness_gaps: Rule = Rule(severity="warn")  # its limit is evaluation.slices.max_fairness_gap
    sanity_check: Rule = Rule()
    calibration_error: CalibrationRule = CalibrationRule()


class ReleaseConfig(StrictModel):
    """How a model is released (`conf/base/parameters_release.yml`, key `release`)."""

    gate: GateConfig = GateConfig()


class RuleResult(StrictModel):
    """One rule's outcome: what was measured, against which limit, and whether it passed."""

    rule: str
    severity: Severity
    passed: bool
    value: float | None = None
    limit: float | None = None
    detail: str


class GateVerdict(StrictModel):
    """The gate's decision on one candidate: every rule with its value and limit."""

    candidate: str
    incumbent: str | None
    rules: list[RuleResult]

    @property
    def passed(self) -> bool:
        """Whether no blocking rule failed."""
        return all(r.passed or r.severity == "warn" for r in self.rules)

    def failures(self, severity: Severity | None = None) -> list[RuleResult]:
        """Return the failed rules, of one severity when given."""
        return [r for r in self.rules if not r.passed and severity in (None, r.severity)]

    def summary(self) -> str:
        """Return the verdict in one line: passed, or which rules blocked it."""
        blocked = self.failures("block")
        warned = self.failures("warn")
        text = "passed" if not blocked else "blocked by " + ", ".join(r.rule for r in blocked)
        return text + (f" (warnings: {', '.join(r.rule for r in warned)})" if warned else "")


def paired_bootstrap_gain(y: np.ndarray, candidate: np.ndarray, reference: np.ndarray, rule: ComparisonRule,
                          seed: int) -> tuple[float, float, float]:
    """Return the candidate's gain over the reference on the rule's metric (positive: better): point, interval low, high.

    Both models are scored on the same resampled rows each time, so the interval reflects the
    difference between them, not each one's own sampling noise. Resamples with one class are skipped.
    """
    metric = METRICS[rule.metric]
    sign = 1.0 if metric.greater_is_better else -1.0
    y, candidate, reference = np.asarray(y), np.asarray(candidate), np.asarray(reference)
    rng = np.random.default_rng(seed)
    gains = []
    for _ in range(rule.resamples):
        rows = rng.integers(0, len(y), len(y))
        if y[rows].min() != y[rows].max():
            gains.append(sign * (metric(y[rows], candidate[rows]) - metric(y[rows], reference[rows])))
    tail = (1 - rule.confidence) / 2
    low, high = np.quantile(gains, [tail, 1 - tail])
    # + 0.0 turns a negative zero (no difference, with the sign flipped) into 0.0, so it never reads "-0.0000"
    return sign * (metric(y, candidate) - metric(y, reference)) + 0.0, float(low) + 0.0, float(high) + 0.0


def comparison_result(name: str, rule: ComparisonRule, gains: dict[str, tuple[float, float, float]],
                      rows: str = "the frozen holdout") -> RuleResult:
    """Return the comparison rule's result: passed when every reference is beaten at the interval's lower end."""
    worst = min(gains, key=lambda reference: gains[reference][1])
    point, low, high = gains[worst]
    described = "; ".join(f"vs {ref}: gain {g[0]:+.4f} [{g[1]:+.4f}, {g[2]:+.4f}]" for ref, g in gains.items())
    return RuleResult(rule=name, severity=rule.severity, passed=low > rule.margin, value=low, limit=rule.margin,
                      detail=f"{rule.metric} on {rows}, {rule.confidence:.0%} paired bootstrap interval "
                             f"({rule.resamples} resamples): {described}")


def incomparable_result(name: str, rule: ComparisonRule, detail: str) -> RuleResult:
    """Return the comparison rule failed because the reference cannot be scored on the holdout, saying why."""
    return RuleResult(rule=name, severity=rule.severity, passed=False, limit=rule.margin, detail=detail)


def count_result(name: str, rule: Rule, failures: list[str], what: str) -> RuleResult:
    """Return a rule that passes when nothing failed; the detail names what did."""
    return RuleResult(rule=name, severity=rule.severity, passed=not failures, value=float(len(failures)), limit=0.0,
                      detail=f"{what}: " + (", ".join(failures) if failures else "none"))


def limit_result(name: str, rule: Rule, value: float, limit: float, what: str) -> RuleResult:
    """Return a rule that passes when `value` is within `limit`."""
    return RuleResult(rule=name, severity=rule.severity, passed=bool(value <= limit), value=float(value), limit=limit,
                      detail=f"{what} {value:.4f} (limit {limit:.4f})")


def calibration_result(name: str, rule: CalibrationRule, y: np.ndarray, proba: np.ndarray, bins: int, seed: int,
                       rows: str = "the frozen holdout") -> RuleResult:
    """Return the calibration rule's result: ECE against the error a perfectly calibrated model shows on these rows."""
    rng = np.random.default_rng(seed)
    proba = np.asarray(proba, dtype=float)
    floor = float(np.quantile([expected_calibration_error(rng.random(len(proba)) < proba, proba, bins)
                               for _ in range(rule.simulations)], rule.quantile))
    result = limit_result(name, rule, expected_calibration_error(y, proba, bins), floor + rule.tolerance,
                          f"ECE ({bins} bins) on {rows}")
    return result.model_copy(update={"detail": result.detail + f" = {rule.quantile:.0%} of a perfectly calibrated model's "
                                                               f"ECE on {len(proba)} rows ({floor:.4f}) + tolerance {rule.tolerance:g}"})
