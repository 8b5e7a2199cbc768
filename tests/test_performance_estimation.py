"""Confidence-based performance estimation against a synthetic calibrated model whose true performance is known."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from ml_lifecycle.performance_estimation import (
    adjust_to_prior,
    confusion_counts,
    expected_metrics,
    realised_metrics,
    sampling_band,
)
from ml_lifecycle.spec import DecisionValue

THRESHOLD = 0.4


def calibrated_batch(rows: int, seed: int, a: float = 1.0, b: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Return probabilities and labels drawn from them: a perfectly calibrated model."""
    rng = np.random.default_rng(seed)
    p = rng.beta(a, b, rows)
    return p, (rng.random(rows) < p).astype(int)


def test_the_expected_value_of_a_calibrated_batch_meets_the_realised_one():
    value = DecisionValue(currency="EUR", true_positive_value=40, false_positive_cost=10, false_negative_cost=5)
    p, y = calibrated_batch(20_000, 3)
    expected = value.per_1000(*confusion_counts(p, p, THRESHOLD))
    realised = value.per_1000(*confusion_counts(p, y, THRESHOLD))
    tp, fp, fn, tn = confusion_counts(p, y, THRESHOLD)
    assert (tp, fp, fn, tn) == (((p >= THRESHOLD) & (y == 1)).sum(), ((p >= THRESHOLD) & (y == 0)).sum(),
                                ((p < THRESHOLD) & (y == 1)).sum(), ((p < THRESHOLD) & (y == 0)).sum())
    assert realised == pytest.approx(1000 * (40 * tp - 10 * fp - 5 * fn) / len(p))
    assert abs(expected - realised) < 0.03 * abs(realised)


def test_realised_metrics_are_scikit_learns():
    p, y = calibrated_batch(3000, 1)
    p = np.round(p, 2)  # ties
    realised = realised_metrics(y, p, THRESHOLD)
    decision = p >= THRESHOLD
    assert realised["roc_auc"] == pytest.approx(roc_auc_score(y, p))
    assert realised["accuracy"] == pytest.approx(accuracy_score(y, decision))
    assert realised["precision"] == pytest.approx(precision_score(y, decision))
    assert realised["recall"] == pytest.approx(recall_score(y, decision))
    assert realised["f1"] == pytest.approx(f1_score(y, decision))


@pytest.mark.parametrize(("a", "b"), [(1.0, 3.0), (2.0, 2.0), (0.5, 4.0)], ids=["reference", "shifted up", "shifted down"])
def test_the_estimate_meets_the_realised_performance_of_a_calibrated_model_within_its_band(a: float, b: float):
    # Covariate shift moves the probabilities; calibration still holds, so the estimate must follow.
    p, y = calibrated_batch(5000, 2, a, b)
    estimated, realised = expected_metrics(p, THRESHOLD), realised_metrics(y, p, THRESHOLD)
    band = sampling_band(p, THRESHOLD, 200, seed=3)
    assert abs(estimated["accuracy"] - realised["accuracy"]) <= 0.02
    assert abs(estimated["roc_auc"] - realised["roc_auc"]) <= 0.03
    for metric in ("accuracy", "roc_auc", "f1"):
        low, high = band[metric]
        assert low <= realised[metric] <= high, (metric, low, realised[metric], high)


def test_under_prior_shift_the_prior_adjusted_estimate_comes_closer_than_the_plain_one():
    p, y = calibrated_batch(20000, 4)
    rng = np.random.default_rng(5)
    positives, negatives = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    batch = np.concatenate([rng.choice(positives, 1500), rng.choice(negatives, 1500)])  # half positive, trained at 25%
    adjusted, prior = adjust_to_prior(p[batch], training_prior=float(y.mean()))
    assert prior == pytest.approx(0.5, abs=0.05)
    realised = realised_metrics(y[batch], p[batch], THRESHOLD)["accuracy"]
    plain = expected_metrics(p[batch], THRESHOLD)["accuracy"]
    assert abs(expected_metrics(adjusted, THRESHOLD)["accuracy"] - realised) < abs(plain - realised) / 2
