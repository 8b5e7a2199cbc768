"""The corrupt-input corpus (tests/data/corrupt/, tests/corrupt_corpus.py): every case gives a clear error naming the
file and line (and column, where one is at fault), or a counted, reported removal or rejection, and a failing run
leaves the earlier run's outputs as they were."""

from __future__ import annotations

import re

import pytest

from tests.corrupt_corpus import (
    INFERENCE,
    INGESTION,
    Case,
    cases,
    run_inference_case,
    run_ingestion_case,
)


def test_the_corpus_holds_at_least_twenty_cases_each_for_ingestion_and_batch_inference():
    assert len(cases(INGESTION)) >= 20 and len(cases(INFERENCE)) >= 20


@pytest.mark.parametrize("case", cases(INGESTION), ids=lambda case: case.name)
def test_a_corrupt_training_file_fails_naming_where_or_is_removed_and_counted(case: Case):
    outcome = run_ingestion_case(case)
    if case.outcome == "error":
        assert outcome.exit_code == 1 and re.search(case.message, outcome.message), outcome.message
        assert outcome.earlier_outputs_intact
        return
    assert outcome.exit_code == 0, outcome.message
    accounting = outcome.outputs["data_quality_report"]["row_accounting"]
    removed = {reason: count for reason, count in accounting["removed"].items() if count}
    assert removed == {reason: count for reason, count in case.removed.items() if count}
    assert "missing label" not in removed or case.removed.get("missing label")  # a malformed row is never a missing label
    assert len(accounting["removed_examples"]) == sum(c for r, c in removed.items() if r.startswith("breaks rule"))
    assert sum(accounting["split_rows"].values()) + sum(removed.values()) == accounting["raw_rows"]


def test_rows_removed_for_a_rule_are_listed_with_file_line_and_reason_in_the_quality_report():
    several = next(c for c in cases(INGESTION) if c.file == "several_bad_rows_removed.csv")
    examples = run_ingestion_case(several).outputs["data_quality_report"]["row_accounting"]["removed_examples"]
    assert [(e["source_file"], e["source_line"], e["rule"]) for e in examples] == [
        ("raw/train.csv", 3, "numeric features hold numbers"),
        ("raw/train.csv", 5, "every record well-formed"),
        ("raw/train.csv", 7, "every record well-formed"),
        ("raw/train.csv", 9, "values within the input limits (deployment)"),
    ]
    assert examples[1]["reason"].startswith("work_class: holds control character U+0000")


def test_with_every_row_twice_no_evaluation_row_repeats_a_training_row():
    twice = next(c for c in cases(INGESTION) if c.file == "every_row_twice.csv")
    outputs = run_ingestion_case(twice).outputs
    columns = ["age", "hours_per_week", "work_class", "income"]
    train = set(outputs["train_rows"][columns].itertuples(index=False))
    assert not train & set(outputs["validation_rows"][columns].itertuples(index=False))
    assert outputs["data_quality_report"]["row_accounting"]["evaluation_duplicates"]["validation_rows_equal_to_train"] == 6


@pytest.mark.parametrize("case", cases(INFERENCE), ids=lambda case: case.name)
def test_a_corrupt_batch_fails_naming_where_or_its_bad_rows_go_to_rejects_with_reasons(case: Case):
    outcome = run_inference_case(case)
    if case.outcome == "error":
        assert outcome.exit_code == 1 and re.search(case.message, outcome.message), outcome.message
        assert outcome.earlier_outputs_intact
        return
    assert outcome.exit_code == 0, outcome.message
    rejects, predictions = outcome.outputs["inference_rejects"], outcome.outputs["inference_predictions"]
    assert len(rejects) == case.rejected, outcome.message
    assert all(re.search(case.message, reason) for reason in rejects["reasons"]), outcome.message
    assert not set(rejects["input_row"]) & set(predictions["input_row"])  # a rejected row is never scored
    summary = outcome.outputs["inference_summary"]
    assert (summary["scored"], summary["rejected"]) == (len(predictions), len(rejects))
