"""The one rule set rows follow everywhere (rows.py), the magnitude limits a bundle carries (bundle.py) and the
service's request model built from both (serving/schema.py), on tiny hand-made inputs."""

from __future__ import annotations

import logging
import re

import pandas as pd
import pytest
from pydantic import ValidationError

from ml_lifecycle import rows
from ml_lifecycle.bundle import Bounds, InputLimits, magnitude_limit
from ml_lifecycle.serving.schema import row_model
from tests.pipelines.data_processing.tiny_problem import HEADER, tiny_spec
from tests.pipelines.inference.tiny_deployment import (
    LIMITS,
    headerless_spec,
    tiny_bundle,
)

EXAMPLE = {"age": 30.0, "hours_per_week": 40.0, "work_class": "Private"}


def test_records_keep_their_file_line_through_blank_and_comment_lines_and_quoted_line_breaks():
    spec = headerless_spec().model_copy(update={"raw": headerless_spec().raw.model_copy(update={"comment": "|"})})
    content = b'|a comment\n25,40,Private,>50K\n\n   \n26,"4\n1",Private,>50K\n27,42,"State, gov",<=50K\n'
    table = rows.read_records(content, "f.csv", spec)
    assert table.lines.tolist() == [2, 5, 7]
    assert table.frame["work_class"].tolist() == ["Private", "Private", "State, gov"]
    assert table.problems.tolist() == ["", "hours_per_week: holds control character U+000A (rule: no control characters "
                                           "U+0000-U+001F, U+007F-U+009F)", ""]


def test_a_short_row_is_read_as_malformed_never_as_a_row_with_a_missing_label():
    table = rows.read_records(",".join(HEADER).encode() + b"\n25,40,Private,>50K\n26,41,Private\n", "f.csv", tiny_spec())
    assert table.problems.tolist() == ["", "3 fields where 4 are expected (rule: one field per column)"]
    assert table.frame.loc[1, "work_class"] == "Private" and pd.isna(table.frame.loc[1, "income"])


def test_a_nul_byte_is_refused_naming_the_column_not_cut_short():
    table = rows.read_records(b"25,40,Priv\x00ate\n", "f.csv", headerless_spec())
    assert table.problems.tolist() == ["work_class: holds control character U+0000 (rule: no control characters "
                                       "U+0000-U+001F, U+007F-U+009F)"]
    assert table.frame.loc[0, "work_class"] == "Priv\\x00ate"  # shown escaped in rejects, whole


def test_a_tab_separator_is_no_control_character():
    spec = headerless_spec().model_copy(update={"raw": headerless_spec().raw.model_copy(update={"separator": "\t"})})
    assert rows.read_records(b"25\t40\tPrivate\n", "f.tsv", spec).problems.tolist() == [""]


def test_a_bad_byte_names_its_line_and_its_offset_in_the_line_and_the_file():
    with pytest.raises(rows.DataValidationError, match=r"^f\.csv: line 2, byte 4 of the line \(byte offset 17 in the file\) "
                                                      r"is not utf-8 text: b'\\xe9' \(rule: problem\.raw\.encoding\)$"):
        rows.read_records(b"25,40,Private\n30,\xe9,Private\n", "f.csv", headerless_spec())


def test_a_utf8_byte_order_mark_and_windows_line_ends_are_read_as_plain_text():
    table = rows.read_records(b"\xef\xbb\xbf25,40,Private\r\n26,41,State-gov\r\n", "f.csv", headerless_spec())
    assert table.frame["age"].tolist() == ["25", "26"] and table.frame["work_class"].tolist() == ["Private", "State-gov"]


def test_messages_repeat_at_most_the_start_of_a_huge_value():
    problems = rows.numeric_problems(pd.DataFrame({"age": ["7" * 10 + "x" * 100], "hours_per_week": ["1"]}), tiny_spec())
    assert problems.tolist() == [f"age: '{'7' * 10}{'x' * 30}... (110 characters)' is not a number"]


def test_the_magnitude_limit_is_the_power_of_ten_at_or_above_ten_times_the_largest_training_value():
    assert magnitude_limit(pd.Series([0.0, 99_999.0]), 10) == 1e6
    assert magnitude_limit(pd.Series([-5.0, 3.0, None]), 10) == 100
    assert magnitude_limit(pd.Series([0.0, 0.0]), 10) == 10


def test_declared_bounds_win_and_magnitude_limits_bound_the_other_sides():
    limits = InputLimits(feature_bounds={"age": {"min": 0}}).derived_from(
        pd.DataFrame({"age": [17.0, 90.0], "hours_per_week": [1.0, 99.0]}), tiny_spec())
    assert limits.accepted_bounds() == {"age": Bounds(min=0, max=1000), "hours_per_week": Bounds(min=-1000, max=1000)}


def test_batch_rows_beyond_the_bundle_limits_are_named_like_the_service_names_them():
    limits = tiny_bundle().recipe.schema.limits
    standardised = pd.DataFrame({"age": ["30", "-1"], "hours_per_week": ["1e308", "40"], "work_class": ["Private", "x" * 13]})
    problems = rows.row_problems(standardised, rows.cast_features(standardised, tiny_spec()), tiny_spec(), limits)
    assert problems.tolist() == ["hours_per_week: 1e+308 is above the maximum 1000",
                                 "age: -1.0 is below the minimum 0; work_class: text longer than 12 characters"]


@pytest.mark.parametrize(("change", "problem"), [
    ({"hours_per_week": 1e308}, "Input should be less than or equal to 1000"),
    ({"age": -1}, "Input should be greater than or equal to 0"),
    ({"work_class": "Priv\x00ate"}, "Value error, holds control character U+0000"),
    ({"work_class": "x" * 13}, "String should have at most 12 characters"),
], ids=["beyond the magnitude limit", "below a declared bound", "control character", "overlong text"])
def test_the_service_refuses_what_batch_inference_rejects(change, problem):
    Row = row_model(headerless_spec(), tiny_bundle().recipe.schema.limits, EXAMPLE)
    Row.model_validate(EXAMPLE)
    with pytest.raises(ValidationError, match=re.escape(problem)):
        Row.model_validate(EXAMPLE | change)


def test_limits_of_a_bundle_released_before_magnitude_limits_load_without_them_and_warn(caplog):
    state = LIMITS.__getstate__()  # what unpickling restores; an old bundle's lacks the two fields added since
    old = {k: v for k, v in state["__dict__"].items() if k not in ("magnitude_limits", "magnitude_headroom")}
    loaded = InputLimits.__new__(InputLimits)
    with caplog.at_level(logging.WARNING, logger="ml_lifecycle.bundle"):
        loaded.__setstate__({**state, "__dict__": old})
    assert loaded.magnitude_limits is None and loaded.accepted_bounds() == {"age": Bounds(min=0, max=120)}
    assert "released before magnitude limits were derived" in caplog.text
