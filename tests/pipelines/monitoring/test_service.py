"""The service's health per UTC day from the request log, and its tests, on a hand-made log whose figures are checked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from ml_lifecycle.pipelines.monitoring.columns import TEST_COLUMNS
from ml_lifecycle.pipelines.monitoring.config import ServiceTests
from ml_lifecycle.pipelines.monitoring.service import (
    PERIOD_COLUMNS,
    check_service_periods,
    service_period_metrics,
)

# (received_at, route, status, latency_ms, rows, rejected_rows)
REQUESTS = pd.DataFrame(
    [
        ("2026-03-01T08:00:00+00:00", "/predict", 200, 1.0, 1, 0),
        ("2026-03-01T09:00:00+00:00", "/predict", 200, 2.0, 3, 0),
        ("2026-03-01T10:00:00+00:00", "/predict", 200, 3.0, 1, 0),
        ("2026-03-01T11:00:00+00:00", "/predict", 422, 4.0, 0, 2),
        ("2026-03-01T12:00:00+00:00", "/predict", 500, 10.0, 0, 0),
        ("2026-03-01T13:00:00+00:00", "/health", 200, 0.5, 0, 0),
        ("2026-03-01T23:59:59.999999+00:00", "/feedback", 401, 0.3, 0, 0),
        ("2026-03-01T23:30:00-02:00", "/predict", 200, 7.0, 2, 0),  # 01:30 UTC on 2 March
        ("2026-03-02T05:00:00+00:00", "/metrics", 200, 0.2, 0, 0),
        ("2026-03-03T00:00:00+00:00", "/health", 200, 0.4, 0, 0),
    ],
    columns=["received_at", "route", "status", "latency_ms", "rows", "rejected_rows"],
)
# One row per scored input row; 28 February is a day logged before the requests table existed.
PREDICTIONS = pd.DataFrame({
    "received_at": ["2026-02-28T12:00:00+00:00"] + ["2026-03-01T08:00:00+00:00"] * 5 + ["2026-03-01T23:30:00-02:00"] * 2,
    "probability": [0.3, 0.1, 0.45, 0.55, 0.9, 0.5, 0.2, 0.58],
})


def inside_band(probabilities: np.ndarray) -> np.ndarray:
    """An abstain band of (0.4, 0.6)."""
    return (probabilities > 0.4) & (probabilities < 0.6)


@pytest.fixture
def periods() -> pd.DataFrame:
    """The hand-made log's days."""
    return service_period_metrics(REQUESTS, PREDICTIONS, inside_band).set_index("batch")


def test_each_utc_day_of_the_log_is_one_period_named_as_monitoring_names_it(periods: pd.DataFrame):
    assert periods.index.tolist() == ["requests_2026-02-28", "requests_2026-03-01", "requests_2026-03-02", "requests_2026-03-03"]
    assert periods.reset_index().columns.tolist() == PERIOD_COLUMNS


def test_a_day_counts_requests_statuses_refused_and_scored_rows(periods: pd.DataFrame):
    counts = ["requests", "predict_requests", "status_4xx", "status_5xx", "rejected_rows", "rows_scored"]
    assert periods.loc["requests_2026-03-01", counts].tolist() == [7, 5, 2, 1, 2, 5]
    assert periods.loc["requests_2026-03-02", counts].tolist() == [2, 1, 0, 0, 0, 2]
    assert periods.loc["requests_2026-03-03", counts].tolist() == [1, 0, 0, 0, 0, 0]
    assert periods.loc["requests_2026-03-01", "error_rate"] == pytest.approx(1 / 7)
    assert periods.loc["requests_2026-03-03", "error_rate"] == 0.0


