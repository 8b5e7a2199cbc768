"""Monitoring nodes on tiny hand-made frames (the inference tests' tiny problem and a real fitted champion)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml_lifecycle.pipelines.monitoring import (
    alerts,
    checks,
    columns,
    pages,
    scenarios,
    sources,
)
from ml_lifecycle.pipelines.monitoring.config import (
    ConceptDrift,
    CovariateShift,
    LabelsConfig,
    MissingSpike,
    PriorShift,
    UnitChange,
    UnseenCategory,
)
from ml_lifecycle.pipelines.monitoring.service import PERIOD_COLUMNS

from .tiny_monitoring import (
    headerless_spec,
    held_out_rows,
    tiny_config,
    tiny_deployed,
)

NO_ERRORS = pd.DataFrame(columns=columns.ERROR_COLUMNS)
NO_ARRIVAL_ERRORS = pd.DataFrame(columns=sources.ARRIVAL_REPORT_COLUMNS)
NO_SERVICE = pd.DataFrame(columns=PERIOD_COLUMNS)
NO_ESTIMATES = pd.DataFrame(columns=["batch", "estimated_value_per_1000", "realised_value_per_1000"])
LABELS = LabelsConfig(folder="labels")


def typed_batch(n: int = 100) -> pd.DataFrame:
    """Return typed rows of the tiny problem: ages 20..69 twice, labels 1 above 40."""
    age = np.tile(np.arange(20, 70, dtype=float), n // 50)
    return pd.DataFrame({"age": age, "hours_per_week": np.full(n, 40.0),
                         "work_class": pd.array(["Private", "State-gov"] * (n // 2), dtype="str"),
                         "income": (age > 40).astype(int)})


def standardised(batch: str, records: list[list[object]], source: str = "dropped_in") -> pd.DataFrame:
    """Return a batch source's standardised rows (age, hours, work class, raw label), keyed `<batch>:<row>`."""
    frame = pd.DataFrame(records, columns=["age", "hours_per_week", "work_class", "income"])
    frame[columns.BATCH], frame[columns.SOURCE], frame[columns.SCENARIO], frame[columns.DETAIL], frame[columns.BATCH_TIME] = (
        batch, source, pd.NA, f"{batch}.csv", pd.NaT)
    frame[columns.ROW_KEY] = [f"{batch}:{row}" for row in range(len(frame))]
    frame[columns.LABELLED_AT] = pd.NaT
    frame[columns.LABEL_SOURCE] = pd.Series(f"file {batch}.csv", index=frame.index).where(frame["income"].notna())
    return frame


