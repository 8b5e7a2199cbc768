"""The prediction service's health per UTC day, from its request log, and the tests monitoring applies to it.

`service_period_metrics` turns the log's `requests` table (one row per HTTP request, catalog
entry `service_requests`) and its `predictions` view (one row per scored input row, catalog
entry `request_log`) into one row per day, named `requests_YYYY-MM-DD` as monitoring names the
log's batches. `check_service_periods` judges those rows against `monitoring.service`, in the
shape of monitoring's other test results.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from ml_lifecycle.deployment import DeployedModel
from ml_lifecycle.pipelines.monitoring.columns import BATCH, TEST_COLUMNS
from ml_lifecycle.pipelines.monitoring.config import (
    MaxTest,
    MonitoringConfig,
    ServiceTests,
)

PREDICT = "/predict"
PERIOD_COLUMNS = [BATCH, "requests", "predict_requests", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms",
                  "status_4xx", "status_5xx", "error_rate", "rejected_rows", "rows_scored", "low_confidence_share"]


def day_batch_names(received_at: pd.Series) -> pd.Series:
    """Return each ISO timestamp's batch name: `requests_` and its UTC day (monitoring's name for a day of the request log)."""
    return "requests_" + pd.to_datetime(received_at, utc=True, format="ISO8601").dt.strftime("%Y-%m-%d")


def _request_figures(requests: pd.DataFrame) -> pd.DataFrame:
    """Return, per day of requests, the counts by status and the /predict latency percentiles."""
    frame = requests.assign(batch=day_batch_names(requests["received_at"]), predict=requests["route"] == PREDICT,
                            client_error=requests["status"].between(400, 499), server_error=requests["status"] >= 500)
    figures = frame.groupby("batch").agg(requests=("route", "size"), predict_requests=("predict", "sum"),
                                         status_4xx=("client_error", "sum"), status_5xx=("server_error", "sum"),
                                         rejected_rows=("rejected_rows", "sum"))
    latency = frame[frame["predict"]].groupby("batch")["latency_ms"]
    for percent in (50, 95, 99):
        figures[f"latency_p{percent}_ms"] = latency.quantile(percent / 100)
    figures["error_rate"] = figures["status_5xx"] / figures["requests"]
    return figures


def _prediction_figures(predictions: pd.DataFrame, low_confidence: Callable[[np.ndarray], np.ndarray]) -> pd.DataFrame:
    """Return, per day of scored rows, how many were scored and the share inside the abstain band."""
    frame = pd.DataFrame({"batch": day_batch_names(predictions["received_at"]),
                          "low": low_confidence(predictions["probability"].to_numpy(dtype=float))})
    return frame.groupby("batch").agg(rows_scored=("low", "size"), low_confidence_share=("low", "mean"))


def service_period_metrics(requests: pd.DataFrame, predictions: pd.DataFrame,
                           low_confidence: Callable[[np.ndarray], np.ndarray]) -> pd.DataFrame:
    """Return one row per UTC day of service traffic: volumes, /predict latency percentiles, errors, refusals, low confidence.

    A day the log holds scored rows but no requests (a log written before the `requests` table
    existed) has zero requests and no latency or error figures.
    """
    if requests.empty and predictions.empty:
        return pd.DataFrame(columns=PERIOD_COLUMNS)
    by_requests = _request_figures(requests) if len(requests) else None
    by_predictions = _prediction_figures(predictions, low_confidence) if len(predictions) else None
    periods = pd.concat([by_requests, by_predictions], axis=1).sort_index()
    counts = ["requests", "predict_requests", "status_4xx", "status_5xx", "rejected_rows", "rows_scored"]
    periods = periods.reindex(columns=[c for c in PERIOD_COLUMNS if c != "batch"])
    periods[counts] = periods[counts].fillna(0).astype(int)
    return periods.rename_axis("batch").reset_index()[PERIOD_COLUMNS]


def _limit_result(batch: str, test: str, column: str, value: float, limit: MaxTest, description: str) -> dict:
    """Return one test result row."""
    return {"batch": batch, "test": test, "kind": "service", "column": column, "value": value, "threshold": limit.max,
            "passed": value <= limit.max, "severity": limit.severity, "description": description}


def check_service_periods(periods: pd.DataFrame, tests: ServiceTests) -> pd.DataFrame:
    """Return the service tests' result per day: p99 /predict latency and 5xx share against their limits.

    A day without /predict requests has no latency to judge, and a day without requests no error
    rate: those tests are left out for it rather than passed.
    """
    results = []
    for period in periods.itertuples(index=False):
        if tests.p99_latency_ms.enabled and pd.notna(period.latency_p99_ms):
            results.append(_limit_result(
                period.batch, "p99_latency_ms", "latency_p99_ms", float(period.latency_p99_ms), tests.p99_latency_ms,
                f"p99 latency of {period.predict_requests} POST /predict requests {period.latency_p99_ms:.1f} ms "
                f"(max {tests.p99_latency_ms.max:g} ms)"))
        if tests.error_rate.enabled and pd.notna(period.error_rate):
            results.append(_limit_result(
                period.batch, "error_rate", "error_rate", float(period.error_rate), tests.error_rate,
                f"{period.status_5xx} of {period.requests} requests answered 5xx: {period.error_rate:.4f} "
                f"(max {tests.error_rate.max:g})"))
    return pd.DataFrame(results, columns=TEST_COLUMNS)


def summarise_service(service_requests: pd.DataFrame, request_log: pd.DataFrame, champion: DeployedModel,
                      config: MonitoringConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the service's figures per day (low confidence by the deployed champion's abstain band) and their tests."""
    periods = service_period_metrics(service_requests, request_log, champion.low_confidence)
    return periods, check_service_periods(periods, config.service)
