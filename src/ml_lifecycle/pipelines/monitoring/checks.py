"""Checks of each production batch: champion scores, Evidently reports with the declared tests, and per-slice metrics."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
from evidently.metrics import (
    Accuracy,
    DriftedColumnsCount,
    MissingValueCount,
    OutListValueCount,
    OutRangeValueCount,
    Precision,
    Recall,
    RocAuc,
    RowCount,
    ValueDrift,
)
from evidently.presets import ClassificationPreset, DataDriftPreset, DataSummaryPreset
from evidently.tests import gte, lte

from ml_lifecycle import evidently_glue
from ml_lifecycle.deployment import DeployedModel
from ml_lifecycle.evidently_glue import PREDICTION, PROBABILITY
from ml_lifecycle.pipelines.monitoring.calibration import (
    PREDICTION_DRIFT,
    SHARE,
    calibration_rows,
)
from ml_lifecycle.pipelines.monitoring.columns import (
    BATCH,
    BATCH_COLUMNS,
    BATCH_TIME,
    DETAIL,
    LABEL_TIMES,
    LABELLED,
    LABELLED_AT,
    SCENARIO,
    SOURCE,
    TEST_COLUMNS,
)
from ml_lifecycle.pipelines.monitoring.config import (
    MaxTest,
    MinTest,
    MonitoringConfig,
)
from ml_lifecycle.spec import ProblemSpec


def _scored(typed: pd.DataFrame, champion: DeployedModel, spec: ProblemSpec) -> pd.DataFrame:
    """Return typed rows with the deployed champion's probability and its decision at the deployed threshold."""
    proba = champion.probabilities(champion.bundle.model_rows(typed, spec))
    scored = typed.copy()
    scored[PROBABILITY] = proba
    scored[PREDICTION] = (proba >= champion.threshold).astype(int)
    return scored


def score_reference(reference: pd.DataFrame, champion: DeployedModel, spec: ProblemSpec) -> pd.DataFrame:
    """Return the reference rows with out-of-sample probabilities and their decisions at the deployed threshold.

    A champion refitted on the validation split is sharper on those rows than it can be on production
    rows, so prediction drift takes the bundle's predictions of a model that never saw them.
    """
    proba = champion.reference_probabilities(reference, spec)
    return reference.assign(**{PROBABILITY: proba, PREDICTION: (proba >= champion.threshold).astype(int)})


def _label_times(batch: pd.DataFrame, spec: ProblemSpec) -> dict[str, Any]:
    """Return what was known when: the batch's time, how many of its rows have their label, and when the last one came."""
    labelled = batch[spec.target_column].notna()
    return {"predicted_at": batch[BATCH_TIME].iloc[0], "labelled_rows": int(labelled.sum()),
            "labelled_at": batch.loc[labelled, LABELLED_AT].max() if labelled.any() else pd.NaT}


