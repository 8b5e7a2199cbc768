"""Label consistency, likely label errors, slice coverage and train/test mismatch on small generated tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from ml_lifecycle import rows
from ml_lifecycle.pipelines.data_processing import label_quality
from ml_lifecycle.pipelines.data_processing.nodes import QualityChecks, RowRules

from .tiny_problem import tiny_spec

SPEC = tiny_spec()
TRAIN_FILE, TEST_FILE = "raw/train.csv", "raw/test.csv"


def typed_rows(age, hours, work_class, income, file: str = TRAIN_FILE) -> pd.DataFrame:
    """Return rows as validate_rows leaves them: the tiny problem's typed features, 0/1 label, age band, file and line."""
    frame = pd.DataFrame({"age": np.asarray(age, dtype="float64"), "hours_per_week": np.asarray(hours, dtype="float64"),
                          "work_class": pd.Series(work_class, dtype="str"), "income": pd.Series(income, dtype="Int8")})
    frame = frame.join(rows.add_slice_columns(frame, SPEC))
    frame[rows.SOURCE_COLUMN] = file
    frame[rows.LINE_COLUMN] = np.arange(2, len(frame) + 2)  # line 1 is the header
    return frame


def generated_rows(n: int, seed: int, file: str = TRAIN_FILE, hours_shift: float = 0.0) -> pd.DataFrame:
    """Return `n` seeded rows whose label is exactly `age >= 50`: a clean, separable table."""
    rng = np.random.default_rng(seed)
    age = rng.integers(20, 80, n)
    return typed_rows(age, rng.integers(20, 60, n) + hours_shift, rng.choice(["Private", "State-gov", "Self-emp"], n),
                      (age >= 50).astype(int), file)


def checks(**limits) -> RowRules:
    """Return the data_processing settings with these quality limits."""
    return RowRules(quality=QualityChecks(**limits))


# ---------- conflicting labels ----------


def test_conflicting_labels_counts_planted_groups_rows_and_minority_labels():
    table = typed_rows(
        age=[30, 30, 30, 40, 40, 50, 50, 60, 70, np.nan, np.nan],
        hours=[40, 40, 40, 20, 20, 35, 35, 10, 10, 45, 45],
        work_class=["A", "A", "A", "B", "B", "C", "C", "A", "A", None, None],
        income=[1, 1, 0, 1, 0, 1, 1, 0, 1, 0, 1],
    )
    found = label_quality.conflicting_labels(table, SPEC, examples=1)
    # groups (30, 40, A) 2+1, (40, 20, B) 1+1, (missing, 45, missing) 1+1; (50, 35, C) agrees; 60 and 70 differ in age
    assert {k: v for k, v in found.items() if k != "examples"} == {
        "labelled_rows": 11, "groups": 3, "rows": 7, "share": round(7 / 11, 6), "minority_label_rows": 3}
    assert found["examples"] == [{"features": {"age": 30.0, "hours_per_week": 40.0, "work_class": "A"},
                                  "labels": {">50K": 2, "<=50K": 1}}]


def test_conflicting_labels_are_counted_per_split_and_in_all_labelled_rows():
    train = typed_rows([30, 30], [40, 40], ["A", "A"], [1, 0])
    test = typed_rows([30, 31], [40, 40], ["A", "A"], [1, 0], file=TEST_FILE)
    unlabelled = typed_rows([30], [40], ["A"], [pd.NA])
    everything = pd.concat([train, test, unlabelled], ignore_index=True)
    found = label_quality.find_conflicting_labels(everything, train, train.iloc[:0], test, SPEC, checks())
    assert {part: (c["groups"], c["rows"], c["labelled_rows"]) for part, c in found.items()} == {
        "train": (1, 2, 2), "validation": (0, 0, 0), "test": (0, 0, 2), "all labelled rows": (1, 3, 4)}


# ---------- likely label errors ----------


def test_confident_learning_counts_a_row_under_the_likeliest_class_reaching_its_threshold():
    positive = np.array([0.1, 0.2, 0.9, 0.8, 0.7, 0.3, 0.5])
    labels = np.array([0, 0, 1, 1, 0, 1, 0])
    issues, thresholds = label_quality.confident_learning_issues(np.column_stack([1 - positive, positive]), labels)
    # class 0: mean of 0.9, 0.8, 0.3, 0.5 = 0.625; class 1: mean of 0.9, 0.8, 0.3 = 0.667
    assert thresholds == pytest.approx([0.625, 0.8 * 2 / 2.4])
    # the last row reaches neither threshold: unsure, not mislabelled
    assert issues.tolist() == [False, False, False, False, True, True, False]


def test_flipped_labels_are_listed_by_confident_learning_with_file_and_line():
    table = generated_rows(600, seed=1)
    flipped = np.random.default_rng(2).choice(len(table), size=20, replace=False)
    table["income"] = table["income"].where(~np.isin(np.arange(len(table)), flipped), 1 - table["income"])
    found = label_quality.find_label_issues(table, SPEC, checks(label_issue_examples=30))
    listed = {example[rows.LINE_COLUMN] for example in found["examples"]}
    planted = set(table[rows.LINE_COLUMN].iloc[flipped])
    assert len(listed & planted) >= 16
    assert 16 <= found["count"] <= 30
    assert sum(found["by_given_label"].values()) == found["count"]
    assert {example[rows.SOURCE_COLUMN] for example in found["examples"]} == {TRAIN_FILE}
    probabilities = [example["given_label_probability"] for example in found["examples"]]
    assert probabilities == sorted(probabilities)


