"""Small data (problem.split.small_data_rows): balanced split shares below the declared size, today's split above it."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from ml_lifecycle.bundle import InputLimits
from ml_lifecycle.pipelines.data_processing import nodes
from ml_lifecycle.spec import ProblemSpec

from .tiny_problem import as_partitions, raw_frame, tiny_spec

DEFAULT_SHARES = {"test_share": 0.1, "validation_share": 0.1}  # unlike the balanced 0.2 / 0.25, so the policy shows


def generated_records(n: int, seed: int) -> list[list[str]]:
    """Return `n` distinct raw records of the tiny problem whose label follows age, with noise."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, n)
    positive = age + rng.normal(scale=10, size=n) > 55
    hours = rng.uniform(10, 60, n).round(4)  # continuous, so no record repeats another and none leaves an evaluation split
    return [[str(a), str(h), w, ">50K" if p else "<=50K"]
            for a, h, w, p in zip(age, hours, rng.choice(["Private", "State-gov"], n), positive, strict=True)]


def split_counts(spec: ProblemSpec, train: list[list[str]], test: list[list[str]] | None = None) -> dict:
    """Return the split node's row accounting for raw records no rule removes."""
    frames = {"train.csv": raw_frame(*train)} | ({"test.csv": raw_frame(*test)} if test else {})
    validated, removed = nodes.validate_rows(nodes.standardise_raw_rows(as_partitions(frames), spec), spec,
                                             InputLimits(), nodes.RowRules())
    return nodes.split_rows(validated, removed, spec, nodes.RowRules())[3]


def test_a_problem_below_the_declared_size_gets_the_balanced_60_20_20_split_and_says_why():
    spec = tiny_spec(raw={"test_file": None}, split=DEFAULT_SHARES)
    accounting = split_counts(spec, generated_records(1000, 0))
    assert accounting["split_rows"] == {"train": 600, "validation": 200, "test": 200}
    assert accounting["split_policy"] == {
        "policy": "small data: balanced shares", "reason": "1,000 labelled rows < 10,000 (problem.split.small_data_rows)",
        "labelled_rows": 1000, "small_data_rows": 10000, "test_share": 0.2, "validation_share": 0.25,
    }


def test_a_problem_at_or_above_the_declared_size_keeps_the_declared_shares():
    spec = tiny_spec(raw={"test_file": None}, split=DEFAULT_SHARES | {"small_data_rows": 1000})
    accounting = split_counts(spec, generated_records(1000, 0))
    assert accounting["split_rows"] == {"train": 810, "validation": 90, "test": 100}
    assert accounting["split_policy"]["policy"] == "default shares"
    assert accounting["split_policy"]["reason"] == "1,000 labelled rows >= 1,000 (problem.split.small_data_rows)"


def test_with_a_test_file_small_data_counts_its_rows_and_only_the_validation_share_changes():
    spec = tiny_spec(split=DEFAULT_SHARES)
    accounting = split_counts(spec, generated_records(800, 0), generated_records(200, 1))
    assert accounting["split_rows"] == {"train": 600, "validation": 200, "test": 200}
    assert accounting["split_policy"]["labelled_rows"] == 1000
    assert accounting["split_policy"]["test_share"] is None  # the test file is the test split


def test_rows_without_a_label_do_not_count_towards_the_size():
    spec = tiny_spec(raw={"test_file": None}, split=DEFAULT_SHARES | {"small_data_rows": 1000})
    records = generated_records(1000, 0)
    records[0][3] = "?"
    accounting = split_counts(spec, records)
    assert accounting["split_policy"]["labelled_rows"] == 999
    assert accounting["split_policy"]["policy"] == "small data: balanced shares"


@pytest.mark.parametrize(("split", "key"), [({"small_data_rows": -1}, "split.small_data_rows"),
                                            ({"small_data_validation_share": 1.0}, "split.small_data_validation_share")])
def test_a_bad_small_data_setting_fails_naming_its_key(split, key):
    with pytest.raises(ValidationError, match=key):
        tiny_spec(split=split)

