"""The data_processing pipeline: on an in-memory catalog, then end to end in conf/test."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from ml_lifecycle.bundle import InputLimits
from ml_lifecycle.pipelines.data_processing import create_pipeline
from ml_lifecycle.pipelines.data_processing.nodes import RowRules
from ml_lifecycle.spec import ProblemSpec
from tests.conftest import project_catalog, run_kedro

from .tiny_problem import as_partitions, labelled_records, raw_frame, tiny_spec

SPLITS = ["train_split", "validation_split", "test_split"]
VERSIONED_OUTPUTS = [*SPLITS, "monitoring_reference", "frozen_holdout"]


class KeptDataset(MemoryDataset):
    """A memory dataset the runner cannot release, so outputs later nodes consume can be read after the run."""

    def _release(self) -> None:
        pass


def run_in_memory(spec: ProblemSpec, frames: dict[str, pd.DataFrame]) -> dict[str, object]:
    """Run the pipeline on raw frames held in memory; return every output's data."""
    pipeline = create_pipeline()
    catalog = DataCatalog(
        datasets={"raw_files": MemoryDataset(as_partitions(frames)), "params:problem": MemoryDataset(spec),
                  "params:deployment": MemoryDataset(InputLimits()), "params:data_processing": MemoryDataset(RowRules())}
        | {name: KeptDataset(copy_mode="assign") for name in pipeline.all_outputs()}
    )
    SequentialRunner().run(pipeline, catalog)
    return {name: catalog[name].load() for name in pipeline.all_outputs()}


@pytest.fixture(scope="module")
def tiny_outputs() -> dict[str, object]:
    """The pipeline's outputs for 40 train rows (8 positive, 2 missing hours) and 10 test rows."""
    train = labelled_records(40, 8)
    train[3][1] = train[4][1] = "?"
    test = labelled_records(10, 3, start_age=70)
    test[0][1] = "?"
    return run_in_memory(tiny_spec(), {"train.csv": raw_frame(*train), "test.csv": raw_frame(*test)})


def test_pipeline_makes_model_ready_splits_with_the_declared_columns(tiny_outputs):
    expected = ["age", "hours_per_week", "work_class", "hours_per_week_missing", "income", "age_band"]
    for name in SPLITS:
        assert list(tiny_outputs[name].columns) == expected
        assert not tiny_outputs[name].isna().any().any()
    assert [len(tiny_outputs[name]) for name in SPLITS] == [30, 10, 10]


def test_pipeline_fills_every_split_with_the_train_median(tiny_outputs):
    train = tiny_outputs["train_split"]
    observed = train.loc[train["hours_per_week_missing"] == 0, "hours_per_week"]
    filled = pd.concat([tiny_outputs[name] for name in SPLITS]).query("hours_per_week_missing == 1")
    assert len(filled) == 3
    assert set(filled["hours_per_week"]) == {observed.median()}


def test_pipeline_keeps_the_monitoring_reference_and_the_frozen_holdout_unfilled(tiny_outputs):
    for unfilled, split in (("monitoring_reference", "validation_split"), ("frozen_holdout", "test_split")):
        rows = tiny_outputs[unfilled]
        assert len(rows) == len(tiny_outputs[split])
        assert rows["hours_per_week"].isna().sum() == tiny_outputs[split]["hours_per_week_missing"].sum()
        assert rows["income"].tolist() == tiny_outputs[split]["income"].tolist()


def test_pipeline_report_accounts_for_every_raw_row(tiny_outputs):
    accounting = tiny_outputs["data_quality_report"]["row_accounting"]
    assert accounting == {
        "raw_rows": 50,
        "removed": {"missing label": 0, "validation row equal to a train row": 0, "test row equal to a train or validation row": 0},
        "removed_examples": [],
        "evaluation_duplicates": {"validation_rows_equal_to_train": 0, "test_rows_equal_to_train_or_validation": 0,
                                  "removed": True},
        "split_rows": {"train": 30, "validation": 10, "test": 10},
        "split_policy": {"policy": "small data: balanced shares",
                         "reason": "50 labelled rows < 10,000 (problem.split.small_data_rows)", "labelled_rows": 50,
                         "small_data_rows": 10000, "test_share": None, "validation_share": 0.25},
    }


