"""The evaluation's results and the release steps' findings, each gathered into one typed object for the pages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class ReleaseFindings:
    """What the release steps found about the released model on the frozen holdout."""

    leaks: pd.DataFrame
    slices: pd.DataFrame
    fairness: pd.DataFrame
    behaviour: pd.DataFrame


@dataclass(frozen=True)
class TestResults:
    """The evaluation's own results: test metrics against the baselines, calibration comparison, confidence, serving cost."""

    metrics: pd.DataFrame
    intervals: pd.DataFrame
    references: pd.DataFrame
    calibration: pd.DataFrame
    confidence_bins: pd.DataFrame
    confidence: dict[str, Any]
    serving_cost: dict[str, Any]


def gather_findings(leak_checks: pd.DataFrame, slice_metrics: pd.DataFrame, fairness: pd.DataFrame,
                    behavioural_checks: pd.DataFrame) -> ReleaseFindings:
    """Return what the release steps found as one object."""
    return ReleaseFindings(leak_checks, slice_metrics, fairness, behavioural_checks)


def gather_results(test_metrics: pd.DataFrame, test_metric_intervals: pd.DataFrame, declared_references: pd.DataFrame,
                   calibration_comparison: pd.DataFrame, confidence_bins: pd.DataFrame, confidence: dict[str, Any],
                   serving_cost: dict[str, Any]) -> TestResults:
    """Return the evaluation's results as one object."""
    return TestResults(test_metrics, test_metric_intervals, declared_references, calibration_comparison, confidence_bins,
                       confidence, serving_cost)
