"""The monitoring pipeline end to end in conf/test: simulated scenarios plus files dropped into the production folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from evidently.ui.workspace import Workspace

from ml_lifecycle.registry import ModelRegistry
from tests.conftest import project_catalog, run_kedro

OUTPUTS = ["monitoring_summary", "monitoring_test_results", "monitoring_slice_metrics", "retrain_recommendation",
           "monitoring_batch_reports", "monitoring_batch_results", "monitoring_workspace", "scoring_metrics"]


def raw_lines(project: Path, start: int, count: int) -> list[list[str]]:
    """Return raw records of the shipped test file (header-less, the training format)."""
    lines = (project / "data/01_raw/adult/adult.test").read_text().splitlines()[1:]  # first line: '|1x3 Cross validator'
    return [line.split(", ") for line in lines[start:start + count]]


def as_csv(records: list[list[str]]) -> str:
    return "".join(", ".join(record) + "\n" for record in records)


def dropped_in_files(project: Path) -> dict[str, str]:
    """Four production files: labelled, unlabelled, one column short of both formats, and text in a number."""
    unparseable = raw_lines(project, 600, 150)
    unparseable[5][0] = "forty"
    return {
        "store_a": as_csv(raw_lines(project, 0, 150)),
        "store_b_unlabelled": as_csv([record[:-1] for record in raw_lines(project, 200, 150)]),
        "store_c_missing_columns": as_csv([record[:2] + record[4:-1] for record in raw_lines(project, 400, 150)]),
        "store_d_bad_values": as_csv(unparseable),
        "store_e_late_labels": as_csv([record[:-1] for record in raw_lines(project, 800, 150)]),
        "store_f_partly_labelled": as_csv([record[:-1] for record in raw_lines(project, 1000, 150)]),
    }


def late_label_file(project: Path, batch: str, start: int, count: int) -> str:
    """Labels of the first `count` rows of a dropped-in batch (read from `start`), keyed by batch and row, a week later."""
    labels = [record[-1].rstrip(".") for record in raw_lines(project, start, count)]
    return "batch,row,income,labelled_at\n" + "".join(f"{batch},{i},{label},2026-03-09\n" for i, label in enumerate(labels))


@pytest.fixture(scope="module")
def monitored(test_project: Path) -> Iterator[dict[str, Any]]:
    """One monitoring run in the session's project with four dropped-in files; the files are removed afterwards."""
    production, labels = test_project / "data/test/01_raw/production", test_project / "data/test/01_raw/labels"
    files = {production / f"{name}.csv": text for name, text in dropped_in_files(test_project).items()}
    files[labels / "store_e.csv"] = late_label_file(test_project, "store_e_late_labels", 800, 150)
    files[labels / "store_f.csv"] = late_label_file(test_project, "store_f_partly_labelled", 1000, 120)
    written = []
    try:
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            written.append(path)
        run_kedro(test_project, ["monitoring"])
    finally:
        for path in written:
            path.unlink()
    catalog = project_catalog(test_project)
    outputs = {name: catalog.load(name) for name in OUTPUTS}
    outputs["summary"] = outputs["monitoring_summary"].set_index("batch")
    outputs["project"] = test_project
    yield outputs


def simulated(summary: pd.DataFrame) -> pd.DataFrame:
    return summary[summary["source"] == "simulated"]


def test_every_faulty_batch_alerts_and_no_clean_batch_does(monitored):
    batches = simulated(monitored["summary"])
    assert len(batches) == 10
    assert (batches["alert"] == (batches["scenario"] != "clean")).all(), batches[["scenario", "alert", "reason"]]
    assert set(batches["scenario"]) == {"clean", "covariate_shift", "missing_spike", "unit_change", "unseen_category",
                                        "prior_shift", "concept_drift"}