def prepared(*sources_: pd.DataFrame, arrivals: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return prepare_production_batches' batches and batch errors for these sources and late labels."""
    arrivals = pd.DataFrame(columns=sources.ARRIVAL_COLUMNS) if arrivals is None else arrivals
    batches, errors, _ = sources.prepare_production_batches(NO_ERRORS, arrivals, NO_ARRIVAL_ERRORS, headerless_spec(), *sources_)
    return batches, errors


# ---------- scenarios ----------

def test_covariate_shift_draws_the_declared_share_from_the_subpopulation():
    shifted = scenarios.apply_scenario(typed_batch(), CovariateShift(kind="covariate_shift", toward="age >= 60", share=0.7),
                                   headerless_spec(), np.random.default_rng(0), "key")
    assert len(shifted) == 100
    assert (shifted["age"] >= 60).sum() == 70


def test_prior_shift_draws_the_declared_positive_share():
    shifted = scenarios.apply_scenario(typed_batch(), PriorShift(kind="prior_shift", positive_share=0.25),
                                   headerless_spec(), np.random.default_rng(0), "key")
    assert shifted["income"].sum() == 25


def test_missing_spike_empties_the_declared_share_of_one_column_only():
    spiked = scenarios.apply_scenario(typed_batch(), MissingSpike(kind="missing_spike", column="work_class", share=0.3),
                                  headerless_spec(), np.random.default_rng(0), "key")
    assert spiked["work_class"].isna().sum() == 30
    assert spiked.drop(columns="work_class").equals(typed_batch().drop(columns="work_class"))


def test_unit_change_multiplies_every_value():
    changed = scenarios.apply_scenario(typed_batch(), UnitChange(kind="unit_change", column="hours_per_week", factor=60),
                                   headerless_spec(), np.random.default_rng(0), "key")
    assert (changed["hours_per_week"] == 2400).all()


def test_unseen_category_replaces_the_declared_share():
    changed = scenarios.apply_scenario(typed_batch(), UnseenCategory(kind="unseen_category", column="work_class",
                                                                 value="Gig", share=0.1),
                                   headerless_spec(), np.random.default_rng(0), "key")
    assert (changed["work_class"] == "Gig").sum() == 10


def test_concept_drift_flips_the_labels_of_the_subgroup_only():
    batch = typed_batch()
    flipped = scenarios.apply_scenario(batch, ConceptDrift(kind="concept_drift", subgroup="age < 30"),
                                   headerless_spec(), np.random.default_rng(0), "key")
    young = batch["age"] < 30
    assert (flipped.loc[young, "income"] == 1 - batch.loc[young, "income"]).all()
    assert flipped.loc[~young].equals(batch.loc[~young])


def test_a_query_that_does_not_evaluate_names_the_scenario_key():
    with pytest.raises(ValueError, match=r"scenarios\[2\]: query 'salary > 3'"):
        scenarios.apply_scenario(typed_batch(), ConceptDrift(kind="concept_drift", subgroup="salary > 3"),
                             headerless_spec(), np.random.default_rng(0), "monitoring.simulation.scenarios[2]")


def test_resampling_needs_rows_outside_the_subpopulation():
    with pytest.raises(ValueError, match="holds 100 of 100 rows"):
        scenarios.apply_scenario(typed_batch(), CovariateShift(kind="covariate_shift", toward="age > 0", share=0.5),
                             headerless_spec(), np.random.default_rng(0), "key")


# ---------- batch sources ----------

def test_simulation_cuts_the_held_out_rows_into_one_tagged_batch_per_scenario():
    batches = scenarios.simulate_production_batches(held_out_rows(40), tiny_config(simulation={"label_delay": 0}),
                                                    headerless_spec())
    assert batches.groupby("batch", sort=False)["scenario"].first().to_dict() == {"week_01": "clean", "week_02": "unit_change"}
    assert batches["batch"].value_counts().tolist() == [20, 20]
    assert set(batches["income"]) <= {">50K", "<=50K"}  # raw labels, prepared like any other source
    assert batches["batch_time"].drop_duplicates().tolist() == [pd.Timestamp("2026-01-05"), pd.Timestamp("2026-01-12")]


def test_without_declared_scenarios_one_of_each_fault_falls_on_the_strongest_features():
    batches = scenarios.simulate_production_batches(held_out_rows(200), tiny_config(simulation={"scenarios": None}),
                                                    headerless_spec())
    described = batches.groupby("batch")[["scenario", "scenario_detail"]].first()
    assert described["scenario"].tolist() == ["clean", "clean", "covariate_shift", "clean", "missing_spike", "unit_change",
                                              "unseen_category", "prior_shift", "concept_drift", "clean"]
    details = dict(zip(described["scenario"], described["scenario_detail"], strict=False))
    # the label is age > 40: age ranks the labels best, so the shift, the unit change and the concept drift fall on it
    assert details["covariate_shift"].startswith("80% of rows where age >")
    assert details["unit_change"] == "age x 100" and details["concept_drift"].startswith("labels flipped where age >")
    assert details["missing_spike"] == "40% of work_class set missing"


def test_an_unlabelled_scenario_has_no_labels():
    config = tiny_config(simulation={"scenarios": [{"kind": "clean", "labelled": False}]})
    batches = scenarios.simulate_production_batches(held_out_rows(), config, headerless_spec())
    assert batches["income"].isna().all()


def test_labels_arrive_the_declared_number_of_periods_after_their_batch():
    four = [{"kind": "clean"}] * 4
    config = tiny_config(simulation={"scenarios": four, "label_delay": 2})
    batches = scenarios.simulate_production_batches(held_out_rows(80), config, headerless_spec())
    per_batch = batches.groupby("batch")[["batch_time", "labelled_at"]].first()
    assert per_batch["labelled_at"].tolist()[:2] == [pd.Timestamp("2026-01-19"), pd.Timestamp("2026-01-26")]
    assert per_batch["labelled_at"].iloc[2:].isna().all()  # due after the last batch: not arrived
    labelled = batches.groupby("batch")["income"].apply(lambda labels: labels.notna().all()).tolist()
    assert labelled == [True, True, False, False]


def test_moving_the_simulated_today_produces_fewer_batches_and_brings_labels_later():
    config = tiny_config(simulation={"scenarios": [{"kind": "clean"}] * 4, "label_delay": 1, "as_of": "2026-01-12"})
    batches = scenarios.simulate_production_batches(held_out_rows(80), config, headerless_spec())
    assert batches["batch"].unique().tolist() == ["week_01", "week_02"]  # weeks 3 and 4 are not produced yet
    assert batches.groupby("batch")["income"].apply(lambda labels: labels.notna().all()).tolist() == [True, False]


def test_disabled_simulation_yields_no_batches():
    config = tiny_config(simulation={"enabled": False})
    assert scenarios.simulate_production_batches(held_out_rows(), config, headerless_spec()).empty


def test_prepared_batches_are_typed_like_training_rows_with_slices_and_labels():
    source = standardised("shop", [["25", "40", "Private", "<=50K."], ["52", "?", "State-gov", ">50K."]])
    source.loc[1, "hours_per_week"] = pd.NA  # missing markers are NA after standardising
    batches, errors = prepared(source)
    assert errors.empty
    assert batches["age"].tolist() == [25.0, 52.0]
    assert batches["hours_per_week"].isna().tolist() == [False, True]
    assert batches["income"].tolist() == [0, 1]
    assert batches["age_band"].tolist() == ["<30", "30+"]
    assert batches["labelled"].all()


def test_a_batch_without_labels_is_prepared_unlabelled():
    source = standardised("later", [["25", "40", "Private", pd.NA]]).drop(columns="income")
    batches, errors = prepared(source)
    assert errors.empty and not batches["labelled"].any() and batches["income"].isna().all()


def test_a_batch_with_unparseable_values_gets_its_own_error_and_the_others_go_on():
    bad = standardised("bad", [["forty", "40", "Private", ">50K"]])
    good = standardised("good", [["41", "40", "Private", ">50K"]])
    batches, errors = prepared(pd.concat([bad, good]))
    assert batches["batch"].unique().tolist() == ["good"]
    assert errors["batch"].tolist() == ["bad"]
    assert "age: 'forty' is not a number" in errors["reason"].iloc[0]
    assert "dropped_in batch 'bad' (bad.csv)" in errors["reason"].iloc[0]


def test_a_batch_missing_a_feature_column_gets_an_error_naming_it():
    source = standardised("short", [["41", "40", "Private", ">50K"]]).drop(columns="work_class")
    _, errors = prepared(source)
    assert "required column(s) ['work_class'] missing" in errors["reason"].iloc[0]


def test_an_unknown_label_is_an_error_naming_the_rule():
    source = standardised("odd", [["41", "40", "Private", "maybe"]])
    _, errors = prepared(source)
    assert "label is a declared label" in errors["reason"].iloc[0]


def test_a_second_batch_of_the_same_name_is_rejected_not_merged():
    first = standardised("week_01", [["41", "40", "Private", ">50K"]], source="simulated")
    second = standardised("week_01", [["30", "40", "Private", ">50K"]])
    batches, errors = prepared(first, second)
    assert len(batches) == 1 and batches["source"].iloc[0] == "simulated"
    assert "another batch already has this name" in errors["reason"].iloc[0]


def test_unreadable_files_keep_their_error_entries():
    unreadable = pd.DataFrame([{"batch": "empty", "source": "dropped_in", "scenario": pd.NA,
                                "scenario_detail": "empty.csv", "reason": "empty.csv: the file is empty"}])
    _, errors, _ = sources.prepare_production_batches(unreadable, pd.DataFrame(columns=sources.ARRIVAL_COLUMNS),
                                                       NO_ARRIVAL_ERRORS, headerless_spec())
    assert errors["batch"].tolist() == ["empty"]


def _loader(content: bytes):
    return lambda: content


def test_dropped_in_files_become_batches_named_after_the_file():
    files = {"a": _loader(b"25, 40, Private, <=50K.\n"), "b": _loader(b"25,40,Private\n"), "c": _loader(b""),
             "d": _loader(b"25,40\n")}
    batches, unreadable = sources.read_dropped_in_batches(files, "production", LABELS, headerless_spec())
    assert batches["batch"].tolist() == ["a", "b"]
    assert batches["income"].tolist()[0] == "<=50K."
    assert "read without the label column" in batches.loc[batches["batch"] == "b", "scenario_detail"].iloc[0]
    assert unreadable.set_index("batch")["reason"].to_dict() == {
        "c": "production/c.csv: the file is empty (rule: non-empty)",
        "d": "production/d.csv: expected 4 columns (problem.raw.column_names), or 3 without the label column, found 2",
    }


# ---------- scoring ----------

def test_scoring_uses_the_deployed_fills_and_threshold():
    deployed = tiny_deployed()
    typed = typed_batch(50).drop(columns="income")
    typed.loc[0, "hours_per_week"] = np.nan
    scored = checks.score_reference(typed, deployed, headerless_spec())
    filled = typed.fillna({"hours_per_week": deployed.fills["hours_per_week"]}).assign(hours_per_week_missing=0)
    filled.loc[0, "hours_per_week_missing"] = 1
    expected = deployed.model.predict_proba(filled[headerless_spec().model_columns()])[:, 1]
    assert np.allclose(scored["prediction_proba"], expected)
    assert (scored["prediction"] == (expected >= deployed.threshold)).all()


def test_scoring_reports_rows_latency_throughput_and_memory_per_batch():
    batch = typed_batch(50).assign(batch="b1", source="simulated", scenario="clean", scenario_detail="",
                                   batch_time=pd.Timestamp("2026-01-05"), row_key="k",
                                   labelled_at=pd.Timestamp("2026-01-12"), label_source="simulation", labelled=True)
    _, metrics = checks.score_production_batches(batch, tiny_deployed(), headerless_spec())
    row = metrics.iloc[0]
    assert row["rows"] == 50 and row["model_version"] == "v1"
    assert (row["predicted_at"], row["labelled_rows"], row["labelled_at"]) == (
        pd.Timestamp("2026-01-05"), 50, pd.Timestamp("2026-01-12"))
    scored, _ = checks.score_production_batches(batch, tiny_deployed(), headerless_spec())
    assert row["low_confidence_share"] == scored["prediction_proba"].between(0.4, 0.6, inclusive="neither").mean()
    assert row["scoring_seconds"] > 0 and row["peak_memory_mb"] > 0
    assert row["rows_per_second"] == pytest.approx(50 / row["scoring_seconds"])
    assert row["latency_ms_per_row"] == pytest.approx(1000 * row["scoring_seconds"] / 50)


# ---------- tests, summary, recommendation ----------

def slice_rows(batch: str, recalls: dict[str, float], positives: int = 10) -> list[dict]:
    return [{"batch": batch, "slice_column": "work_class", "slice_value": value, "rows": 50, "positives": positives,
             "compared": positives >= 3, "recall": recall, "precision": 0.5, "accuracy": 0.5}
            for value, recall in recalls.items()]


def test_the_slice_recall_gap_is_the_largest_minus_the_smallest_recall():
    metrics = pd.DataFrame(slice_rows("b1", {"Private": 0.9, "State-gov": 0.5}) + slice_rows("b2", {"Private": 0.8, "State-gov": 0.7}))
    results = checks.check_slice_recall_gaps(metrics, tiny_config())
    assert results["value"].round(6).tolist() == [0.4, 0.1]
    assert results["passed"].tolist() == [False, True]
    assert results["severity"].tolist() == ["warning", "warning"]


def test_slice_values_with_too_few_positives_are_not_compared():
    metrics = pd.DataFrame(slice_rows("b1", {"Private": 0.9}) + slice_rows("b1", {"State-gov": 0.1}, positives=2))
    assert checks.check_slice_recall_gaps(metrics, tiny_config()).empty


def result_row(batch: str, test: str, kind: str, passed: bool, severity: str = "critical", value: float = 0.5) -> dict:
    return {"batch": batch, "test": test, "kind": kind, "column": None, "value": value, "threshold": 0.3,
            "passed": passed, "severity": severity, "description": ""}


def scoring(*batches: str) -> pd.DataFrame:
    return pd.DataFrame([{"batch": b, "source": "simulated", "scenario": "clean", "scenario_detail": "", "labelled": True,
                          "rows": 10, "model_version": "v1", "predicted_at": pd.NaT, "labelled_rows": 10, "labelled_at": pd.NaT,
                          "low_confidence_share": 0.1, "scoring_seconds": 0.01,
                          "latency_ms_per_row": 1.0,
                          "rows_per_second": 1000.0, "peak_memory_mb": 1.0} for b in batches])


def test_a_failed_critical_test_raises_the_alert_and_a_failed_warning_only_reports():
    results = pd.DataFrame([result_row("ok", "roc_auc", "performance", True),
                            result_row("warned", "slice_recall_gap", "performance", False, "warning"),
                            result_row("bad", "missing_share", "quality", False)])
    summary = alerts.summarise_batches(scoring("ok", "warned", "bad"), results, results.iloc[:0], NO_ERRORS, NO_SERVICE, NO_ESTIMATES)
    assert summary.set_index("batch")["alert_level"].to_dict() == {"ok": "ok", "warned": "warning", "bad": "critical"}
    assert summary["alert"].tolist() == [False, False, True]
    assert summary.set_index("batch").loc["bad", "data_quality"] == "fail"
    assert summary.set_index("batch").loc["bad", "reason"] == "missing_share=0.5 (max 0.3)"


def test_a_rejected_batch_is_a_critical_alert_with_its_reason():
    errors = pd.DataFrame([{"batch": "broken", "source": "dropped_in", "scenario": pd.NA, "scenario_detail": "x.csv",
                            "reason": "x.csv: no data"}])
    summary = alerts.summarise_batches(scoring("ok"), pd.DataFrame(columns=columns.TEST_COLUMNS),
                                      pd.DataFrame(columns=columns.TEST_COLUMNS), errors, NO_SERVICE, NO_ESTIMATES)
    broken = summary.set_index("batch").loc["broken"]
    assert broken["alert"] and broken["data_quality"] == "error" and broken["reason"] == "batch rejected: x.csv: no data"


def test_degraded_performance_recommends_retraining_and_names_the_batch():
    results = pd.DataFrame([result_row("w1", "roc_auc", "performance", True), result_row("w2", "roc_auc", "performance", False)])
    summary = alerts.summarise_batches(scoring("w1", "w2"), results, results.iloc[:0], NO_ERRORS, NO_SERVICE, NO_ESTIMATES)
    advice = alerts.recommend_retraining(summary, results, results.iloc[:0], tiny_config())
    assert advice["retrain"] and advice["action"] == "retrain"
    assert "w2" in advice["reason"] and "w1" not in advice["reason"]


def test_broken_data_says_fix_the_feed_not_retrain():
    results = pd.DataFrame([result_row("w1", "out_of_range_share", "quality", False),
                            result_row("w1", "roc_auc", "performance", False)])
    summary = alerts.summarise_batches(scoring("w1"), results, results.iloc[:0], NO_ERRORS, NO_SERVICE, NO_ESTIMATES)
    advice = alerts.recommend_retraining(summary, results, results.iloc[:0], tiny_config())
    assert not advice["retrain"] and advice["action"] == "fix the data feed"


def test_repeated_drift_recommends_retraining_a_single_drifted_batch_does_not():
    config = tiny_config(retrain={"drifted_batches": 2, "window": 3})
    for drifted, expected in ((["w3"], False), (["w2", "w3"], True)):
        results = pd.DataFrame([result_row(b, "drifted_columns_share", "drift", b not in drifted) for b in ("w1", "w2", "w3")])
        summary = alerts.summarise_batches(scoring("w1", "w2", "w3"), results, results.iloc[:0], NO_ERRORS, NO_SERVICE, NO_ESTIMATES)
        assert alerts.recommend_retraining(summary, results, results.iloc[:0], config)["retrain"] is expected


def test_the_index_section_links_the_overview_and_every_reported_batch():
    results = pd.DataFrame([result_row("w1", "roc_auc", "performance", True)])
    errors = pd.DataFrame([{"batch": "broken", "source": "dropped_in", "scenario": pd.NA, "scenario_detail": "x", "reason": "r"}])
    summary = alerts.summarise_batches(scoring("w1"), results, results.iloc[:0], errors, NO_SERVICE, NO_ESTIMATES)
    section = pages.build_monitoring_index_section(summary, {"action": "no action", "reason": "fine", "notes": []})
    assert [link.href for link in section.links] == ["monitoring/overview.html", "monitoring/batches/w1.html"]
    assert section.headline == {"batches": 2, "alerts": 1, "recommendation": "no action"}


# ---------- late labels ----------

def test_a_label_file_keyed_by_batch_and_row_labels_those_rows_and_the_batch_is_judged_on_them():
    source = standardised("shop", [["25", "40", "Private", pd.NA], ["52", "40", "State-gov", pd.NA]])
    arrivals = sources.read_label_file(b"batch,row,income,labelled_at\nshop,0,<=50K,2026-02-01T10:00:00Z\n"
                                       b"shop,1,>50K.,2026-02-02\n", "labels/a.csv", LABELS, headerless_spec())
    batches, errors = prepared(source, arrivals=arrivals)
    assert errors.empty and batches["labelled"].all()
    assert batches["income"].tolist() == [0, 1]
    assert batches["labelled_at"].tolist() == [pd.Timestamp("2026-02-01 10:00"), pd.Timestamp("2026-02-02")]
    assert batches["label_source"].tolist() == ["label file labels/a.csv"] * 2


def test_late_labels_for_part_of_a_batch_leave_it_unlabelled_with_the_labelled_rows_counted():
    source = standardised("shop", [["25", "40", "Private", pd.NA], ["52", "40", "State-gov", pd.NA]])
    arrivals = sources.read_label_file(b"batch,row,income\nshop,1,>50K\nelsewhere,0,>50K\n", "labels/a.csv", LABELS,
                                       headerless_spec())
    batches, errors, report = sources.prepare_production_batches(NO_ERRORS, arrivals, NO_ARRIVAL_ERRORS, headerless_spec(), source)
    assert not batches["labelled"].any() and batches["income"].isna().tolist() == [True, False]
    assert report.iloc[0][["rows", "matched", "unmatched", "conflicting"]].tolist() == [2, 1, 1, 0]


def test_a_late_label_that_contradicts_a_known_label_makes_the_row_unlabelled_and_is_reported():
    source = standardised("shop", [["25", "40", "Private", "<=50K"]])
    arrivals = sources.read_label_file(b"batch,row,income\nshop,0,>50K\n", "labels/a.csv", LABELS, headerless_spec())
    batches, _, report = sources.prepare_production_batches(NO_ERRORS, arrivals, NO_ARRIVAL_ERRORS, headerless_spec(), source)
    assert batches["income"].isna().all()
    assert report.iloc[0]["conflicting"] == 1


def test_request_log_rows_are_keyed_by_request_id_and_row():
    arrivals = sources.read_label_file(b"request_id,row,income\nabc,2,>50K\n", "labels/a.csv", LABELS, headerless_spec())
    assert arrivals["row_key"].tolist() == ["abc:2"]


def test_a_declared_id_column_keys_dropped_in_rows_and_their_labels():
    labels = LabelsConfig(folder="labels", id_column="customer")
    with pytest.raises(sources.rows.DataValidationError, match="no column 'customer'"):
        sources._row_keys(pd.DataFrame({"age": [1]}), "shop", "customer", "shop.csv")
    keys = sources._row_keys(pd.DataFrame({"customer": ["c1", "c2"]}), "shop", "customer", "shop.csv")
    arrivals = sources.read_label_file(b"customer,income\nc2,>50K\n", "labels/a.csv", labels, headerless_spec())
    assert keys == ["customer=c1", "customer=c2"] and arrivals["row_key"].tolist() == ["customer=c2"]


@pytest.mark.parametrize(("content", "message"), [
    (b"batch,row\nshop,0\n", "labels/bad.csv: no label column 'income'"),
    (b"who,income\nx,>50K\n", "labels/bad.csv: no key column"),
    (b"batch,row,income\nshop,0,maybe\n", "labels/bad.csv line 2: 1 row"),
    (b"batch,row,income,labelled_at\nshop,0,>50K,yesterday\n", "labelled_at is an ISO date-time"),
])
def test_an_unusable_label_file_is_reported_by_name_and_the_rest_go_on(content: bytes, message: str):
    good = _loader(b"batch,row,income\nshop,0,>50K\n")
    arrivals, errors = sources.read_label_files({"bad": _loader(content), "good": good}, LABELS, headerless_spec())
    assert arrivals["row_key"].tolist() == ["shop:0"]
    assert errors["label_file"].tolist() == ["labels/bad.csv"] and message in errors["error"].iloc[0]


def test_a_batchs_value_is_realised_once_its_labels_are_in_and_estimated_before():
    estimates = pd.DataFrame({"batch": ["labelled", "waiting"], "estimated_value_per_1000": [5.0, 6.0],
                              "realised_value_per_1000": [7.0, np.nan]})
    results = pd.DataFrame(columns=columns.TEST_COLUMNS)
    summary = alerts.summarise_batches(scoring("labelled", "waiting"), results, results, NO_ERRORS, NO_SERVICE, estimates)
    assert summary["value_per_1000"].tolist() == [7.0, 6.0]
    assert summary["value_from"].tolist() == ["labels", "estimate"]


def test_a_day_of_the_request_log_gets_the_services_figures_and_its_service_tests_in_the_summary():
    results = pd.DataFrame([result_row("requests_2026-03-01", "error_rate", "service", passed=False, value=0.2)])
    service = pd.DataFrame([{"batch": "requests_2026-03-01", "requests": 10, "predict_requests": 8, "latency_p50_ms": 1.0,
                             "latency_p95_ms": 2.0, "latency_p99_ms": 3.0, "status_4xx": 1, "status_5xx": 2,
                             "error_rate": 0.2, "rejected_rows": 4, "rows_scored": 7, "low_confidence_share": 0.1}])
    summary = alerts.summarise_batches(scoring("requests_2026-03-01", "week_01"), results, results.iloc[:0], NO_ERRORS,
                                       service, NO_ESTIMATES).set_index("batch")
    day = summary.loc["requests_2026-03-01"]
    assert (day["requests"], day["latency_p99_ms"], day["status_5xx"], day["rejected_rows"]) == (10, 3.0, 2, 4)
    assert day["service"] == "fail" and day["alert"] and "error_rate=0.2" in day["reason"]
    assert pd.isna(summary.loc["week_01", "requests"]) and summary.loc["week_01", "service"] == "not run"
