"""The metric functions every pipeline uses: one name, one definition (scikit-learn's)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Annotated

import numpy as np
from pydantic import AfterValidator
from scipy import stats
from sklearn import metrics as skm


@dataclass(frozen=True)
class Metric:
    """A named metric of labels and positive-class probabilities."""

    name: str
    function: Callable[[np.ndarray, np.ndarray], float]
    greater_is_better: bool

    def __call__(self, y_true: np.ndarray, proba: np.ndarray) -> float:
        return float(self.function(np.asarray(y_true), np.asarray(proba)))

    def better(self, a: float, b: float) -> bool:
        """Return whether score `a` is strictly better than `b`."""
        return a > b if self.greater_is_better else a < b


def _at_half(score: Callable) -> Callable:
    # Selection metrics that need decisions use 0.5; evaluation picks the real threshold.
    return lambda y, p: score(y, (p >= 0.5).astype(int))


def _safe_auc(score: Callable) -> Callable:
    # A sample with one class has no ROC/PR curve; report NaN instead of raising.
    return lambda y, p: score(y, p) if len(np.unique(y)) == 2 else float("nan")


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("log_loss", lambda y, p: skm.log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1]), False),
        Metric("roc_auc", _safe_auc(skm.roc_auc_score), True),
        Metric("pr_auc", _safe_auc(skm.average_precision_score), True),
        Metric("brier", skm.brier_score_loss, False),
        Metric("accuracy", _at_half(skm.accuracy_score), True),
        Metric("f1", _at_half(partial(skm.f1_score, zero_division=0)), True),
        Metric("precision", _at_half(partial(skm.precision_score, zero_division=0)), True),
        Metric("recall", _at_half(partial(skm.recall_score, zero_division=0)), True),
    )
}


def known_metric(name: str) -> str:
    """Return `name` if it is a metric of METRICS; raise naming the known ones otherwise."""
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r}; known: {sorted(METRICS)}")
    return name


MetricName = Annotated[str, AfterValidator(known_metric)]


def score_all(y_true: np.ndarray, proba: np.ndarray, names: list[str] | None = None) -> dict[str, float]:
    """Return each named metric (all by default) of positive-class probabilities at 0.5."""
    return {name: METRICS[name](y_true, proba) for name in (names or list(METRICS))}


def threshold_metrics(y_true: np.ndarray, proba: np.ndarray, threshold: float, beta: float = 1.0) -> dict[str, float]:
    """Return decision metrics at `threshold`: accuracy, precision, recall, F1, F-beta and counts."""
    y_true = np.asarray(y_true).astype(int)
    decision = (np.asarray(proba) >= threshold).astype(int)
    tn, fp, fn, tp = skm.confusion_matrix(y_true, decision, labels=[0, 1]).ravel()
    return {
        "accuracy": float(skm.accuracy_score(y_true, decision)),
        "precision": float(skm.precision_score(y_true, decision, zero_division=0)),
        "recall": float(skm.recall_score(y_true, decision, zero_division=0)),
        "f1": float(skm.f1_score(y_true, decision, zero_division=0)),
        "fbeta": float(skm.fbeta_score(y_true, decision, beta=beta, zero_division=0)),
        "tp": int(tp), "fp": int(fp), "tn": int(tn), "fn": int(fn),
    }


def probability_bins(proba: np.ndarray, bins: int) -> np.ndarray:
    """Return each probability's equal-width bin, 0 .. bins-1, binned as scikit-learn's `calibration_curve` does."""
    # Bin i is (i/bins, (i+1)/bins]; the first bin also holds 0.
    return np.searchsorted(np.linspace(0, 1, bins + 1)[1:-1], np.asarray(proba, dtype=float))


def expected_calibration_error(y_true: np.ndarray, proba: np.ndarray, bins: int = 10) -> float:
    """Return the ECE: the row-weighted mean gap between observed rate and mean probability in equal-width bins."""
    y_true, proba = np.asarray(y_true, dtype=float), np.asarray(proba, dtype=float)
    index = probability_bins(proba, bins)
    rows = np.bincount(index, minlength=bins)
    gaps = np.abs(np.bincount(index, weights=y_true, minlength=bins) - np.bincount(index, weights=proba, minlength=bins))
    return float(gaps.sum() / rows.sum())


def decision_curve(y_true: np.ndarray, proba: np.ndarray, thresholds: np.ndarray, beta: float = 1.0,
                   false_positive_cost: float = 0.0, false_negative_cost: float = 0.0) -> dict[str, np.ndarray]:
    """Return, for every threshold at once, the confusion counts, precision, recall, F-beta, positive rate and expected cost.

    The same numbers as `threshold_metrics` threshold by threshold (precision and F-beta are 0
    where undefined, as with zero_division=0), counted in one vectorised pass: a sweep over
    a hundred thresholds must not call the validating metric functions a thousand times.
    """
    y = np.asarray(y_true).astype(bool)
    decision = np.asarray(proba, dtype=float)[:, None] >= np.asarray(thresholds, dtype=float)[None, :]
    tp = (decision & y[:, None]).sum(axis=0)
    fp = decision.sum(axis=0) - tp
    fn, tn = y.sum() - tp, (~y).sum() - fp
    b2 = beta**2
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        fbeta = np.where(tp + fn + fp > 0, (1 + b2) * tp / ((1 + b2) * tp + b2 * fn + fp), 0.0)
    return {
        "threshold": np.asarray(thresholds, dtype=float), "tp": tp, "fp": fp, "tn": tn, "fn": fn,
        "precision": precision, "recall": recall, "fbeta": fbeta, "positive_rate": (tp + fp) / len(y),
        "expected_cost": (fp * false_positive_cost + fn * false_negative_cost) / len(y),
    }


def decision_metric(name: str, threshold: float, beta: float = 1.0) -> Callable[[np.ndarray, np.ndarray], float]:
    """Return `name` (accuracy, precision, recall, f1 or fbeta) at `threshold` as a function of labels and probabilities."""
    def at_threshold(y_true: np.ndarray, proba: np.ndarray) -> float:
        curve = decision_curve(y_true, proba, [threshold], 1.0 if name == "f1" else beta)
        if name == "accuracy":
            return float((curve["tp"][0] + curve["tn"][0]) / len(y_true))
        return float(curve["fbeta" if name == "f1" else name][0])
    return at_threshold


def bootstrap_interval(y_true: np.ndarray, proba: np.ndarray, statistic: Callable[[np.ndarray, np.ndarray], float],
                       confidence: float, resamples: int, seed: int) -> tuple[float, float]:
    """Return the percentile bootstrap interval of `statistic` over resampled rows (labels and probabilities kept paired)."""
    result = stats.bootstrap((np.asarray(y_true), np.asarray(proba)), statistic, paired=True, vectorized=False,
                             n_resamples=resamples, confidence_level=confidence, method="percentile",
                             rng=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def expected_cost(y_true: np.ndarray, proba: np.ndarray, threshold: float,
                  false_positive_cost: float, false_negative_cost: float) -> float:
    """Return the mean cost per row of the decisions at `threshold` under the given error costs."""
    curve = decision_curve(y_true, proba, [threshold], false_positive_cost=false_positive_cost,
                           false_negative_cost=false_negative_cost)
    return float(curve["expected_cost"][0])
