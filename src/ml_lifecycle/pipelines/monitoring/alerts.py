"""Verdicts and alerts: one summary row per batch, its alert level and reason, and the retrain recommendation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ml_lifecycle.pipelines.monitoring.columns import (
    BATCH,
    DETAIL,
    LABEL_TIMES,
    LABELLED,
    SCENARIO,
    SOURCE,
)
from ml_lifecycle.pipelines.monitoring.config import (
    MonitoringConfig,
)


def _failure_text(failed: pd.DataFrame) -> str:
    """Return failed tests as `test[column]=value (limit)` phrases."""
    return "; ".join(
        f"{row.test}{'' if pd.isna(row.column) else f'[{row.column}]'}={row.value:.3g} "
        f"({'min' if row.test in ('roc_auc', 'estimated_roc_auc', 'row_count') else 'max'} {row.threshold:g})"
        for row in failed.itertuples()
    )


def _batch_verdict(tests: pd.DataFrame) -> dict[str, Any]:
    """Return a batch's results by kind, its alert level and the reason."""
    failed = tests[~tests["passed"].astype(bool)]
    level = "ok"
    if len(failed):
        level = "critical" if (failed["severity"] == "critical").any() else "warning"

    def outcome(kind: str) -> str:
        of_kind = tests[tests["kind"] == kind]
        if of_kind.empty:
            return "not run"
        return "pass" if of_kind["passed"].astype(bool).all() else "fail"

    return {"drift": outcome("drift"), "data_quality": outcome("quality"), "performance": outcome("performance"),
            "estimated_performance": outcome("estimated_performance"), "service": outcome("service"),
            "tests_failed": len(failed), "alert_level": level, "alert": level == "critical",
            "reason": _failure_text(failed) if len(failed) else "all tests pass"}


def _judged_on(metrics: dict[str, Any], tests: pd.DataFrame) -> str:
    """Return what a batch's performance was judged on: all its labels, its labelled part, or the estimate alone."""
    if metrics[LABELLED]:
        return "labels"
    if (tests["test"] == "roc_auc").any():
        return "labelled part and estimate"
    return "estimate; labels partly in" if metrics["labelled_rows"] else "estimate"


def _value(tests: pd.DataFrame, test: str, field: str = "value") -> float:
    """Return a batch-level test's measured value, or another field such as its threshold (NaN when the test did not run)."""
    found = tests.loc[tests["test"] == test, field]
    return float(found.iloc[0]) if len(found) else float("nan")


def combine_tests(*results: pd.DataFrame) -> pd.DataFrame:
    """Return test results of several checks as one table."""
    return pd.concat([r for r in results if len(r)], ignore_index=True) if any(len(r) for r in results) else results[0]


SERVICE_FIGURES = ["requests", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "status_4xx", "status_5xx", "rejected_rows"]


