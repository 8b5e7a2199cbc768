"""Bring your own data: another CSV runs through data_processing with configuration edits only.

Follows docs/bring_your_own_data.md on a project copy: a churn-like CSV with a header row,
mixed-case names with spaces, a yes/no target, missing values and no test file of its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.conftest import copy_project, project_catalog, run_kedro

ROWS, POSITIVES = 400, 100

BYOD_PROBLEM: dict[str, Any] = {
    "seed": 7,
    "raw": {
        "folder": "${globals:raw_folder}",
        "train_file": "churn.csv",
        "test_file": None,
        "column_names": None,
        "missing_markers": ["", "NA"],
    },
    "target": {"column": "Churned", "positive_label": "yes", "negative_label": "no", "case_sensitive": False},
    "numeric_features": ["tenure_months", "monthly_charges"],
    "categorical_features": ["contract_type", "payment_method"],
    "dropped_columns": {"customer_id": "row identifier, not a trait of the customer"},
    "missing_values": {"monthly_charges": "flag_and_median"},
    "default_missing_numeric": "median",
    "default_missing_categorical": "category",
    "missing_category": "(missing)",
    "protected_attributes": [],
    "banded_columns": {
        "tenure_band": {"source_column": "tenure_months", "edges": [0, 12, 24, 1000], "labels": ["<1y", "1-2y", "2y+"]}
    },
    "slices": ["contract_type", "tenure_band"],
    # 400 rows: small data (below problem.split.small_data_rows), so the small-data shares apply
    "split": {"small_data_test_share": 0.25, "small_data_validation_share": 0.2, "drop_duplicate_rows": False},
}

def churn_csv(rows: int, positives: int, seed: int = 0) -> pd.DataFrame:
    """Return a churn-like table as it is written to CSV: every 10th charge and 8th payment missing."""
    rng = np.random.default_rng(seed)
    churned = np.array(["Yes", "yes", "YES"] * positives)[:positives].tolist() + ["no", "No"] * ((rows - positives) // 2)
    charges = rng.uniform(20, 120, rows).round(2).astype(str)
    charges[::10] = "NA"
    payment = rng.choice(["Card", "Bank transfer", "Cheque"], rows).astype(object)
    payment[3::8] = ""
    return pd.DataFrame(
        {
            "Customer ID": [f"C{i:04d}" for i in range(rows)],
            "Tenure Months": rng.integers(0, 72, rows),
            "monthlyCharges": charges,
            "Contract Type": rng.choice(["Month-to-month", "One year", "Two year"], rows),
            "Payment-Method": payment,
            "Churned": churned,
        }
    )


def bring_own_data(project: Path, table: pd.DataFrame) -> None:
    """Write the CSV and a `churn` problem environment into a project copy: globals and problem spec."""
    (project / "data/01_raw/churn").mkdir()
    table.to_csv(project / "data/01_raw/churn/churn.csv", index=False)
    env = project / "conf/churn"
    env.mkdir()
    write_yaml(env / "globals.yml", {"data_root": "data/churn", "raw_folder": "data/01_raw/churn",
                                     "inference_input": "data/01_raw/churn/churn.csv"})
    write_yaml(env / "parameters.yml", {"problem": BYOD_PROBLEM})


def write_yaml(path: Path, content: dict[str, Any]) -> None:
    """Write `content` as a YAML file."""
    path.write_text(yaml.safe_dump(content, sort_keys=False))


@pytest.fixture(scope="module")
def byod_outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The saved outputs of data_processing on the churn CSV, and the CSV itself."""
    project = copy_project(tmp_path_factory.mktemp("byod"))
    table = churn_csv(ROWS, POSITIVES)
    bring_own_data(project, table)
    run_kedro(project, ["data_processing"], env="churn")
    catalog = project_catalog(project, env="churn")
    names = ["train_split", "validation_split", "test_split", "monitoring_reference", "missing_value_fills", "data_quality_report"]
    return {"csv": table} | {name: catalog.load(name) for name in names}


def test_own_data_gets_a_stratified_test_split_carved_from_its_only_file(byod_outputs):
    sizes = [len(byod_outputs[name]) for name in ("train_split", "validation_split", "test_split")]
    positives = [int(byod_outputs[name]["churned"].sum()) for name in ("train_split", "validation_split", "test_split")]
    assert sizes == [240, 60, 100]
    assert positives == [60, 15, 25]


def test_own_data_splits_hold_the_declared_columns_in_snake_case(byod_outputs):
    expected = ["tenure_months", "monthly_charges", "contract_type", "payment_method",
                "monthly_charges_missing", "churned", "tenure_band"]
    for name in ("train_split", "validation_split", "test_split"):
        assert list(byod_outputs[name].columns) == expected


def test_own_data_missing_values_are_flagged_and_filled_as_declared(byod_outputs):
    splits = pd.concat([byod_outputs[name] for name in ("train_split", "validation_split", "test_split")])
    csv = byod_outputs["csv"]
    assert splits["monthly_charges_missing"].sum() == (csv["monthlyCharges"] == "NA").sum() == 40
    assert (splits["payment_method"] == "(missing)").sum() == (csv["Payment-Method"] == "").sum() == 50
    train = byod_outputs["train_split"]
    fill = byod_outputs["missing_value_fills"]["monthly_charges"]
    assert fill == pytest.approx(train.loc[train["monthly_charges_missing"] == 0, "monthly_charges"].median())
    assert splits.loc[splits["monthly_charges_missing"] == 1, "monthly_charges"].eq(fill).all()
    assert not splits.isna().any().any()


def test_own_data_monitoring_reference_keeps_missing_values_unfilled(byod_outputs):
    reference = byod_outputs["monitoring_reference"]
    assert len(reference) == 60
    assert reference["monthly_charges"].isna().sum() == byod_outputs["validation_split"]["monthly_charges_missing"].sum()


def test_own_data_report_accounts_for_every_row_and_names_dropped_columns(byod_outputs):
    report = byod_outputs["data_quality_report"]
    assert report["row_accounting"] == {
        "raw_rows": ROWS,
        "removed": {"missing label": 0, "validation row equal to a train row": 0, "test row equal to a train or validation row": 0},
        "removed_examples": [],
        "evaluation_duplicates": {"validation_rows_equal_to_train": 0, "test_rows_equal_to_train_or_validation": 0,
                                  "removed": True},
        "split_rows": {"train": 240, "validation": 60, "test": 100},
        "split_policy": {"policy": "small data: balanced shares",
                         "reason": "400 labelled rows < 10,000 (problem.split.small_data_rows)", "labelled_rows": 400,
                         "small_data_rows": 10000, "test_share": 0.25, "validation_share": 0.2},
    }
    assert report["dropped_columns"] == {"customer_id": "row identifier, not a trait of the customer"}
