"""The data_processing nodes and the shared row functions, on tiny hand-made frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml_lifecycle import rows
from ml_lifecycle.bundle import InputLimits
from ml_lifecycle.pipelines.data_processing import nodes
from ml_lifecycle.spec import ProblemSpec

from .tiny_problem import HEADER, as_partitions, labelled_records, raw_frame, tiny_spec

TRAIN_FILE, TEST_FILE = "raw/train.csv", "raw/test.csv"
RULES = nodes.RowRules()
NOTHING_REMOVED = pd.DataFrame(columns=nodes.REMOVED_COLUMNS)


def values(column: pd.Series) -> list:
    """Return a column's values with every kind of missing value (NA, NaN, None) as None."""
    return [None if pd.isna(v) else v for v in column]


def validated(spec: ProblemSpec, train: list[list[str]], test: list[list[str]] | None = None) -> pd.DataFrame:
    """Return raw records standardised and validated by the pipeline's own first two nodes."""
    frames = {"train.csv": raw_frame(*train)}
    if test is not None:
        frames["test.csv"] = raw_frame(*test)
    return nodes.validate_rows(nodes.standardise_raw_rows(as_partitions(frames), spec), spec, InputLimits(), RULES)[0]


def split(validated_rows: pd.DataFrame, spec: ProblemSpec, rules: nodes.RowRules = RULES) -> tuple:
    """Return the split node's outputs for rows no rule removed."""
    return nodes.split_rows(validated_rows, NOTHING_REMOVED, spec, rules)


# ---------- standardise ----------


def test_standardise_puts_header_names_in_snake_case():
    raw = raw_frame(["39", "40", "Private", ">50K"], header=[" Age ", "Hours-Per-Week", "Work Class", "IncomeLevel"])
    standardised = rows.standardise(raw, tiny_spec(), TRAIN_FILE)
    assert list(standardised.columns) == ["age", "hours_per_week", "work_class", "income_level", "source_file"]


def test_standardise_names_headerless_columns_from_the_spec():
    spec = tiny_spec(raw={"column_names": HEADER})
    headerless = pd.DataFrame([["39", "40", "Private", ">50K"]], dtype="str")
    standardised = rows.standardise(headerless, spec, TRAIN_FILE)
    assert list(standardised.columns) == ["age", "hours_per_week", "work_class", "income", "source_file"]


def test_standardise_strips_text_and_turns_missing_markers_into_na():
    raw = raw_frame([" 39 ", "40", " Private ", ">50K"], ["41", "?", " ? ", "<=50K"], ["42", "", "State-gov", " >50K. "])
    standardised = rows.standardise(raw, tiny_spec(), TRAIN_FILE)
    assert standardised["age"].tolist() == ["39", "41", "42"]
    assert standardised["hours_per_week"].isna().tolist() == [False, True, True]
    assert values(standardised["work_class"]) == ["Private", None, "State-gov"]
    assert standardised["income"].tolist() == [">50K", "<=50K", ">50K."]
    assert standardised["source_file"].tolist() == [TRAIN_FILE] * 3


def test_standardise_leaves_its_input_unchanged():
    raw = raw_frame([" 39 ", "?", "Private", ">50K"])
    before = raw.copy()
    rows.standardise(raw, tiny_spec(), TRAIN_FILE)
    pd.testing.assert_frame_equal(raw, before)


def test_standardise_keeps_only_the_asked_columns_and_names_the_file_when_one_is_absent():
    raw = raw_frame([" 39 ", "40", " Private ", ">50K"])
    standardised = rows.standardise(raw, tiny_spec(), TRAIN_FILE, columns=["work_class", "age"])
    assert list(standardised.columns) == ["work_class", "age", "source_file"]
    assert standardised["work_class"].tolist() == ["Private"]
    with pytest.raises(rows.DataValidationError, match=rf"^{TRAIN_FILE}: required column\(s\) \['education'\] missing"):
        rows.standardise(raw, tiny_spec(), TRAIN_FILE, columns=["age", "education"])


