"""What is deployed: a registry version plus the training profile its input rows are prepared with.

Batch inference, the prediction service and retraining all score through a `DeployedModel`. Its
missing-value fills and known categories come from the data_processing outputs the model was
trained on, checked against the registry's `data_fingerprint` for that version, so a row gets
the preparation the model learned with wherever it is scored (no training-serving skew). A
version trained on other splits than the current ones is refused with the reason, not served
with the wrong fills.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from ml_lifecycle import rows
from ml_lifecycle.pipelines.modeling.nodes import fingerprint_data
from ml_lifecycle.spec import ProblemSpec, StrictModel


class DeploymentError(ValueError):
    """A registry version cannot be deployed; the message says which and why."""


class Bounds(StrictModel):
    """Inclusive limits of a numeric feature; a value outside is impossible, not merely unusual."""

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Bounds:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class DeploymentConfig(StrictModel):
    """Input rules shared by batch inference and the service (`parameters_deployment.yml`, key `deployment`)."""

    feature_bounds: dict[str, Bounds] = Field(
        default_factory=dict, description="Numeric feature -> impossible values, refused (service) or rejected (batch)."
    )
    max_text_length: int = Field(default=200, gt=0, description="Longest accepted categorical value.")

    def check_against(self, spec: ProblemSpec) -> None:
        """Raise naming any bounded column that is not a numeric feature of the spec."""
        unknown = [c for c in self.feature_bounds if c not in spec.numeric_features]
        if unknown:
            raise DeploymentError(
                f"deployment.feature_bounds names {unknown}, which are not numeric features {spec.numeric_features}"
            )


@dataclass(frozen=True)
class DeployedModel:
    """A registry version ready to score raw rows: the model, its threshold and its training profile."""

    version: str
    model: Any
    metadata: dict[str, Any]
    fills: dict[str, object]
    categories: dict[str, frozenset[str]]
    promotion: dict[str, Any] | None
    scores_arrays: bool = False  # the model scores an object array in model-column order exactly as the frame

    @property
    def threshold(self) -> float:
        """The decision threshold stored with the model."""
        return float(self.model.threshold)

    def probabilities(self, model_rows: pd.DataFrame) -> np.ndarray:
        """Return the positive-class probability of each prepared row."""
        return self.model.predict_proba(model_rows)[:, 1]

    def unseen_categories(self, typed: pd.DataFrame, spec: ProblemSpec) -> pd.Series:
        """Return, per row, 'column=value' for each categorical value never seen in training ('' when none)."""
        flags = pd.Series("", index=typed.index, dtype="str")
        for column in spec.categorical_features:
            values = typed[column]
            unseen = values.notna() & ~values.isin(self.categories[column])
            if unseen.any():
                text = f"{column}=" + values[unseen].astype("str")
                flags[unseen] = flags[unseen].where(flags[unseen] == "", flags[unseen] + "; ") + text
        return flags

    def _prepared_columns(self, records: list[dict[str, Any]], spec: ProblemSpec) -> tuple[dict[str, Any], list[dict[str, str]]]:
        """Return each model column's values and per-row unseen categories for validated JSON records.

        Same steps as `rows.standardise` -> `rows.cast_features` -> `rows.apply_missing_value_fills`,
        column by column on plain lists instead of dozens of per-column pandas calls.
        tests/serving/test_no_skew.py checks the two give identical frames.
        """
        markers = set(spec.raw.missing_markers)
        columns: dict[str, Any] = {}
        unseen: list[dict[str, str]] = [{} for _ in records]
        for column in spec.numeric_features:
            values = np.array([np.nan if r[column] is None else r[column] for r in records], dtype="float64")
            missing = np.isnan(values)
            if spec.missing_policy(column) == "flag_and_median":
                columns[f"{column}_missing"] = missing.astype("int8")
            columns[column] = np.where(missing, self.fills[column], values) if missing.any() else values
        for column in spec.categorical_features:
            known, fill = self.categories[column], self.fills[column]
            cleaned = []
            for i, record in enumerate(records):
                value = record[column]
                value = None if value is None else value.strip()
                if value is None or value in markers:
                    cleaned.append(fill)
                    continue
                if value not in known:
                    unseen[i][column] = value
                cleaned.append(value)
            columns[column] = cleaned  # pandas infers its `str` dtype, as cast_features gives
        return columns, unseen

    def model_rows_from_records(self, records: list[dict[str, Any]], spec: ProblemSpec) -> tuple[pd.DataFrame, list[dict[str, str]]]:
        """Return model rows (a frame, as training saw them) and per-row unseen categories for validated JSON records."""
        columns, unseen = self._prepared_columns(records, spec)
        return pd.DataFrame({c: columns[c] for c in spec.model_columns()}), unseen

    def score_records(self, records: list[dict[str, Any]], spec: ProblemSpec) -> tuple[np.ndarray, list[dict[str, str]]]:
        """Return the positive-class probability and the unseen categories of validated JSON records (the service's hot path).

        Building a pandas frame of one row costs more than scoring it, so a model that scores an
        object array exactly as it scores the frame (checked when it is deployed) gets the array.
        """
        columns, unseen = self._prepared_columns(records, spec)
        if not self.scores_arrays:
            return self.probabilities(pd.DataFrame({c: columns[c] for c in spec.model_columns()})), unseen
        names = spec.model_columns()
        model_rows = np.empty((len(records), len(names)), dtype=object)
        for position, column in enumerate(names):
            model_rows[:, position] = columns[column]
        return self.model.predict_proba(model_rows)[:, 1], unseen




def row_problems(standardised: pd.DataFrame, typed: pd.DataFrame, spec: ProblemSpec, config: DeploymentConfig) -> pd.Series:
    """Return, per raw row, why it cannot be scored ('' when it can): text in numbers, impossible values, overlong text.

    `typed` is `rows.cast_features(standardised, spec)`, passed in so a batch is cast once.
    """
    problems = rows.numeric_problems(standardised, spec, typed)

    def add(mask: pd.Series, message: pd.Series | str) -> None:
        if mask.any():
            problems[mask] = problems[mask].where(problems[mask] == "", problems[mask] + "; ") + message

    for column, bounds in config.feature_bounds.items():
        values = typed[column]
        if bounds.min is not None:
            low = values < bounds.min
            add(low, f"{column}: " + values[low].astype("str") + f" is below the minimum {bounds.min:g}")
        if bounds.max is not None:
            high = values > bounds.max
            add(high, f"{column}: " + values[high].astype("str") + f" is above the maximum {bounds.max:g}")
    for column in spec.categorical_features:
        long = typed[column].str.len() > config.max_text_length
        add(long.fillna(False), f"{column}: text longer than {config.max_text_length} characters")
    return problems


def champion_promotion(record: dict[str, Any], version: str) -> dict[str, Any] | None:
    """Return the latest registry event that made `version` champion (None if it never was)."""
    events = [e for e in record["history"] if e["version"] == version and e["event"] in ("promoted", "rolled back")]
    return events[-1] if events else None


def deploy(candidate: dict[str, Any], record: dict[str, Any], train_split: pd.DataFrame, validation_split: pd.DataFrame,
           fills: dict[str, object], spec: ProblemSpec) -> DeployedModel:
    """Return a registry version ({version, model, metadata}) ready to score, if it was trained on these splits."""
    version, metadata = candidate["version"], candidate["metadata"]
    expected = metadata.get("data_fingerprint")
    if expected is None:
        raise DeploymentError(f"registry version {version} records no data_fingerprint, so its missing-value fills are unknown")
    if fingerprint_data(train_split, validation_split) != expected:
        raise DeploymentError(
            f"registry version {version} was trained on other splits (data_fingerprint {expected[:12]}...) than the current "
            "train/validation splits: its missing-value fills and categories are not the current ones. Re-run "
            "data_processing on the data it was trained on, or serve a version trained on the current splits "
            "(`kedro champion promote VERSION`)"
        )
    categories = {c: frozenset(train_split[c].dropna().astype("str")) for c in spec.categorical_features}
    return DeployedModel(version=version, model=candidate["model"], metadata=metadata, fills=dict(fills),
                         categories=categories, promotion=champion_promotion(record, version),
                         scores_arrays=scores_arrays_identically(candidate["model"], train_split[spec.model_columns()]))


def scores_arrays_identically(model: Any, sample: pd.DataFrame, rows_checked: int = 32) -> bool:
    """Return whether `model` gives the same probabilities for an object array of model rows as for the frame.

    CatBoost pipelines do; models that select columns by name (one-hot, ordinal, rules) refuse arrays.
    """
    frame = sample.iloc[:rows_checked]
    try:
        as_array = model.predict_proba(frame.to_numpy(dtype=object))
    except Exception:  # noqa: BLE001 - whatever a model raises on an array, the answer is "use frames"
        return False
    return bool(np.array_equal(as_array, model.predict_proba(frame)))