def test_each_fault_is_caught_by_the_kind_of_test_meant_for_it(monitored):
    by_scenario = simulated(monitored["summary"]).set_index("scenario")
    assert by_scenario.loc["covariate_shift", "drift"] == "fail"
    assert by_scenario.loc["prior_shift", "drift"] == "fail"
    for fault in ("missing_spike", "unit_change", "unseen_category"):
        assert by_scenario.loc[fault, "data_quality"] == "fail", fault
    concept = by_scenario.loc["concept_drift"]
    # The features do not move: only the labels tell.
    assert (concept["drift"], concept["data_quality"], concept["performance"]) == ("pass", "pass", "fail")
    assert "roc_auc" in concept["reason"]


def test_the_roc_auc_limit_is_the_champions_held_out_figure_less_the_drop_and_the_batch_bound(monitored):
    released_auc = ModelRegistry(monitored["project"] / "data/test/06_models/model_registry").load().manifest.metrics["roc_auc"]
    limits = simulated(monitored["summary"])["roc_auc_limit"].dropna()
    assert len(limits) == 9 and limits.nunique() > 1  # every labelled batch; each its own size and balance
    assert (limits < released_auc - 0.05).all() and (limits > released_auc - 0.15).all()


def test_every_batch_gets_an_estimated_performance_that_meets_the_realised_one_unless_the_concept_moved(monitored):
    estimates = project_catalog(monitored["project"]).load("performance_estimates").set_index("batch")
    unlabelled = estimates.loc["week_10"]
    assert unlabelled["estimated_roc_auc"] > 0.7 and pd.isna(unlabelled["realised_roc_auc"])
    clean = estimates.loc[["week_01", "week_02", "week_04"]]
    assert ((clean["estimated_accuracy"] - clean["realised_accuracy"]).abs() <= 0.05).all()
    assert ((clean["estimated_roc_auc"] - clean["realised_roc_auc"]).abs() <= 0.05).all()
    concept = estimates.loc["week_09"]  # the labels changed, the probabilities did not: only labels show it
    assert concept["realised_roc_auc"] < concept["estimated_roc_auc_low"]


def test_a_batch_whose_labels_are_still_due_gets_drift_quality_and_estimated_results(monitored):
    summary = monitored["summary"]
    unlabelled = summary.loc["week_10"]  # the latest week: its labels come a week later (simulation.label_delay)
    assert not unlabelled["labelled"] and pd.isna(unlabelled["roc_auc"]) and pd.isna(unlabelled["labelled_at"])
    assert unlabelled["judged_on"] == "estimate" and unlabelled["estimated_performance"] == "pass"
    assert (unlabelled["drift"], unlabelled["data_quality"], unlabelled["performance"]) == ("pass", "pass", "not run")
    results = monitored["monitoring_test_results"]
    assert "roc_auc" not in set(results.loc[results["batch"] == "week_10", "test"])
    # The problem declares a decision value: realised on labelled weeks, estimated on the one still waiting.
    assert unlabelled["value_from"] == "estimate" and pd.notna(unlabelled["value_per_1000"])
    assert (simulated(summary).drop(index="week_10")["value_from"] == "labels").all()


def test_every_batch_says_when_it_was_predicted_and_when_its_labels_came(monitored):
    weeks = simulated(monitored["summary"])
    predicted = pd.to_datetime(weeks["predicted_at"])
    labelled = pd.to_datetime(weeks["labelled_at"])
    assert ((labelled - predicted).dropna() == pd.Timedelta(days=7)).all() and labelled.notna().sum() == 9


def test_labels_dropped_in_later_are_joined_and_the_batch_is_judged_on_them(monitored):
    late = monitored["summary"].loc["store_e_late_labels"]
    assert late["labelled"] and late["judged_on"] == "labels" and late["performance"] == "pass"
    assert pd.Timestamp(late["labelled_at"]) == pd.Timestamp("2026-03-09") and late["labelled_rows"] == 150
    arrivals = project_catalog(monitored["project"]).load("label_arrivals").set_index("label_file")
    assert arrivals.loc["data/test/01_raw/labels/store_e.csv", ["rows", "matched", "unmatched", "conflicting"]].tolist() == [
        150, 150, 0, 0]


