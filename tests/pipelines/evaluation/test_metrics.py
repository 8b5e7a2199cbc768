"""The metric functions evaluation added to `ml_lifecycle.metrics`, on hand-checkable data."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.calibration import calibration_curve

from ml_lifecycle.metrics import (
    decision_curve,
    expected_calibration_error,
    expected_cost,
    threshold_metrics,
)


def test_ece_is_the_row_weighted_gap_between_observed_rate_and_mean_probability():
    # bin (0, 0.5]: probabilities 0.1, 0.4 (mean 0.25), no positive -> gap 0.25 on 2 of 4 rows
    # bin (0.5, 1]: probabilities 0.6, 0.9 (mean 0.75), both positive -> gap 0.25 on 2 of 4 rows
    assert expected_calibration_error([0, 0, 1, 1], [0.1, 0.4, 0.6, 0.9], bins=2) == pytest.approx(0.25)


def test_ece_is_zero_when_every_bin_matches_its_rate():
    assert expected_calibration_error([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5], bins=10) == 0.0


def test_ece_bins_like_scikit_learns_calibration_curve():
    rng = np.random.default_rng(0)
    proba = np.round(rng.random(300), 1)  # many values sit exactly on bin edges
    y = (rng.random(300) < proba).astype(int)
    observed, predicted = calibration_curve(y, proba, n_bins=10)
    counts = np.bincount(np.searchsorted(np.linspace(0, 1, 11)[1:-1], proba), minlength=10)
    expected = np.sum(counts[counts > 0] * np.abs(observed - predicted)) / len(y)
    assert expected_calibration_error(y, proba, bins=10) == pytest.approx(expected)


def test_decision_curve_counts_every_threshold_like_threshold_metrics():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 400)
    proba = np.clip(0.35 * y + 0.65 * rng.random(400), 0, 1)
    thresholds = np.linspace(0.01, 0.99, 33)
    curve = decision_curve(y, proba, thresholds, beta=2.0)
    for i, threshold in enumerate(thresholds):
        single = threshold_metrics(y, proba, threshold, beta=2.0)
        assert (curve["tp"][i], curve["fp"][i], curve["tn"][i], curve["fn"][i]) == (
            single["tp"], single["fp"], single["tn"], single["fn"])
        assert curve["fbeta"][i] == pytest.approx(single["fbeta"])
        assert curve["precision"][i] == pytest.approx(single["precision"])


def test_expected_cost_weighs_each_error_by_its_cost():
    # decisions at 0.5: [0, 1, 0, 1] against [0, 0, 1, 1] -> one false positive, one false negative
    assert expected_cost([0, 0, 1, 1], [0.2, 0.7, 0.4, 0.9], 0.5, false_positive_cost=1, false_negative_cost=5) == 1.5