def summarise_batches(scoring_metrics: pd.DataFrame, test_results: pd.DataFrame, slice_tests: pd.DataFrame,
                      batch_errors: pd.DataFrame, service_periods: pd.DataFrame, estimates: pd.DataFrame) -> pd.DataFrame:
    """Return one row per batch: what it is, its drift, quality and performance results, its alert and the scoring cost;
    a day of the request log also gets the service's figures of that day (requests, latency, errors, refusals); with a
    declared decision value, the batch's value per 1,000 decisions, realised where labels came, else estimated."""
    tests = pd.concat([test_results, slice_tests], ignore_index=True)
    summary = []
    for metrics in scoring_metrics.to_dict("records"):
        own = tests[tests[BATCH] == metrics[BATCH]]
        summary.append({
            **{k: metrics[k] for k in (BATCH, SOURCE, SCENARIO, DETAIL, LABELLED, "rows", "model_version", *LABEL_TIMES,
                                       "low_confidence_share")},
            "judged_on": _judged_on(metrics, own),
            "drift_share": _value(own, "drifted_columns_share"), "drift_share_limit": _value(own, "drifted_columns_share", "threshold"),
            "prediction_drift": _value(own, "prediction_drift"), "prediction_drift_limit": _value(own, "prediction_drift", "threshold"),
            "roc_auc": _value(own, "roc_auc"), "roc_auc_limit": _value(own, "roc_auc", "threshold"),
            "estimated_roc_auc": _value(own, "estimated_roc_auc"),
            "estimated_roc_auc_limit": _value(own, "estimated_roc_auc", "threshold"), **_batch_verdict(own),
            **{k: metrics[k] for k in ("scoring_seconds", "latency_ms_per_row", "rows_per_second", "peak_memory_mb")},
        })
    for error in batch_errors.to_dict("records"):
        summary.append({**{k: error[k] for k in (BATCH, SOURCE, SCENARIO, DETAIL)}, "drift": "not run",
                        "data_quality": "error", "performance": "not run", "estimated_performance": "not run",
                        "service": "not run", "alert_level": "critical", "alert": True,
                        "reason": f"batch rejected: {error['reason']}"})
    columns = [BATCH, SOURCE, SCENARIO, DETAIL, LABELLED, "rows", "model_version", *LABEL_TIMES, "judged_on",
               "low_confidence_share", "drift_share",
               "drift_share_limit", "prediction_drift", "prediction_drift_limit", "roc_auc", "roc_auc_limit", "estimated_roc_auc",
               "estimated_roc_auc_limit", "drift", "data_quality", "performance", "estimated_performance", "tests_failed",
               "service", "alert_level", "alert", "reason", "scoring_seconds", "latency_ms_per_row", "rows_per_second",
               "peak_memory_mb"]
    figures = service_periods.set_index(BATCH)[SERVICE_FIGURES]
    estimates = estimates.set_index(BATCH)
    realised, estimated = estimates["realised_value_per_1000"], estimates["estimated_value_per_1000"]
    value = pd.DataFrame({"value_per_1000": realised.fillna(estimated),
                          "value_from": np.where(realised.notna(), "labels", np.where(estimated.notna(), "estimate", None))},
                         index=estimates.index)
    summary_frame = pd.DataFrame(summary, columns=columns).join(figures, on=BATCH).join(value, on=BATCH)
    return summary_frame.astype({"rows": "Int64", "labelled_rows": "Int64", "tests_failed": "Int64",
                                                          LABELLED: "boolean"})


def recommend_retraining(summary: pd.DataFrame, test_results: pd.DataFrame, slice_tests: pd.DataFrame,
                         config: MonitoringConfig) -> dict[str, Any]:
    """Return whether to retrain, and why: performance failures or repeated drift say retrain; broken data says fix the feed."""
    policy, reasons = config.retrain, []
    tests = pd.concat([test_results, slice_tests], ignore_index=True)
    failed = tests[~tests["passed"].astype(bool) & (tests["severity"] == "critical")]
    broken = set(failed.loc[failed["kind"] == "quality", BATCH]) | set(summary.loc[summary["data_quality"] == "error", BATCH])
    # A batch with broken data says nothing about the model: its drift and performance are the fault's.
    model_evidence = failed[~failed[BATCH].isin(broken)]
    performance = model_evidence[model_evidence["kind"] == "performance"]
    degraded = list(dict.fromkeys(performance[BATCH]))
    if policy.on_performance_failure and degraded:
        reasons.append(f"performance below its limits on labelled batch(es) {', '.join(degraded)}: {_failure_text(performance)}")
    latest = summary.loc[(summary["drift"] != "not run") & ~summary[BATCH].isin(broken), BATCH].tail(policy.window)
    drifted = [b for b in latest if b in set(model_evidence.loc[model_evidence["kind"] == "drift", BATCH])]
    if len(drifted) >= policy.drifted_batches:
        reasons.append(f"drift in {len(drifted)} of the latest {len(latest)} batches with sound data ({', '.join(drifted)}): "
                       "the population differs from the one the model was trained on")
    broken = sorted(broken, key=summary[BATCH].tolist().index)
    retrain = bool(reasons)
    action = "retrain" if retrain else ("fix the data feed" if broken else "no action")
    notes = [f"data-quality faults or rejected batches ({', '.join(broken)}): fix the feed first; "
             "retraining on broken data would teach the model the fault"] if broken else []
    return {"retrain": retrain, "action": action,
            "reason": " | ".join(reasons) if reasons else ("no batch shows degraded performance or repeated drift"),
            "notes": notes, "batches": int(len(summary)), "alerts": int(summary["alert"].astype(bool).sum()),
            "alerting_batches": summary.loc[summary["alert"].astype(bool), BATCH].tolist()}