def test_pipeline_report_holds_the_label_and_coverage_checks_and_the_index_section_links_it(tiny_outputs):
    report = tiny_outputs["data_quality_report"]
    # 40 distinct train records: no identical feature rows, so no conflicting labels
    assert {part: found["groups"] for part, found in report["conflicting_labels"].items()} == {
        "train": 0, "validation": 0, "test": 0, "all labelled rows": 0}
    assert report["label_issues"]["rows"] == 30
    assert report["split_mismatch"]["rows"] == {"train": 30, "test": 10}
    coverage = report["slice_coverage"]
    assert {(v["split"], v["column"]) for v in coverage["values"]} == {
        (split, column) for split in ("train", "validation", "test") for column in ("work_class", "age_band")}
    table = tiny_outputs["label_quality_table"]
    assert set(table["check"]) == {"conflicting labels", "likely label errors", "coverage", "split mismatch"}
    coverage_rows = table[table["check"] == "coverage"]
    assert len(coverage_rows) == 2 * len(coverage["values"])  # rows and positives per slice value
    assert coverage_rows["flagged"].sum() == sum(v["too_few_rows"] + v["too_few_positives"] for v in coverage["values"])
    section = tiny_outputs["data_processing_index_section"]
    assert section.headline["train / validation / test rows"] == "30 / 10 / 10"
    assert section.headline["slice values under the minimums"] == f"{coverage['flagged']} of {len(coverage['values'])}"
    assert [link.href for link in section.links] == ["data_processing/data_quality_report.json"]
    assert tiny_outputs["data_quality_page"] == report


# ---------- end to end, conf/test ----------


def data_lines(path: Path) -> int:
    """Return the rows of a raw Adult file: its lines that are neither blank nor a '|' comment."""
    lines = path.read_text().splitlines()
    return sum(1 for line in lines if line.strip() and not line.startswith("|"))


@pytest.fixture(scope="module")
def processed_project(test_project: Path) -> Path:
    """The shared test project after one data_processing run in conf/test."""
    run_kedro(test_project, ["data_processing"])
    return test_project


def test_end_to_end_run_saves_the_four_outputs_under_one_version(processed_project):
    catalog = project_catalog(processed_project)
    assert all(catalog.exists(name) for name in VERSIONED_OUTPUTS)
    folders = [processed_project / "data" / "test" / "05_model_input" / f"{name}.parquet" for name in VERSIONED_OUTPUTS]
    latest = {max(version.name for version in folder.iterdir()) for folder in folders}
    assert len(latest) == 1


def test_end_to_end_run_keeps_the_report_where_the_index_page_links_it(processed_project):
    reporting = processed_project / "data" / "test" / "08_reporting"
    report = project_catalog(processed_project).load("data_quality_report")
    assert json.loads((reporting / "data_processing" / "data_quality_report.json").read_text()) == report
    section = json.loads((reporting / "index_sections.json").read_text())["data_processing"]
    assert [link["href"] for link in section["links"]] == ["data_processing/data_quality_report.json"]
    assert '<section id="data_processing">' in (reporting / "index.html").read_text()


def test_end_to_end_run_accounts_for_every_raw_row(processed_project):
    catalog = project_catalog(processed_project)
    spec = ProblemSpec.model_validate(catalog.load("params:problem"))
    raw_folder = processed_project / spec.raw.folder
    raw_rows = sum(
        min(data_lines(raw_folder / file), spec.raw.sample_rows or float("inf"))
        for file in (spec.raw.train_file, spec.raw.test_file)
    )
    accounting = catalog.load("data_quality_report")["row_accounting"]
    saved = {name.removesuffix("_split"): len(catalog.load(name)) for name in SPLITS}
    assert spec.raw.sample_rows == 3000
    assert accounting["raw_rows"] == raw_rows
    assert accounting["split_rows"] == saved
    assert accounting["split_policy"]["policy"] == "default shares"  # conf/test: the sample stands for Adult, not small
    assert sum(saved.values()) + sum(accounting["removed"].values()) == raw_rows
    assert len(catalog.load("monitoring_reference")) == saved["validation"]
    assert len(catalog.load("frozen_holdout")) == saved["test"]
