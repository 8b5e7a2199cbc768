"""What is deployed: a verified registry bundle, ready to score raw rows.

Batch inference, the prediction service, monitoring and retraining all score through a
`DeployedModel`. Its missing-value fills and known categories come from the bundle, learned on
the version's own training rows, so a row gets the preparation the model learned with wherever
and whenever it is scored (no training-serving skew), and any registered version can be served
without the splits it was trained on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ml_lifecycle.bundle import BundleError, InputLimits, ModelBundle
from ml_lifecycle.registry import LoadedBundle, Manifest, RegistryEvent
from ml_lifecycle.spec import ProblemSpec

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeployedModel:
    """A verified registry version ready to score raw rows: its bundle, manifest and promotion."""

    version: str
    bundle: ModelBundle
    manifest: Manifest
    promotion: RegistryEvent | None
    scores_arrays: bool = False  # the model scores an object array in model-column order exactly as the frame

    @property
    def model(self) -> Any:
        """The calibrated model with its threshold."""
        return self.bundle.model

    @property
    def fills(self) -> dict[str, object]:
        """Missing-value fills learned on this version's training rows."""
        return self.bundle.recipe.fills

    @property
    def categories(self) -> dict[str, frozenset[str]]:
        """Categorical values seen in this version's training rows."""
        return self.bundle.recipe.categories

    @property
    def limits(self) -> InputLimits:
        """The input bounds this version was released with."""
        return self.bundle.recipe.schema.limits

    @property
    def threshold(self) -> float:
        """The decision threshold stored with the model."""
        return float(self.model.threshold)

    def probabilities(self, model_rows: pd.DataFrame) -> np.ndarray:
        """Return the positive-class probability of each prepared row."""
        return self.model.predict_proba(model_rows)[:, 1]

    def reference_probabilities(self, reference: pd.DataFrame, spec: ProblemSpec) -> np.ndarray:
        """Return the probabilities of monitoring's reference rows (the validation split), logging which model gave them.

        The bundle's out-of-sample probabilities when it has them; a bundle released before they were
        stored is scored now, as monitoring always did, with a warning naming the version.
        """
        stored = self.bundle.reference
        if stored is None:
            logger.warning("Registry version %s has no out-of-sample reference probabilities (released before they were "
                           "stored): its monitoring reference is scored by the champion itself, in sample if it was refitted "
                           "on the validation split; release it again to compare production with out-of-sample predictions",
                           self.version)
            return self.probabilities(self.bundle.model_rows(reference, spec))
        problem = stored.misalignment(reference[spec.target_column])
        if problem:
            raise BundleError(f"registry version {self.version} cannot give the monitoring reference its out-of-sample "
                              f"probabilities: {problem}. The reference is not the validation split this version was released "
                              "on (the data or its split changed since): release a model on the current splits "
                              "(`kedro run --pipeline=evaluation`, promoted when the gate passes) before monitoring with them")
        logger.info("Monitoring reference of registry version %s: %d rows, probabilities from the %s",
                    self.version, len(stored.probabilities), stored.source)
        return stored.probabilities

    def low_confidence(self, probabilities: np.ndarray) -> np.ndarray:
        """Return, per probability, whether it falls inside the release's abstain band (too close to the threshold to trust)."""
        probabilities = np.asarray(probabilities, dtype=float)
        if self.bundle.abstain_band is None:
            return np.zeros(len(probabilities), dtype=bool)
        low, high = self.bundle.abstain_band
        return (probabilities > low) & (probabilities < high)

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


def deploy(loaded: LoadedBundle, spec: ProblemSpec) -> DeployedModel:
    """Return a verified bundle ready to score, if it prepares rows as the current problem spec declares."""
    differences = loaded.bundle.recipe.schema.differences(spec)
    if differences:
        raise BundleError(f"registry version {loaded.version} was released for other input columns than params:problem "
                          f"declares ({'; '.join(differences)}); serve a version released for this problem")
    sample = loaded.bundle.recipe.sample_rows
    return DeployedModel(version=loaded.version, bundle=loaded.bundle, manifest=loaded.manifest, promotion=loaded.promotion,
                         scores_arrays=scores_arrays_identically(loaded.bundle.model, sample))


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
