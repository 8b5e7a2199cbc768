"""Evidently classification reports of the released model: the whole test split and one per slice value.

Links are relative to `data/08_reporting/` and follow the paths in `conf/base/catalog_evaluation.yml`.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from evidently.presets import ClassificationPreset

from ml_lifecycle.evaluation_config import EvaluationConfig
from ml_lifecycle.evidently_glue import run_report, snapshot_html
from ml_lifecycle.pipelines.evaluation.nodes import evidently_rows, slug
from ml_lifecycle.spec import ProblemSpec

EVIDENTLY_TEST_HREF = "evidently/evaluation_test_classification.html"
EVIDENTLY_SLICES_FOLDER = "evidently/evaluation_slices"


def build_test_classification_report(test_split: pd.DataFrame, test_predictions: pd.DataFrame, spec: ProblemSpec) -> str:
    """Return Evidently's classification report of the released model on the whole test split, as HTML."""
    return snapshot_html(run_report([ClassificationPreset()], evidently_rows(test_split, test_predictions), spec))


def build_slice_classification_reports(test_split: pd.DataFrame, test_predictions: pd.DataFrame, config: EvaluationConfig,
                                       spec: ProblemSpec) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Return one Evidently classification report per slice value (HTML by partition name), and an index of them.

    Evidently 0.7's GroupBy returns overall numbers for classification metrics, so each slice's
    rows are filtered and reported on their own. Slices too small or with one class get no report.
    """
    rows = evidently_rows(test_split, test_predictions)
    reports, index = {}, []
    for column in config.evidently_slice_columns or config.slice_columns(spec):
        for value, group in rows.groupby(rows[column].astype("str"), observed=True):
            entry = {"slice_column": column, "slice_value": value, "rows": len(group), "href": None, "note": ""}
            if len(group) < config.slices.min_size:
                entry["note"] = f"too small (< {config.slices.min_size} rows)"
            elif group[spec.target_column].nunique() < 2:
                entry["note"] = "one class only"
            else:
                partition = f"{column}/{slug(value)}"
                reports[partition] = snapshot_html(run_report([ClassificationPreset()], group, spec))
                entry["href"] = f"{EVIDENTLY_SLICES_FOLDER}/{partition}.html"
            index.append(entry)
    return reports, index