def test_latency_percentiles_are_of_the_days_predict_requests_only(periods: pd.DataFrame):
    # 1 March: /predict latencies 1, 2, 3, 4, 10 ms, interpolated between ranks (NumPy's default).
    day = periods.loc["requests_2026-03-01"]
    assert day["latency_p50_ms"] == pytest.approx(3.0)
    assert day["latency_p95_ms"] == pytest.approx(4 + 0.8 * 6)
    assert day["latency_p99_ms"] == pytest.approx(4 + 0.96 * 6)
    assert periods.loc["requests_2026-03-02", ["latency_p50_ms", "latency_p95_ms", "latency_p99_ms"]].tolist() == [7.0] * 3
    assert periods.loc["requests_2026-03-03", ["latency_p50_ms", "latency_p99_ms"]].isna().all()


def test_low_confidence_share_comes_from_the_days_scored_probabilities(periods: pd.DataFrame):
    assert periods.loc["requests_2026-03-01", "low_confidence_share"] == pytest.approx(3 / 5)  # 0.45, 0.55, 0.5
    assert periods.loc["requests_2026-03-02", "low_confidence_share"] == pytest.approx(1 / 2)  # 0.58
    assert np.isnan(periods.loc["requests_2026-03-03", "low_confidence_share"])


def test_a_day_logged_before_the_requests_table_has_scored_rows_and_no_request_figures(periods: pd.DataFrame):
    old = periods.loc["requests_2026-02-28"]
    assert old[["requests", "rows_scored", "low_confidence_share"]].tolist() == [0, 1, 0.0]
    assert old[["latency_p99_ms", "error_rate"]].isna().all()


def test_an_empty_log_has_no_periods():
    empty = service_period_metrics(REQUESTS.iloc[:0], PREDICTIONS.iloc[:0], inside_band)
    assert empty.empty and empty.columns.tolist() == PERIOD_COLUMNS


def test_each_day_is_judged_on_p99_latency_and_error_rate_where_it_has_them(periods: pd.DataFrame):
    tests = ServiceTests.model_validate({"p99_latency_ms": {"max": 9, "severity": "warning"},
                                         "error_rate": {"max": 0.1, "severity": "critical"}})
    results = check_service_periods(periods.reset_index(), tests)
    assert results.columns.tolist() == TEST_COLUMNS
    assert set(results["kind"]) == {"service"}
    judged = {(r.batch, r.test): (r.passed, r.severity, r.threshold) for r in results.itertuples()}
    assert judged == {
        ("requests_2026-03-01", "p99_latency_ms"): (False, "warning", 9.0),  # 9.76 ms
        ("requests_2026-03-01", "error_rate"): (False, "critical", 0.1),  # 1 of 7
        ("requests_2026-03-02", "p99_latency_ms"): (True, "warning", 9.0),
        ("requests_2026-03-02", "error_rate"): (True, "critical", 0.1),
        ("requests_2026-03-03", "error_rate"): (True, "critical", 0.1),
    }
    failed = results[~results["passed"].astype(bool)].set_index("test")
    assert failed.loc["p99_latency_ms", "value"] == pytest.approx(9.76)
    assert failed.loc["p99_latency_ms", "column"] == "latency_p99_ms"
    assert failed.loc["error_rate", "description"] == "1 of 7 requests answered 5xx: 0.1429 (max 0.1)"


def test_a_disabled_test_is_left_out_and_the_defaults_are_generic(periods: pd.DataFrame):
    tests = ServiceTests.model_validate({"error_rate": {"max": 0.01, "severity": "critical", "enabled": False}})
    assert set(check_service_periods(periods.reset_index(), tests)["test"]) == {"p99_latency_ms"}
    defaults = ServiceTests()
    assert (defaults.p99_latency_ms.max, defaults.p99_latency_ms.severity) == (250, "warning")
    assert (defaults.error_rate.max, defaults.error_rate.severity) == (0.01, "critical")


def test_a_misspelt_or_invalid_service_test_setting_fails_naming_it():
    with pytest.raises(ValidationError, match="p99_latency"):
        ServiceTests.model_validate({"p99_latency": {"max": 100, "severity": "warning"}})
    with pytest.raises(ValidationError, match="error_rate.severity"):
        ServiceTests.model_validate({"error_rate": {"max": 0.01, "severity": "fatal"}})