def test_a_clean_separable_table_has_no_likely_label_errors():
    found = label_quality.find_label_issues(generated_rows(600, seed=3), SPEC, checks())
    assert found["quick_model_roc_auc"] > 0.99
    assert (found["count"], found["examples"]) == (0, [])


def test_label_errors_are_skipped_when_a_class_is_too_rare_to_stratify():
    found = label_quality.find_label_issues(typed_rows([30, 40, 50], [40, 40, 40], ["A", "A", "A"], [1, 0, 0]), SPEC, checks())
    assert "skipped" in found


# ---------- coverage ----------


def test_coverage_flags_slice_values_under_the_row_or_positive_minimum():
    train = typed_rows([40] * 12 + [45] * 3, [40] * 15, ["A"] * 12 + ["B"] * 3, [1] * 3 + [0] * 9 + [1] * 3)
    test = typed_rows([40] * 10, [40] * 10, ["A"] * 9 + [None], [1] * 10, file=TEST_FILE)
    coverage = label_quality.measure_slice_coverage(train, train.iloc[:0], test, SPEC,
                                                    checks(min_slice_rows=10, min_slice_positives=3))
    by_key = {(v["split"], v["column"], v["value"]): (v["rows"], v["positives"], v["flagged"]) for v in coverage["values"]}
    assert by_key[("train", "work_class", "A")] == (12, 3, False)
    assert by_key[("train", "work_class", "B")] == (3, 3, True)           # too few rows
    assert by_key[("test", "work_class", "B")] == (0, 0, True)            # absent from the split
    assert by_key[("test", "work_class", "(missing)")] == (1, 1, True)    # missing values are a slice value too
    assert by_key[("train", "age_band", "<30")] == (0, 0, True)           # a declared band no row falls in
    assert by_key[("train", "age_band", "30+")] == (15, 6, False)
    assert by_key[("validation", "age_band", "30+")] == (0, 0, True)
    assert coverage["flagged"] == sum(flagged for _, _, flagged in by_key.values())


# ---------- split mismatch ----------


def test_a_shifted_feature_is_flagged_and_named_first():
    found = label_quality.check_split_mismatch(generated_rows(600, seed=4), generated_rows(400, seed=5, file=TEST_FILE,
                                                                                            hours_shift=15), SPEC, checks())
    assert found["flagged"] and found["roc_auc"] > found["limit"]
    assert found["separating_features"][0]["feature"] == "hours_per_week"


def test_splits_from_one_distribution_are_not_flagged():
    found = label_quality.check_split_mismatch(generated_rows(600, seed=4), generated_rows(400, seed=5, file=TEST_FILE),
                                               SPEC, checks())
    assert not found["flagged"]
    assert found["rows"] == {"train": 600, "test": 400}


def test_mismatch_limit_is_half_plus_standard_errors_of_the_null_auc_or_the_minimum_margin():
    standard_error = label_quality.null_auc_standard_error(600, 400)
    assert standard_error == pytest.approx(np.sqrt(1001 / (12 * 600 * 400)))
    found = label_quality.check_split_mismatch(generated_rows(600, seed=4), generated_rows(400, seed=5, file=TEST_FILE),
                                               SPEC, checks(adversarial_standard_errors=2, adversarial_min_margin=0.01))
    assert found["limit"] == pytest.approx(0.5 + 2 * standard_error, abs=1e-6)
    margin = label_quality.check_split_mismatch(generated_rows(600, seed=4), generated_rows(400, seed=5, file=TEST_FILE),
                                                SPEC, checks(adversarial_standard_errors=2, adversarial_min_margin=0.2))
    assert margin["limit"] == pytest.approx(0.7)


def test_null_auc_standard_error_matches_the_spread_of_auc_on_random_scores():
    rng = np.random.default_rng(0)
    truth = np.repeat([0, 1], [60, 40])
    ranks = np.argsort(rng.random((4000, 100)), axis=1).argsort(axis=1) + 1  # a random ranking of the 100 rows per draw
    aucs = (ranks[:, truth == 1].sum(axis=1) - 40 * 41 / 2) / (60 * 40)  # Mann-Whitney U / (n0 n1)
    assert aucs.std() == pytest.approx(label_quality.null_auc_standard_error(60, 40), rel=0.05)


def test_split_mismatch_is_skipped_without_test_rows():
    train = generated_rows(50, seed=6)
    assert "skipped" in label_quality.check_split_mismatch(train, train.iloc[:0], SPEC, checks())


# ---------- settings ----------


def test_bad_quality_settings_fail_naming_the_key():
    with pytest.raises(ValidationError, match=r"quality\.min_slice_rows"):
        RowRules.model_validate({"quality": {"min_slice_rows": 0}})
    with pytest.raises(ValidationError, match=r"quality\.adversarial_margin"):
        RowRules.model_validate({"quality": {"adversarial_margin": 0.1}})