def test_a_partly_labelled_batch_is_judged_on_its_labelled_rows(monitored):
    partly = monitored["summary"].loc["store_f_partly_labelled"]
    assert not partly["labelled"] and partly["labelled_rows"] == 120
    assert partly["judged_on"] == "labelled part and estimate" and partly["performance"] == "pass"
    results = monitored["monitoring_test_results"]
    estimates = project_catalog(monitored["project"]).load("performance_estimates").set_index("batch")
    assert estimates.loc["store_f_partly_labelled", "realised_rows"] == 120
    assert pd.notna(partly["roc_auc"]) and partly["roc_auc"] >= partly["roc_auc_limit"]
    assert "roc_auc" not in set(results.loc[results["batch"] == "store_f_partly_labelled", "test"])  # no full-batch report test


def test_dropped_in_files_are_picked_up_as_batches_named_after_the_file(monitored):
    summary = monitored["summary"]
    for name, labelled in (("store_a", True), ("store_b_unlabelled", False)):
        batch = summary.loc[name]
        assert (batch["source"], batch["rows"], bool(batch["labelled"])) == ("dropped_in", 150, labelled)
        assert not batch["alert"], batch["reason"]
    assert {"store_a", "store_b_unlabelled"} <= set(monitored["monitoring_batch_reports"])


def test_a_broken_file_gets_its_own_error_entry_and_the_other_batches_go_on(monitored):
    summary = monitored["summary"]
    missing = summary.loc["store_c_missing_columns"]
    assert missing["alert"] and missing["data_quality"] == "error"
    assert "store_c_missing_columns.csv: expected 15 columns" in missing["reason"]
    bad = summary.loc["store_d_bad_values"]
    assert bad["alert"] and "age: 'forty' is not a number" in bad["reason"]
    assert len(summary) == 16  # 10 simulated + 6 dropped in: nothing hidden


def test_reports_exist_per_batch_for_people_and_machines(monitored):
    reported = sorted(monitored["summary"].index[monitored["summary"]["data_quality"] != "error"])
    assert sorted(monitored["monitoring_batch_reports"]) == reported
    assert sorted(monitored["monitoring_batch_results"]) == reported
    project = monitored["project"]
    overview = (project / "data/test/08_reporting/monitoring/overview.html").read_text()
    assert "Recommendation: retrain" in overview and 'href="batches/week_10.html"' in overview
    index = (project / "data/test/08_reporting/index.html").read_text()
    assert 'href="monitoring/overview.html"' in index and 'href="monitoring/batches/store_a.html"' in index


def test_per_slice_metrics_come_from_labelled_batches_only(monitored):
    slices = monitored["monitoring_slice_metrics"]
    assert "week_10" not in set(slices["batch"]) and "store_b_unlabelled" not in set(slices["batch"])
    compared = slices[slices["compared"]]
    assert compared["recall"].between(0, 1).all() and len(compared) > 0


def test_the_run_recommends_retraining_because_of_the_concept_drift(monitored):
    advice = monitored["retrain_recommendation"]
    assert advice["retrain"] and "week_09" in advice["reason"]


def test_scoring_cost_is_measured_per_batch(monitored):
    metrics = monitored["scoring_metrics"]
    assert (metrics[["scoring_seconds", "latency_ms_per_row", "rows_per_second", "peak_memory_mb"]] > 0).all().all()


def test_the_evidently_workspace_holds_one_run_per_batch_and_the_dashboard_panels(monitored):
    assert set(monitored["monitoring_workspace"]) >= set(monitored["monitoring_batch_reports"])
    workspace = Workspace(str(monitored["project"] / "data/test/09_monitoring_workspace"))
    project = workspace.search_project("ML Lifecycle monitoring")[0]
    titles = [panel.title for panel in project.dashboard.model().panels]
    assert "Share of drifted feature columns" in titles and "ROC AUC (labelled batches)" in titles