def test_numbers_in_text_parse_as_python_floats_and_non_numbers_become_nan():
    rng = np.random.default_rng(0)
    texts = [repr(float(x)) for x in rng.normal(0, 1e4, 500)] + [f"{x:.17g}" for x in rng.random(500)] + ["1e400", "-0", ".5"]
    parsed = rows.to_numbers(pd.Series(texts, dtype="str"))
    np.testing.assert_array_equal(parsed.to_numpy(), [float(t) for t in texts])
    mixed = rows.to_numbers(pd.Series(["3", "forty", None, "2.5"], dtype="str"))
    np.testing.assert_array_equal(mixed.to_numpy(), [3.0, np.nan, np.nan, 2.5])
    assert rows.to_numbers(pd.Series([1, 2], dtype="int64")).dtype == "float64"


def test_sample_rows_keeps_the_same_seeded_sample_of_each_file():
    spec = tiny_spec(raw={"sample_rows": 4})
    files = as_partitions(
        {"train.csv": raw_frame(*labelled_records(10, 5)), "test.csv": raw_frame(*labelled_records(3, 1))}
    )
    first = nodes.standardise_raw_rows(files, spec)
    assert first.groupby("source_file").size().to_dict() == {TRAIN_FILE: 4, TEST_FILE: 3}
    pd.testing.assert_frame_equal(first, nodes.standardise_raw_rows(files, spec))


# ---------- labels ----------


def test_labels_match_after_stripping_spaces_and_the_trailing_dot():
    labels = pd.Series([">50K", "<=50K.", " >50K. ", pd.NA], dtype="string")
    assert values(rows.encode_labels(labels, tiny_spec())) == [1, 0, 1, None]


def test_labels_compare_without_case_when_declared_case_insensitive():
    spec = tiny_spec(target={"positive_label": "Yes", "negative_label": "No", "strip_characters": "", "case_sensitive": False})
    assert rows.encode_labels(pd.Series(["YES", "no", " yes"]), spec).tolist() == [1, 0, 1]


def test_label_problems_name_each_undeclared_label_and_skip_missing_ones():
    problems = rows.label_problems(pd.Series([">50K", "maybe", pd.NA], dtype="string"), tiny_spec())
    assert problems.tolist() == ["", "income: 'maybe' is not one of ['<=50K', '>50K']", ""]


def test_declared_labels_must_differ_after_normalisation():
    with pytest.raises(ValueError, match="positive_label and negative_label are the same"):
        tiny_spec(target={"positive_label": ">50K.", "negative_label": ">50K"})


# ---------- validate ----------


def test_validate_rows_types_features_encodes_target_and_adds_bands():
    spec = tiny_spec()
    typed = validated(spec, [["29", "40", "Private", ">50K"], ["30", "?", "?", "<=50K."]], [["45", "20", "State-gov", ">50K."]])
    assert list(typed.columns) == ["age", "hours_per_week", "work_class", "income", "age_band", "source_file", "source_line",
                                   "record_hash"]
    assert typed["source_line"].tolist() == [2, 3, 2]
    assert typed["age"].dtype == "float64"
    assert typed["age"].tolist() == [29.0, 30.0, 45.0]
    assert typed["hours_per_week"].isna().tolist() == [False, True, False]
    assert values(typed["work_class"]) == ["Private", None, "State-gov"]
    assert typed["income"].tolist() == [1, 0, 1]
    assert typed["age_band"].tolist() == ["<30", "30+", "30+"]
    assert typed["source_file"].tolist() == [TRAIN_FILE, TRAIN_FILE, TEST_FILE]


def test_validate_rows_keeps_rows_with_a_missing_label_for_the_split_to_count():
    spec = tiny_spec(raw={"test_file": None})
    typed = validated(spec, [["29", "40", "Private", ">50K"], ["30", "40", "Private", "<=50K"], ["31", "40", "Private", "?"]])
    assert values(typed["income"]) == [1, 0, None]


def test_bands_are_left_closed_and_name_values_outside_every_band():
    ages = pd.DataFrame({"age": [0.0, 29.9, 30.0, 199.0, 200.0, np.nan]})
    bands = rows.add_slice_columns(ages, tiny_spec())
    assert bands["age_band"].tolist() == ["<30", "<30", "30+", "30+", "out of range", "out of range"]


# ---------- split ----------


