"""Drift limits that follow the data: calibrated on the reference by resampling clean batches of the size judged.

A drift score's spread on clean data depends on the column (a country with 40 rare values moves
more than a binary one) and on the batch size (noise shrinks as 1/sqrt(rows)), so no single
threshold suits every problem. For each batch size, `resamples` pairs (a batch of that size and a
reference of the reference's size, both drawn with replacement from the reference) give each
column's clean-score distribution; its (1 - false_alarm_rate / 2) quantile is the column's threshold
(half the rate each for the two limits that can raise a drift alarm).
The dataset-level rule (the share of drifted columns) is calibrated on the same draws, so
correlated columns that cross together do not multiply alarms, and so is the prediction-drift
limit. The scores are Evidently's own drift methods, as the batch reports compute them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from evidently.legacy.calculations.stattests.registry import get_stattest
from evidently.legacy.core import ColumnType

from ml_lifecycle.evidently_glue import PROBABILITY
from ml_lifecycle.pipelines.monitoring.columns import BATCH
from ml_lifecycle.pipelines.monitoring.config import MonitoringConfig
from ml_lifecycle.spec import ProblemSpec

SHARE = "drifted_columns_share"
PREDICTION_DRIFT = "prediction_drift"
CALIBRATION_COLUMNS = ["batch_rows", "limit", "column", "method", "threshold", "source", "clean_median", "false_alarm_rate"]


def drift_score(reference: pd.Series, current: pd.Series, numeric: bool, method: str) -> float:
    """Return Evidently's drift score of `current` against `reference` by `method` (missing values left out)."""
    kind = ColumnType.Numerical if numeric else ColumnType.Categorical
    reference, current = reference.dropna(), current.dropna()
    if reference.empty or current.empty:
        return 0.0
    test = get_stattest(reference, current, kind, method)
    return float(test(reference, current, kind, None).drift_score)


def drift_methods(config: MonitoringConfig, spec: ProblemSpec) -> dict[str, tuple[bool, str]]:
    """Return each judged column: whether it is numeric, and its drift method."""
    drift = config.drift
    columns = {c: (True, drift.per_column_method.get(c, drift.numeric_method)) for c in spec.numeric_features}
    columns |= {c: (False, drift.per_column_method.get(c, drift.categorical_method)) for c in spec.categorical_features}
    return columns | {PROBABILITY: (True, drift.prediction_method)}


def _declared_threshold(column: str, numeric: bool, config: MonitoringConfig, spec: ProblemSpec) -> float | None:
    """Return the threshold a person declared for a column (per column, else per type), or None."""
    drift = config.drift
    if column == PROBABILITY:
        return config.tests.prediction_drift.max
    if column in drift.per_column_threshold:
        return drift.per_column_threshold[column]
    return drift.numeric_threshold if numeric else drift.categorical_threshold


def calibrate_for_size(reference: pd.DataFrame, rows: int, config: MonitoringConfig, spec: ProblemSpec) -> pd.DataFrame:
    """Return the drift limits for batches of `rows` rows: per column, the drifted-share limit and the prediction limit."""
    drift = config.drift
    # Two calibrated limits can raise a drift alarm (drifted share, prediction drift): each gets half the per-batch rate.
    alpha = drift.false_alarm_rate / 2
    methods = drift_methods(config, spec)
    rng = np.random.default_rng(spec.seed + rows)
    scores = {column: np.empty(drift.resamples) for column in methods}
    for draw in range(drift.resamples):
        baseline = reference.iloc[rng.integers(0, len(reference), len(reference))]
        batch = reference.iloc[rng.integers(0, len(reference), rows)]
        for column, (numeric, method) in methods.items():
            scores[column][draw] = drift_score(baseline[column], batch[column], numeric, method)
    records = []
    for column, (numeric, method) in methods.items():
        declared = _declared_threshold(column, numeric, config, spec)
        threshold = declared if declared is not None else float(np.quantile(scores[column], 1 - alpha))
        records.append({"limit": PREDICTION_DRIFT if column == PROBABILITY else "column", "column": column, "method": method,
                        "threshold": threshold, "source": "declared" if declared is not None else "calibrated",
                        "clean_median": float(np.median(scores[column]))})
    features = [c for c in methods if c != PROBABILITY]
    thresholds = {r["column"]: r["threshold"] for r in records}
    drifted = np.sum([scores[c] >= thresholds[c] for c in features], axis=0)
    # Half a column above the allowed count: the limit never ties with a share Evidently computes.
    allowed = (float(np.quantile(drifted, 1 - alpha, method="higher")) + 0.5) / len(features)
    declared_share = config.tests.drifted_columns_share.max
    records.append({"limit": SHARE, "column": None, "method": None,
                    "threshold": declared_share if declared_share is not None else allowed,
                    "source": "declared" if declared_share is not None else "calibrated",
                    "clean_median": float(np.median(drifted)) / len(features)})
    return pd.DataFrame(records).assign(batch_rows=rows, false_alarm_rate=drift.false_alarm_rate)[CALIBRATION_COLUMNS]


def calibrate_drift_limits(scored_batches: pd.DataFrame, scored_reference: pd.DataFrame, config: MonitoringConfig,
                           spec: ProblemSpec) -> pd.DataFrame:
    """Return the drift limits for every batch size in this run (one calibration per size, to two significant digits)."""
    sizes = sorted({calibration_rows(int(rows)) for rows in scored_batches.groupby(BATCH, sort=False).size()})
    if not sizes:
        return pd.DataFrame(columns=CALIBRATION_COLUMNS)
    return pd.concat([calibrate_for_size(scored_reference, rows, config, spec) for rows in sizes], ignore_index=True)


def calibration_rows(rows: int) -> int:
    """Return the batch size a batch of `rows` rows is calibrated at: two significant digits (1,628 -> 1,600).

    Noise changes with the square root of the size, so nearby sizes share one calibration.
    """
    return int(float(f"{rows:.2g}"))
