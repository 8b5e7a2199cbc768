"""A tiny hand-made problem (spec + raw files) for the data_processing tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from ml_lifecycle.spec import ProblemSpec
from tests.conftest import csv_bytes

HEADER = ["Age", "Hours-Per-Week", "Work Class", "Income"]

TINY_PROBLEM: dict[str, Any] = {
    "seed": 0,
    "raw": {"folder": "raw", "train_file": "train.csv", "test_file": "test.csv"},
    "target": {
        "column": "Income",
        "positive_label": ">50K",
        "negative_label": "<=50K",
        "strip_characters": ".",
    },
    "numeric_features": ["age", "hours_per_week"],
    "categorical_features": ["work_class"],
    "missing_values": {"hours_per_week": "flag_and_median"},
    "default_missing_numeric": "median",
    "default_missing_categorical": "category",
    "banded_columns": {
        "age_band": {"source_column": "age", "edges": [0, 30, 200], "labels": ["<30", "30+"]}
    },
    "protected_attributes": ["age_band"],
    "slices": ["work_class"],
    "split": {"validation_share": 0.25, "test_share": 0.2},
}


def _merged(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Return `base` with `changes` applied; nested dicts are merged key by key."""
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merged[key] = _merged(base[key], value)
        else:
            merged[key] = value
    return merged


def tiny_spec(**changes: Any) -> ProblemSpec:
    """Return the tiny problem's validated spec, with `changes` merged into its keys."""
    return ProblemSpec.model_validate(_merged(TINY_PROBLEM, changes))


def raw_frame(*records: list[str], header: list[str] = HEADER) -> pd.DataFrame:
    """Return a raw file as the catalog loads it: every value text."""
    return pd.DataFrame([list(r) for r in records], columns=header, dtype="str")


def labelled_records(n: int, positives: int, start_age: int = 20) -> list[list[str]]:
    """Return `n` distinct raw records, the first `positives` labelled '>50K'."""
    return [
        [str(start_age + i), str(30 + i % 20), ["Private", "State-gov"][i % 2], ">50K" if i < positives else "<=50K"]
        for i in range(n)
    ]


def as_partitions(frames: dict[str, pd.DataFrame]) -> dict[str, Callable[[], bytes]]:
    """Return frames as the catalog's raw_files loads them: file name -> load function of the CSV file's bytes."""
    return {name: (lambda frame=frame: csv_bytes(frame)) for name, frame in frames.items()}
