"""The tiny problem of the inference tests (header-less files, a real fitted champion) plus a monitoring config."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ml_lifecycle import rows
from ml_lifecycle.pipelines.monitoring.config import MonitoringConfig
from tests.pipelines.data_processing.tiny_problem import _merged
from tests.pipelines.inference.tiny_deployment import headerless_spec, tiny_deployed

__all__ = ["headerless_spec", "held_out_rows", "tiny_config", "tiny_deployed", "validated_rows"]

TINY_MONITORING: dict[str, Any] = {
    "production_folder": "production",
    "simulation": {"scenarios": [{"kind": "clean"}, {"kind": "unit_change", "column": "hours_per_week", "factor": 60}]},
    "tests": {
        "drifted_columns_share": {"max": 0.5},
        "prediction_drift": {"max": 0.3},
        "missing_share": {"max": 0.2},
        "new_category_share": {"max": 0.05},
        "out_of_range_share": {"max": 0.05},
        "row_count": {"min": 5, "severity": "warning"},
        "roc_auc": {"min": 0.7},
        "slice_recall_gap": {"max": 0.3, "min_positives": 3, "severity": "warning"},
    },
}


def tiny_config(**changes: Any) -> MonitoringConfig:
    """Return the tiny monitoring config with `changes` merged into its keys."""
    return MonitoringConfig.model_validate(_merged(TINY_MONITORING, changes))


def validated_rows(n: int = 40, seed: int = 0) -> pd.DataFrame:
    """Return data_processing's validated rows of the tiny problem: n train-file and n test-file rows."""
    rng = np.random.default_rng(seed)
    spec = headerless_spec()
    frames = []
    for file in (spec.raw.train_file, spec.raw.test_file):
        age = rng.integers(18, 70, n).astype(float)
        frame = pd.DataFrame({
            "age": age, "hours_per_week": rng.integers(20, 60, n).astype(float),
            "work_class": pd.array(rng.choice(["Private", "State-gov"], n), dtype="str"),
            "income": pd.array((age > 40).astype(int), dtype="Int8"),
        })
        frame = frame.join(rows.add_slice_columns(frame, spec))
        frame[rows.SOURCE_COLUMN] = f"{spec.raw.folder}/{file}"
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def held_out_rows(n: int = 40, seed: int = 0) -> pd.DataFrame:
    """Return data_processing's frozen holdout of the tiny problem: the test file's rows, unfilled, with a 0/1 target."""
    spec = headerless_spec()
    test = validated_rows(n, seed)
    test = test[test[rows.SOURCE_COLUMN] == f"{spec.raw.folder}/{spec.raw.test_file}"]
    held_out = test[spec.features + [spec.target_column] + list(spec.banded_columns)].reset_index(drop=True)
    return held_out.astype({spec.target_column: "int8"})
