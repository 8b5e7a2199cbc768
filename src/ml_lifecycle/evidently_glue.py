"""The Evidently glue: data definitions from the problem spec, report runs and their outputs.

Every pipeline that builds an Evidently report goes through this module (Evidently 0.7 API).
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
from evidently import BinaryClassification, DataDefinition, Dataset, Report

from ml_lifecycle.spec import ProblemSpec

PREDICTION = "prediction"
PROBABILITY = "prediction_proba"


def data_definition(spec: ProblemSpec, with_target: bool, with_prediction: bool) -> DataDefinition:
    """Return the DataDefinition of spec-shaped rows; always explicit, never guessed."""
    classification = None
    if with_target or with_prediction:
        classification = [BinaryClassification(
            target=spec.target_column if with_target else None,
            prediction_labels=PREDICTION if with_prediction else None,
            prediction_probas=PROBABILITY if with_prediction else None,
            pos_label=1,
        )]
    numeric = spec.numeric_features + ([PROBABILITY] if with_prediction else [])
    categorical = spec.categorical_features + list(spec.banded_columns)
    return DataDefinition(numerical_columns=numeric, categorical_columns=categorical, classification=classification)


def as_dataset(rows: pd.DataFrame, spec: ProblemSpec, with_target: bool, with_prediction: bool) -> Dataset:
    """Return rows as an Evidently Dataset with the spec's definition."""
    definition = data_definition(spec, with_target, with_prediction)
    return Dataset.from_pandas(rows, data_definition=definition)


def run_report(metrics: list[Any], current: pd.DataFrame, spec: ProblemSpec, reference: pd.DataFrame | None = None,
               with_target: bool = True, with_prediction: bool = True, include_tests: bool = False) -> Any:
    """Run an Evidently report of `current` (against `reference` when given) and return the snapshot."""
    report = Report(metrics, include_tests=include_tests)
    reference_data = None if reference is None else as_dataset(reference, spec, with_target, with_prediction)
    return report.run(as_dataset(current, spec, with_target, with_prediction), reference_data)


def snapshot_html(snapshot: Any) -> str:
    """Return the snapshot as a standalone HTML page."""
    return snapshot.get_html_str(as_iframe=False)


def snapshot_json(snapshot: Any) -> dict[str, Any]:
    """Return the snapshot's results as a JSON-ready dict."""
    return json.loads(snapshot.json())
