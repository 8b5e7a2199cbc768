"""Bad raw data and bad configuration fail early, with a message naming what is wrong and where."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest
import yaml
from kedro.io import DataCatalog
from kedro.validation.exceptions import ParameterValidationError

from ml_lifecycle.bundle import InputLimits
from ml_lifecycle.pipelines.data_processing import nodes
from ml_lifecycle.rows import DataValidationError
from ml_lifecycle.spec import ProblemSpec
from tests.conftest import REPO_ROOT, add_env, run_kedro

from .tiny_problem import HEADER, as_partitions, labelled_records, raw_frame, tiny_spec

REMEDY = "(data_processing.bad_rows: remove drops such rows, counted)"
GOOD_TRAIN = labelled_records(8, 3)
GOOD_TEST = labelled_records(4, 1, start_age=60)


def prepare(spec: ProblemSpec, frames: dict[str, pd.DataFrame], limits: InputLimits = InputLimits(),
            rules: nodes.RowRules = nodes.RowRules()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run the standardise and validate nodes on raw frames held in memory: validated rows and removed rows."""
    return nodes.validate_rows(nodes.standardise_raw_rows(as_partitions(frames), spec), spec, limits, rules)


def replaced(records: list[list[str]], row: int, column: int, value: str) -> list[list[str]]:
    """Return a copy of raw records with one value replaced."""
    changed = [list(r) for r in records]
    changed[row][column] = value
    return changed


# ---------- bad raw data, node by node ----------


def test_a_missing_feature_column_names_the_file_the_column_and_the_rule():
    train = raw_frame(*GOOD_TRAIN).drop(columns="Hours-Per-Week")
    with pytest.raises(DataValidationError) as error:
        prepare(tiny_spec(), {"train.csv": train, "test.csv": raw_frame(*GOOD_TEST)})
    message = str(error.value)
    assert message.startswith("raw/train.csv: required column(s) ['hours_per_week'] missing")
    assert "rule: columns declared in problem spec" in message


def test_a_test_file_without_the_label_column_names_that_file_and_the_label():
    test = raw_frame(*GOOD_TEST).drop(columns="Income")
    with pytest.raises(DataValidationError, match=r"^raw/test\.csv: required column\(s\) \['income'\] missing"):
        prepare(tiny_spec(), {"train.csv": raw_frame(*GOOD_TRAIN), "test.csv": test})


def test_a_headerless_file_with_too_few_columns_names_the_file_and_the_config_key():
    spec = tiny_spec(raw={"column_names": HEADER})
    headerless = {name: pd.DataFrame(records, dtype="str") for name, records in (("train.csv", GOOD_TRAIN), ("test.csv", GOOD_TEST))}
    headerless["test.csv"] = headerless["test.csv"].iloc[:, :3]
    with pytest.raises(DataValidationError, match=r"^raw/test\.csv: expected 4 columns \(problem\.raw\.column_names\), found 3$"):
        prepare(spec, headerless)


def test_an_unknown_label_names_the_file_the_value_the_declared_labels_and_the_rule():
    test = replaced(GOOD_TEST, 2, 3, ">50 K")
    with pytest.raises(DataValidationError) as error:
        prepare(tiny_spec(), {"train.csv": raw_frame(*GOOD_TRAIN), "test.csv": raw_frame(*test)})
    assert str(error.value) == (
        "raw/test.csv: 1 row(s) break rule 'label is a declared label', "
        "e.g. line 4: income: '>50 K' is not one of ['<=50K', '>50K']\n" + REMEDY
    )


def test_text_in_a_numeric_column_names_the_file_the_column_the_value_and_the_rule():
    train = replaced(replaced(GOOD_TRAIN, 1, 0, "thirty"), 5, 1, "1e999")
    with pytest.raises(DataValidationError) as error:
        prepare(tiny_spec(), {"train.csv": raw_frame(*train), "test.csv": raw_frame(*GOOD_TEST)})
    assert str(error.value) == (
        "raw/train.csv: 2 row(s) break rule 'numeric features hold numbers', "
        "e.g. line 3: age: 'thirty' is not a number; line 7: hours_per_week: '1e999' is not a number\n" + REMEDY
    )


def test_a_train_file_with_one_class_names_the_file_the_label_column_and_the_counts():
    one_class = [r[:3] + ["<=50K"] for r in GOOD_TRAIN]
    with pytest.raises(DataValidationError) as error:
        prepare(tiny_spec(), {"train.csv": raw_frame(*one_class), "test.csv": raw_frame(*GOOD_TEST)})
    assert str(error.value) == (
        "raw/train.csv: column 'income' must hold both classes ('>50K' and '<=50K'); "
        "found {'>50K': 0, '<=50K': 8} (rule: both classes present)"
    )