def test_split_uses_the_test_file_as_test_and_carves_a_stratified_validation_split():
    spec = tiny_spec()
    train, validation, test, _ = split(validated(spec, labelled_records(40, 8), labelled_records(10, 3, start_age=70)), spec)
    assert set(test["source_file"]) == {TEST_FILE}
    assert (len(train), len(validation), len(test)) == (30, 10, 10)
    assert (train["income"].sum(), validation["income"].sum(), test["income"].sum()) == (6, 2, 3)


def test_split_without_a_test_file_carves_stratified_test_and_validation_splits():
    spec = tiny_spec(raw={"test_file": None})
    rows_in = validated(spec, labelled_records(100, 20))
    train, validation, test, _ = split(rows_in, spec)
    assert (len(train), len(validation), len(test)) == (60, 20, 20)
    assert (train["income"].sum(), validation["income"].sum(), test["income"].sum()) == (12, 4, 4)
    assert sorted([*train.index, *validation.index, *test.index]) == list(rows_in.index)


def test_split_is_reproducible_for_a_seed():
    spec = tiny_spec(raw={"test_file": None})
    rows_in = validated(spec, labelled_records(50, 10))
    first, second = split(rows_in, spec), split(rows_in, spec)
    assert [list(part.index) for part in first[:3]] == [list(part.index) for part in second[:3]]


def test_split_accounts_for_every_row_including_missing_labels_and_dropped_duplicates():
    spec = tiny_spec(split={"drop_duplicate_rows": True})
    records = labelled_records(40, 8)
    train_records = [*records, records[0], ["99", "40", "Private", "?"]]
    _, _, _, accounting = split(validated(spec, train_records, labelled_records(10, 3, start_age=70)), spec)
    assert accounting == {
        "raw_rows": 52,
        "removed": {"missing label": 1, "duplicate row": 1, "validation row equal to a train row": 0,
                    "test row equal to a train or validation row": 0},
        "removed_examples": [],
        "evaluation_duplicates": {"validation_rows_equal_to_train": 0, "test_rows_equal_to_train_or_validation": 0,
                                  "removed": True},
        "split_rows": {"train": 30, "validation": 10, "test": 10},
        "split_policy": {"policy": "small data: balanced shares",  # counted on the rows split: labelled, deduplicated
                         "reason": "50 labelled rows < 10,000 (problem.split.small_data_rows)", "labelled_rows": 50,
                         "small_data_rows": 10000, "test_share": None, "validation_share": 0.25},
    }


def test_split_keeps_duplicate_rows_unless_told_to_drop_them():
    spec = tiny_spec()
    records = labelled_records(40, 8)
    keep = nodes.RowRules(evaluation_duplicates="keep")
    _, _, _, accounting = split(validated(spec, [*records, records[0]], labelled_records(10, 3, start_age=70)), spec, keep)
    assert accounting["removed"] == {"missing label": 0}
    assert sum(accounting["split_rows"].values()) == 51


# ---------- missing values ----------


def typed_rows(age: list[float], hours: list[float], work_class: list[str | None], income: list[int]) -> pd.DataFrame:
    """Return validated-looking rows with the tiny problem's columns."""
    return pd.DataFrame(
        {
            "age": age,
            "hours_per_week": hours,
            "work_class": pd.Series(work_class, dtype="object"),
            "income": pd.Series(income, dtype="Int8"),
            "age_band": ["<30" if a < 30 else "30+" for a in age],
            "source_file": TRAIN_FILE,
        }
    )


def test_missing_value_fills_are_learned_from_train_only():
    spec = tiny_spec()
    train = typed_rows([20, 30, 40, np.nan], [10, np.nan, 30, 50], ["A", None, "A", "B"], [1, 0, 0, 1])
    assert nodes.learn_missing_value_fills(train, spec) == {"age": 30.0, "hours_per_week": 30.0, "work_class": "(missing)"}


def test_mean_and_most_frequent_policies_fill_from_train_and_break_ties_alphabetically():
    spec = tiny_spec(missing_values={"age": "mean", "work_class": "most_frequent"})
    train = typed_rows([20, 30, 70, np.nan], [10, np.nan, 30, 50], ["B", "A", None, None], [1, 0, 0, 1])
    assert nodes.learn_missing_value_fills(train, spec) == {"age": 40.0, "hours_per_week": 30.0, "work_class": "A"}


