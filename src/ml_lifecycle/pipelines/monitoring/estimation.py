"""Estimated performance of every batch, labelled or not (CBPE, `ml_lifecycle.performance_estimation`), and its alert."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from ml_lifecycle.deployment import DeployedModel
from ml_lifecycle.evidently_glue import PROBABILITY
from ml_lifecycle.performance_estimation import (
    ESTIMATED,
    adjust_to_prior,
    confusion_counts,
    expected_metrics,
    realised_metrics,
    sampling_band,
)
from ml_lifecycle.pipelines.monitoring.columns import BATCH, TEST_COLUMNS
from ml_lifecycle.pipelines.monitoring.config import MonitoringConfig, PerformanceTest
from ml_lifecycle.spec import ProblemSpec

BANDED = ("accuracy", "roc_auc")


def estimate_performance(scored_batches: pd.DataFrame, scored_reference: pd.DataFrame, champion: DeployedModel,
                         config: MonitoringConfig, spec: ProblemSpec) -> pd.DataFrame:
    """Return per batch the estimated metrics with their sampling band, a prior-adjusted estimate, and the realised ones on
    the labelled rows once all, or at least `estimation.min_labelled_rows` of both classes, are labelled; with a declared
    `problem.decision_value`, the value per 1,000 decisions, expected and realised on the same terms."""
    target, threshold = spec.target_column, champion.threshold
    training_prior = float(scored_reference[target].mean())
    records = []
    for index, (name, batch) in enumerate(scored_batches.groupby(BATCH, sort=False)):
        p = batch[PROBABILITY].to_numpy()
        estimated = expected_metrics(p, threshold)
        band = sampling_band(p, threshold, config.estimation.draws, spec.seed + index)
        adjusted, prior = adjust_to_prior(p, training_prior)
        record = {BATCH: name, "rows": len(batch), "estimated_prior": prior, "training_prior": training_prior}
        record |= {f"estimated_{m}": estimated[m] for m in ESTIMATED}
        record |= {f"estimated_{m}_{end}": band[m][i] for m in BANDED for i, end in enumerate(("low", "high"))}
        record |= {f"prior_adjusted_{m}": expected_metrics(adjusted, threshold)[m] for m in BANDED}
        known = batch[target].notna().to_numpy()
        judged = known.all() or (known.sum() >= config.estimation.min_labelled_rows and batch[target].nunique() == 2)
        realised = realised_metrics(batch[target][known].astype(int).to_numpy(), p[known], threshold) if judged else {}
        record |= {f"realised_{m}": realised.get(m, float("nan")) for m in BANDED}
        record["realised_rows"] = int(known.sum()) if judged else 0
        record["realised_positive_share"] = float(batch[target][known].mean()) if judged else float("nan")
        value = spec.decision_value
        record["estimated_value_per_1000"] = value.per_1000(*confusion_counts(p, p, threshold)) if value else float("nan")
        record["realised_value_per_1000"] = (value.per_1000(*confusion_counts(p[known], batch[target][known].astype(int), threshold))
                                             if value and judged else float("nan"))
        records.append(record)
    return pd.DataFrame(records, columns=[BATCH, "rows", "estimated_prior", "training_prior",
                                          *[f"estimated_{m}" for m in ESTIMATED],
                                          *[f"estimated_{m}_{e}" for m in BANDED for e in ("low", "high")],
                                          *[f"prior_adjusted_{m}" for m in BANDED], *[f"realised_{m}" for m in BANDED],
                                          "realised_rows", "realised_positive_share", "estimated_value_per_1000",
                                          "realised_value_per_1000"])


def _roc_auc_result(test: PerformanceTest, released: float | None, batch: str, name: str, kind: str, value: float, rows: int,
                    positive_share: float, describe: Callable[[float], str]) -> dict[str, Any]:
    """Return one ROC AUC test result: the `tests.roc_auc` limit for this many rows of this class balance."""
    positives = round(positive_share * rows)
    limit = test.limit(released, positives, rows - positives)
    return {BATCH: batch, "test": name, "kind": kind, "column": None, "value": value, "threshold": limit,
            "passed": bool(value >= limit), "severity": test.severity, "description": describe(limit)}


def check_estimated_performance(estimates: pd.DataFrame, champion: DeployedModel, config: MonitoringConfig) -> pd.DataFrame:
    """Return the estimated-ROC-AUC test per batch: the same limit as the labelled test, with the estimated class counts."""
    test = config.tests.roc_auc
    if not (test.enabled and config.estimation.alert):
        return pd.DataFrame(columns=TEST_COLUMNS)
    released = champion.manifest.metrics.get("roc_auc")
    results = [_roc_auc_result(test, released, getattr(row, BATCH), "estimated_roc_auc", "estimated_performance",
                               row.estimated_roc_auc, row.rows, row.estimated_prior,
                               lambda limit, r=row: f"estimated ROC AUC {r.estimated_roc_auc:.3f} (band {r.estimated_roc_auc_low:.3f}-"
                                                    f"{r.estimated_roc_auc_high:.3f}; min {limit:.3f})")
               for row in estimates.itertuples(index=False)]
    return pd.DataFrame(results, columns=TEST_COLUMNS)


def check_partly_labelled(estimates: pd.DataFrame, champion: DeployedModel, config: MonitoringConfig) -> pd.DataFrame:
    """Return the ROC AUC test of each partly labelled batch, on its labelled rows (a fully labelled batch has it in its
    Evidently report): the same limit, for the labelled rows' class counts."""
    test = config.tests.roc_auc
    partly = estimates[(estimates["realised_rows"] > 0) & (estimates["realised_rows"] < estimates["rows"])]
    if not test.enabled or partly.empty:
        return pd.DataFrame(columns=TEST_COLUMNS)
    released = champion.manifest.metrics.get("roc_auc")
    results = [_roc_auc_result(test, released, getattr(row, BATCH), "roc_auc", "performance", row.realised_roc_auc,
                               row.realised_rows, row.realised_positive_share,
                               lambda limit, r=row: f"ROC AUC {r.realised_roc_auc:.3f} on the {r.realised_rows} labelled of "
                                                    f"{r.rows} rows (min {limit:.3f})")
               for row in partly.itertuples(index=False)]
    return pd.DataFrame(results, columns=TEST_COLUMNS)
