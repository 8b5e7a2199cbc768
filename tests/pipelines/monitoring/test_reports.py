"""Per-batch Evidently reports, their explicit tests and the Evidently workspace, on the tiny problem."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from evidently.ui.workspace import Workspace

from ml_lifecycle.evidently_glue import PROBABILITY, EvidentlyWorkspaceDataset
from ml_lifecycle.pipelines.monitoring import calibration, checks
from ml_lifecycle.pipelines.monitoring.datasets import DropInFolderDataset

from .tiny_monitoring import headerless_spec, tiny_config, tiny_deployed

PANELS = [{"title": "Drift share", "metric": "DriftedColumnsCount", "labels": {"value_type": "share"}},
          {"title": "ROC AUC", "metric": "RocAuc"}]


def typed(n: int, seed: int) -> pd.DataFrame:
    """Return typed rows of the tiny problem; the label is 1 above age 40."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 70, n).astype(float)
    return pd.DataFrame({"age": age, "hours_per_week": rng.integers(20, 60, n).astype(float),
                         "work_class": pd.array(rng.choice(["Private", "State-gov"], n), dtype="str"),
                         "income": pd.array((age > 40).astype(int), dtype="Int8"),
                         "age_band": np.where(age < 30, "<30", "30+")})


def as_batch(rows_: pd.DataFrame, name: str, labelled: bool = True) -> pd.DataFrame:
    batch = rows_ if labelled else rows_.assign(income=pd.array([pd.NA] * len(rows_), dtype="Int8"))
    return batch.assign(batch=name, source="simulated", scenario="x", scenario_detail="", batch_time=pd.Timestamp("2026-01-05"),
                        row_key=[f"{name}:{i}" for i in range(len(batch))], labelled_at=pd.NaT, label_source="simulation",
                        labelled=labelled)


@pytest.fixture(scope="module")
def reports() -> tuple:
    """Reports of a clean, a unit-changed and an unlabelled batch against a 400-row reference."""
    spec, deployed = headerless_spec(), tiny_deployed()
    reference = checks.score_reference(typed(400, 1).astype({"income": "int8"}), deployed, spec)
    changed = typed(200, 3).assign(hours_per_week=lambda f: f["hours_per_week"] * 60)
    batches = pd.concat([as_batch(typed(200, 2), "clean"), as_batch(changed, "minutes"),
                         as_batch(typed(200, 4), "unlabelled", labelled=False)], ignore_index=True)
    scored, _ = checks.score_production_batches(batches, deployed, spec)
    drift_limits = calibration.calibrate_drift_limits(scored, reference, tiny_config(), spec)
    return checks.build_batch_reports(scored, reference, deployed, drift_limits, tiny_config(), spec)


def test_every_batch_gets_an_html_report_and_its_json(reports):
    pages, documents, _, runs = reports
    assert list(pages) == list(documents) == ["clean", "minutes", "unlabelled"]
    assert all(page.lstrip().startswith("<!DOCTYPE html>") and "Dataset Drift" in page for page in pages.values())
    assert json.dumps(documents["clean"])  # JSON-ready for machines
    assert [run["name"] for run in runs] == ["clean", "minutes", "unlabelled"]


def test_a_clean_batch_passes_every_declared_test(reports):
    results = reports[2]
    clean = results[results["batch"] == "clean"]
    assert clean["passed"].all(), clean[~clean["passed"]]
    assert set(clean["test"]) == {"drifted_columns_share", "prediction_drift", "row_count", "missing_share",
                                  "new_category_share", "out_of_range_share", "roc_auc"}


def test_a_unit_change_fails_the_range_test_of_that_column(reports):
    results = reports[2]
    failed = results[(results["batch"] == "minutes") & ~results["passed"]]
    hours = failed[(failed["test"] == "out_of_range_share") & (failed["column"] == "hours_per_week")]
    assert hours["value"].tolist() == [1.0]


def test_an_unlabelled_batch_gets_drift_and_quality_tests_but_no_performance_test(reports):
    results = reports[2]
    unlabelled = results[results["batch"] == "unlabelled"]
    assert "roc_auc" not in set(unlabelled["test"])
    assert {"drifted_columns_share", "prediction_drift", "missing_share"} <= set(unlabelled["test"])


def test_declared_thresholds_are_the_ones_evidently_evaluates(reports):
    results = reports[2]
    roc = results[(results["batch"] == "clean") & (results["test"] == "roc_auc")].iloc[0]
    assert roc["threshold"] == 0.7 and roc["description"] == "RocAuc metric: Actual value 1.000 >= 0.700"


