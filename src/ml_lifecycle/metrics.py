"""The metric functions every pipeline uses: one name, one definition (scikit-learn's)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
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