def test_prepare_model_rows_fills_with_train_values_and_flags_declared_columns():
    spec = tiny_spec()
    fills = {"age": 30.0, "hours_per_week": 30.0, "work_class": "(missing)"}
    validation = typed_rows([np.nan, 100], [np.nan, 1], [None, "C"], [1, 0])
    validation.index = [7, 9]
    prepared = nodes.prepare_model_rows(validation, fills, spec)
    assert prepared.to_dict("list") == {
        "age": [30.0, 100.0],
        "hours_per_week": [30.0, 1.0],
        "work_class": ["(missing)", "C"],
        "hours_per_week_missing": [1, 0],
        "income": [1, 0],
        "age_band": ["30+", "30+"],
    }
    assert list(prepared.index) == [0, 1]
    assert validation["age"].isna().tolist() == [True, False]


def test_unfilled_rows_keep_features_before_filling_with_the_target_and_slices():
    # monitoring_reference (validation rows) and frozen_holdout (test rows) are both made this way
    validation = typed_rows([np.nan, 25], [40, np.nan], [None, "C"], [1, 0])
    reference = nodes.keep_unfilled_rows(validation, tiny_spec())
    assert list(reference.columns) == ["age", "hours_per_week", "work_class", "income", "age_band"]
    assert reference["age"].isna().tolist() == [True, False]
    assert values(reference["work_class"]) == [None, "C"]
    assert reference["income"].dtype == "int8"


# ---------- data-quality report ----------


def quality_report() -> tuple[dict, pd.DataFrame]:
    """Return the report of a hand-made split whose every number is known."""
    spec = tiny_spec()
    train = typed_rows([1, 2, 3, 4, 100, np.nan], [40] * 6, ["A", "A", "B", None, None, "C"], [1, 0, 0, 0, 1, 0])
    validation = typed_rows([30, 30], [40, 40], ["A", "A"], [0, 0])
    test = typed_rows([50], [45], ["B"], [1]).assign(source_file=TEST_FILE)
    everything = pd.concat([train, validation, test], ignore_index=True)
    accounting = {"raw_rows": 9, "removed": {"missing label": 0}, "split_rows": {"train": 6, "validation": 2, "test": 1}}
    return nodes.build_data_quality_report(everything, train, validation, test, accounting, spec, {}, {}, {}, {})


def test_quality_report_gives_missing_share_distinct_range_and_iqr_outliers_per_column():
    columns = quality_report()[0]["splits"]["train"]["columns"]
    # age 1, 2, 3, 4, 100: quartiles 2 and 4, so values outside [-1, 7] are outliers.
    assert columns["age"] == {"missing_share": 0.166667, "distinct": 5, "min": 1.0, "max": 100.0, "iqr_outliers": 1}
    assert columns["hours_per_week"] == {"missing_share": 0.0, "distinct": 1, "min": 40.0, "max": 40.0, "iqr_outliers": 0}
    assert columns["work_class"] == {"missing_share": 0.333333, "distinct": 3}


def test_quality_report_gives_class_balance_and_duplicates_per_split_and_file():
    splits = quality_report()[0]["splits"]
    assert list(splits) == [f"file {TRAIN_FILE}", f"file {TEST_FILE}", "train", "validation", "test"]
    assert splits["train"]["class_balance"] == {"positive_share": 0.333333, "positive": 2, "negative": 4}
    assert splits[f"file {TRAIN_FILE}"]["rows"] == 8
    assert splits["validation"]["duplicate_rows"] == 1
    assert splits["test"]["class_balance"] == {"positive_share": 1.0, "positive": 1, "negative": 0}


def test_quality_report_carries_row_accounting_and_dropped_columns():
    report = quality_report()[0]
    assert report["row_accounting"]["split_rows"] == {"train": 6, "validation": 2, "test": 1}
    assert report["dropped_columns"] == {}


def test_quality_table_has_one_row_per_split_and_column():
    table = quality_report()[1]
    assert len(table) == 5 * 3
    train_age = table[(table["split"] == "train") & (table["column"] == "age")].iloc[0]
    assert (train_age["rows"], train_age["distinct"], train_age["iqr_outliers"]) == (6, 5, 1)