def test_disabled_tests_are_not_run():
    config = tiny_config(tests={"roc_auc": {"min": 0.7, "enabled": False}})
    reference = typed(50, 1)
    limits = checks.DriftLimits(columns={"age": 0.1, "hours_per_week": 0.1, "work_class": 0.1}, drifted_share=0.5, prediction=0.3)
    declared = checks.declared_tests(reference, tiny_deployed(), True, config, headerless_spec(), limits)
    assert "roc_auc" not in {test["test"] for test in declared}


def test_the_data_summary_preset_can_be_part_of_the_report():
    spec, deployed = headerless_spec(), tiny_deployed()
    reference = checks.score_reference(typed(200, 1).astype({"income": "int8"}), deployed, spec)
    scored, _ = checks.score_production_batches(as_batch(typed(100, 2), "b"), deployed, spec)
    config = tiny_config(data_summary=True)
    drift_limits = calibration.calibrate_drift_limits(scored, reference, config, spec)
    pages, _, results, _ = checks.build_batch_reports(scored, reference, deployed, drift_limits, config, spec)
    assert "b" in pages and results["passed"].all()


def test_the_workspace_keeps_one_run_per_batch_name_and_its_panels(tmp_path: Path, reports):
    runs = reports[3]
    workspace = EvidentlyWorkspaceDataset(path=str(tmp_path / "ws"), project="demo", panels=PANELS)
    workspace.save(runs)
    workspace.save(runs[:1])  # the same batch again replaces its run
    assert workspace.load() == ["clean", "minutes", "unlabelled"]
    project = Workspace(str(tmp_path / "ws")).search_project("demo")[0]
    assert [panel.title for panel in project.dashboard.model().panels] == ["Drift share", "ROC AUC"]
    assert len(Workspace(str(tmp_path / "ws")).list_runs(project.id)) == 3


def test_an_empty_drop_in_folder_is_no_batches(tmp_path: Path):
    (tmp_path / ".gitkeep").touch()
    folder = DropInFolderDataset(path=str(tmp_path), dataset="pandas.CSVDataset", filename_suffix=".csv")
    assert folder.load() == {}
    (tmp_path / "week.csv").write_text("1,2\n")
    assert list(DropInFolderDataset(path=str(tmp_path), dataset="pandas.CSVDataset", filename_suffix=".csv").load()) == ["week"]


def test_calibration_scores_drift_exactly_as_the_batch_report_does():
    spec, deployed = headerless_spec(), tiny_deployed()
    reference = checks.score_reference(typed(400, 1).astype({"income": "int8"}), deployed, spec)
    scored, _ = checks.score_production_batches(as_batch(typed(150, 5), "b"), deployed, spec)
    limits = calibration.calibrate_drift_limits(scored, reference, tiny_config(), spec)
    _, _, results, _ = checks.build_batch_reports(scored, reference, deployed, limits, tiny_config(), spec)
    reported = results.set_index("test").loc["prediction_drift", "value"]
    assert reported == pytest.approx(calibration.drift_score(reference[PROBABILITY], scored[PROBABILITY], True, "wasserstein"))


def test_drift_limits_are_calibrated_per_batch_size_to_the_false_alarm_rate():
    spec, deployed = headerless_spec(), tiny_deployed()
    reference = checks.score_reference(typed(400, 1).astype({"income": "int8"}), deployed, spec)
    batches = pd.concat([as_batch(typed(40, 6), "small"), as_batch(typed(300, 7), "large"), as_batch(typed(302, 8), "same size")],
                        ignore_index=True)
    scored, _ = checks.score_production_batches(batches, deployed, spec)
    config = tiny_config(tests={"drifted_columns_share": {"max": None}}, drift={"per_column_threshold": {"work_class": 0.3}})
    table = calibration.calibrate_drift_limits(scored, reference, config, spec)
    by_size = {rows: own.set_index("column")["threshold"] for rows, own in table[table["limit"] == "column"].groupby("batch_rows")}
    assert set(by_size) == {40, 300}  # 302 rows are judged with the 300-row calibration
    assert (by_size[40].drop("work_class") > by_size[300].drop("work_class")).all()  # a small batch moves more by chance
    assert by_size[40]["work_class"] == by_size[300]["work_class"] == 0.3  # declared: used as is
    sources = table.set_index(["batch_rows", "limit", "column"])["source"]
    assert sources[(40, "column", "age")] == "calibrated" and sources[(40, "column", "work_class")] == "declared"
    assert sources[(40, "prediction_drift", PROBABILITY)] == "declared"  # tiny config declares max 0.3
    assert (table.loc[table["limit"] == "drifted_columns_share", "source"] == "calibrated").all()