def score_production_batches(batches: pd.DataFrame, champion: DeployedModel, spec: ProblemSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return every batch scored as deployed, and per batch its low-confidence share and the scoring's software metrics."""
    scored, metrics = [], []
    for name, batch in batches.groupby(BATCH, sort=False):
        start = time.perf_counter()
        scored.append(_scored(batch, champion, spec))
        seconds = time.perf_counter() - start
        # Peak memory in a second, traced pass: tracing slows Python allocations, so it stays out of the timing.
        tracemalloc.start()
        _scored(batch, champion, spec)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        info = batch[[SOURCE, SCENARIO, DETAIL, LABELLED]].iloc[0].to_dict()
        low_confidence = float(champion.low_confidence(scored[-1][PROBABILITY]).mean())
        metrics.append({BATCH: name, **info, "rows": len(batch), "model_version": champion.version,
                        **_label_times(batch, spec), "low_confidence_share": low_confidence,
                        "scoring_seconds": seconds, "latency_ms_per_row": 1000 * seconds / len(batch),
                        "rows_per_second": len(batch) / seconds, "peak_memory_mb": peak / 2**20})
    columns = [BATCH, SOURCE, SCENARIO, DETAIL, LABELLED, "rows", "model_version", *LABEL_TIMES, "low_confidence_share",
               "scoring_seconds",
               "latency_ms_per_row", "rows_per_second", "peak_memory_mb"]
    scored_batches = pd.concat(scored, ignore_index=True) if scored else batches.assign(**{PROBABILITY: [], PREDICTION: []})
    return scored_batches, pd.DataFrame(metrics, columns=columns)


@dataclass(frozen=True)
class DriftLimits:
    """The drift limits a batch is judged by: per feature column, the drifted-share limit and the prediction limit."""

    columns: dict[str, float]
    drifted_share: float
    prediction: float

    @classmethod
    def for_batch(cls, calibration: pd.DataFrame, rows: int) -> DriftLimits:
        """Return the limits calibrated (or declared) for batches of `rows` rows."""
        own = calibration[calibration["batch_rows"] == calibration_rows(rows)].set_index("limit")
        features = own.loc[["column"]]
        return cls(columns=dict(zip(features["column"], features["threshold"], strict=True)),
                   drifted_share=float(own.loc[SHARE, "threshold"]), prediction=float(own.loc[PREDICTION_DRIFT, "threshold"]))


def drift_options(config: MonitoringConfig, spec: ProblemSpec, limits: DriftLimits) -> dict[str, Any]:
    """Return the drift methods and this batch's thresholds as Evidently drift arguments."""
    drift = config.drift
    return {"columns": spec.features, "num_method": drift.numeric_method, "cat_method": drift.categorical_method,
            "per_column_method": drift.per_column_method or None, "per_column_threshold": limits.columns,
            "drift_share": limits.drifted_share}


def _bound(test: MaxTest | MinTest, limit: float) -> Any:
    """Return the Evidently test for a limit; a warning-level test fails as WARNING."""
    critical = test.severity == "critical"
    return lte(limit, is_critical=critical) if isinstance(test, MaxTest) else gte(limit, is_critical=critical)


def declared_tests(reference: pd.DataFrame, champion: DeployedModel, labelled: bool, config: MonitoringConfig,
                   spec: ProblemSpec, limits: DriftLimits, labels: pd.Series | None = None) -> list[dict[str, Any]]:
    """Return each enabled explicit test as {test, kind, column, threshold, severity, metric} (an Evidently metric with the test set).

    Drift tests take this batch's `limits`; a labelled batch's ROC AUC limit follows the champion's
    held-out ROC AUC and the batch's 0/1 `labels`.
    """
    tests = config.tests
    declared: list[tuple[str, str, str | None, MaxTest | MinTest, float, Callable[[Any], Any]]] = [
        ("drifted_columns_share", "drift", None, tests.drifted_columns_share, limits.drifted_share,
         lambda t: DriftedColumnsCount(**drift_options(config, spec, limits), share_tests=[t])),
        ("prediction_drift", "drift", PROBABILITY, tests.prediction_drift, limits.prediction,
         lambda t: ValueDrift(column=PROBABILITY, method=config.drift.prediction_method,
                              threshold=limits.prediction, tests=[t])),
        ("row_count", "quality", None, tests.row_count, tests.row_count.min, lambda t: RowCount(tests=[t])),
    ]
    for column in spec.features:
        declared.append(("missing_share", "quality", column, tests.missing_share, tests.missing_share.max,
                         lambda t, c=column: MissingValueCount(column=c, share_tests=[t])))
    for column in spec.categorical_features:
        known = sorted(champion.categories[column])  # never seen in training, not merely absent from the reference
        declared.append(("new_category_share", "quality", column, tests.new_category_share, tests.new_category_share.max,
                         lambda t, c=column, k=known: OutListValueCount(column=c, values=k, share_tests=[t])))
    for column in spec.numeric_features:
        low, high = float(reference[column].min()), float(reference[column].max())
        declared.append(("out_of_range_share", "quality", column, tests.out_of_range_share, tests.out_of_range_share.max,
                         lambda t, c=column, lo=low, hi=high: OutRangeValueCount(column=c, left=lo, right=hi, share_tests=[t])))
    found = [
        {"test": name, "kind": kind, "column": column, "severity": test.severity, "threshold": limit,
         "metric": make(_bound(test, limit))}
        for name, kind, column, test, limit, make in declared if test.enabled
    ]
    if labelled and tests.roc_auc.enabled:
        positives = int((labels == 1).sum()) if labels is not None else 0
        limit = tests.roc_auc.limit(champion.manifest.metrics.get("roc_auc"), positives,
                                    0 if labels is None else len(labels) - positives)
        found.append({"test": "roc_auc", "kind": "performance", "column": None, "severity": tests.roc_auc.severity,
                      "threshold": limit,
                      "metric": RocAuc(tests=[gte(limit, is_critical=tests.roc_auc.severity == "critical")])})
    return found


def _batch_report(batch: pd.DataFrame, reference: pd.DataFrame, champion: DeployedModel, calibration: pd.DataFrame,
                  config: MonitoringConfig, spec: ProblemSpec) -> tuple[Any, list[dict[str, Any]]]:
    """Return one batch's Evidently snapshot (drift, quality, prediction drift, classification) and its declared tests."""
    info = batch.iloc[0]
    labelled = bool(info[LABELLED])
    limits = DriftLimits.for_batch(calibration, len(batch))
    tests = declared_tests(reference, champion, labelled, config, spec, limits, batch[spec.target_column] if labelled else None)
    # The report runs without Evidently's automatic tests (run_report: include_tests=False), so the
    # presets add none; only the declared tests below are evaluated. (Passing include_tests=False to
    # DataSummaryPreset itself breaks its rendering in Evidently 0.7.23.)
    metrics: list[Any] = [DataDriftPreset(**drift_options(config, spec, limits))]
    if config.data_summary:
        metrics.append(DataSummaryPreset())
    if labelled:
        metrics.append(ClassificationPreset())
    metrics += [test["metric"] for test in tests]
    current = batch.drop(columns=BATCH_COLUMNS + [LABELLED])
    # Evidently's classification metrics need plain integer labels, not pandas' nullable Int8.
    current = current.astype({spec.target_column: "int64"}) if labelled else current.drop(columns=spec.target_column)
    when = info[BATCH_TIME]
    snapshot = evidently_glue.run_report(
        metrics, current, spec, reference, with_target=labelled, name=str(info[BATCH]),
        timestamp=None if pd.isna(when) else pd.Timestamp(when).to_pydatetime(),
        tags=[str(info[SOURCE])] + ([] if pd.isna(info[SCENARIO]) else [str(info[SCENARIO])]))
    return snapshot, tests


def build_batch_reports(scored_batches: pd.DataFrame, scored_reference: pd.DataFrame, champion: DeployedModel,
                        drift_calibration: pd.DataFrame, config: MonitoringConfig, spec: ProblemSpec) -> tuple[dict[str, str], dict[str, dict], pd.DataFrame, list[dict[str, Any]]]:
    """Return per batch the Evidently report as HTML (people) and JSON (machines), the explicit tests' results, and the workspace runs."""
    pages, documents, results, runs = {}, {}, [], []
    for name, batch in scored_batches.groupby(BATCH, sort=False):
        snapshot, tests = _batch_report(batch, scored_reference, champion, drift_calibration, config, spec)
        document = evidently_glue.snapshot_json(snapshot)
        outcomes = evidently_glue.outcomes_by_metric(document)
        for test in tests:
            outcome = outcomes[test["metric"].get_metric_id()]
            results.append({BATCH: name, **{k: test[k] for k in ("test", "kind", "column", "threshold", "severity")},
                            "value": outcome["value"], "passed": outcome["status"] == "SUCCESS",
                            "description": outcome["description"]})
        pages[name] = evidently_glue.snapshot_html(snapshot)
        documents[name] = document
        runs.append({"name": name, "snapshot": snapshot})
    return pages, documents, pd.DataFrame(results, columns=TEST_COLUMNS), runs


SLICE_METRICS = {"recall": Recall, "precision": Precision, "accuracy": Accuracy}


def _slice_metrics(rows_: pd.DataFrame, spec: ProblemSpec) -> dict[str, float]:
    """Return recall, precision and accuracy (at the deployed threshold) of one slice's rows, from one small report."""
    # One report per slice value: Evidently 0.7.23's GroupBy returns the overall value for classification metrics.
    snapshot = evidently_glue.run_report([metric() for metric in SLICE_METRICS.values()], rows_.reset_index(drop=True), spec)
    values = [metric["value"] for metric in evidently_glue.snapshot_json(snapshot)["metrics"]]
    return {name: float(value) for name, value in zip(SLICE_METRICS, values, strict=True)}


def build_slice_metrics(scored_batches: pd.DataFrame, config: MonitoringConfig, spec: ProblemSpec) -> pd.DataFrame:
    """Return classification metrics per labelled batch and slice value with enough positives to compare."""
    target, minimum = spec.target_column, config.tests.slice_recall_gap.min_positives
    found = []
    labelled = scored_batches[scored_batches[LABELLED].astype(bool)]
    for name, batch in labelled.groupby(BATCH, sort=False):
        typed = batch.drop(columns=BATCH_COLUMNS + [LABELLED]).astype({target: "int64"})
        for column in config.slice_columns(spec):
            for value, rows_ in typed.groupby(column, sort=True):
                positives = int(rows_[target].sum())
                entry = {BATCH: name, "slice_column": column, "slice_value": str(value),
                         "rows": len(rows_), "positives": positives, "compared": positives >= minimum}
                if positives >= minimum:
                    entry |= _slice_metrics(rows_, spec)
                found.append(entry)
    return pd.DataFrame(found, columns=[BATCH, "slice_column", "slice_value", "rows", "positives", "compared",
                                        *SLICE_METRICS])


def check_slice_recall_gaps(slice_metrics: pd.DataFrame, config: MonitoringConfig) -> pd.DataFrame:
    """Return the per-slice recall-gap test per labelled batch and slice column (largest minus smallest recall)."""
    test = config.tests.slice_recall_gap
    results = []
    if test.enabled:
        compared = slice_metrics[slice_metrics["compared"].astype(bool)]
        for (name, column), group in compared.groupby([BATCH, "slice_column"], sort=False):
            if len(group) < 2:
                continue
            gap = float(group["recall"].max() - group["recall"].min())
            worst, best = group.loc[group["recall"].idxmin(), "slice_value"], group.loc[group["recall"].idxmax(), "slice_value"]
            results.append({BATCH: name, "test": "slice_recall_gap", "kind": "performance", "column": column,
                            "value": gap, "threshold": test.max, "passed": gap <= test.max, "severity": test.severity,
                            "description": f"recall {best} - {worst} = {gap:.3f} (max {test.max})"})
    return pd.DataFrame(results, columns=TEST_COLUMNS)