def test_a_file_with_a_header_and_no_rows_names_the_file_and_the_rule():
    with pytest.raises(DataValidationError, match=r"^raw/train\.csv: the file has no data rows \(rule: non-empty\)$"):
        prepare(tiny_spec(), {"train.csv": raw_frame(), "test.csv": raw_frame(*GOOD_TEST)})


def test_a_declared_file_that_is_absent_names_the_file_and_the_files_present():
    with pytest.raises(DataValidationError, match=r"^raw/test\.csv: file not found \(problem\.raw\); files present: \['train\.csv'\]$"):
        prepare(tiny_spec(), {"train.csv": raw_frame(*GOOD_TRAIN)})


@pytest.mark.parametrize("content", ["", "\n\n"], ids=["zero bytes", "blank lines"])
def test_an_empty_file_read_through_the_catalog_names_the_file_not_a_parser_error(tmp_path: Path, content: str):
    raw_config = yaml.safe_load((REPO_ROOT / "conf/base/catalog.yml").read_text())["raw_files"]
    catalog = DataCatalog.from_config({"raw_files": {**raw_config, "path": str(tmp_path)}})
    (tmp_path / "train.csv").write_text(content)
    (tmp_path / "test.csv").write_text(", ".join(GOOD_TEST[0]) + "\n")
    spec = tiny_spec(raw={"column_names": HEADER})
    with pytest.raises(DataValidationError, match=r"^raw/train\.csv: the file is empty \(rule: non-empty\)$"):
        nodes.standardise_raw_rows(catalog.load("raw_files"), spec)


# ---------- through a real Kedro run ----------


def saved_files(project: Path) -> list[Path]:
    """Return every file the runs saved under the project's data folders (not the raw files)."""
    roots = [folder for folder in (project / "data").iterdir() if folder.name != "01_raw"]
    return sorted(p for root in roots for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"seeed": 7}, "seeed\n  Extra inputs are not permitted"),
        ({"target": {"postive_label": "yes"}}, "target.postive_label\n  Extra inputs are not permitted"),
        ({"split": {"validation_share": 1.5}}, "split.validation_share\n  Input should be less than 1"),
    ],
    ids=["misspelt key", "misspelt nested key", "value out of range"],
)
def test_a_bad_config_key_fails_the_run_before_any_node_runs_naming_the_key(project_copy: Path, override, expected):
    add_env(project_copy, "bad_config", {"parameters.yml": {"problem": override}})
    with pytest.raises(ParameterValidationError) as error:
        run_kedro(project_copy, ["data_processing"], env="bad_config")
    assert "Parameter 'problem'" in str(error.value)
    assert expected in str(error.value)
    assert saved_files(project_copy) == []


def fingerprint(files: list[Path]) -> dict[Path, str]:
    """Return each file's md5."""
    return {path: hashlib.md5(path.read_bytes()).hexdigest() for path in files}


def test_a_run_that_fails_on_bad_data_leaves_earlier_versioned_outputs_untouched(project_copy: Path):
    run_kedro(project_copy, ["data_processing"])
    versioned = [p for p in saved_files(project_copy) if "02_intermediate" not in p.parts]
    before = fingerprint(versioned)
    raw = project_copy / "data/01_raw/adult/adult.data"
    lines = raw.read_text().splitlines()[:100]
    lines[10] = lines[10].replace(lines[10].split(",")[0], "thirty", 1)
    raw.write_text("\n".join(lines) + "\n")

    with pytest.raises(DataValidationError) as error:
        run_kedro(project_copy, ["data_processing"])

    assert str(error.value).startswith(
        "data/01_raw/adult/adult.data: 1 row(s) break rule 'numeric features hold numbers', "
        "e.g. line 11: age: 'thirty' is not a number"
    )
    after = [p for p in saved_files(project_copy) if "02_intermediate" not in p.parts]
    assert fingerprint(after) == before


def test_a_row_breaking_two_rules_is_removed_once_counted_under_the_first_with_both_reasons():
    train = replaced(replaced(GOOD_TRAIN, 1, 0, "thirty"), 1, 2, "x" * 300)
    _, removed = prepare(tiny_spec(), {"train.csv": raw_frame(*train), "test.csv": raw_frame(*GOOD_TEST)},
                         rules=nodes.RowRules(bad_rows="remove"))
    assert removed.to_dict("records") == [{
        "source_file": "raw/train.csv", "source_line": 3, "rule": "numeric features hold numbers",
        "reason": "age: 'thirty' is not a number; work_class: text longer than 200 characters"}]
