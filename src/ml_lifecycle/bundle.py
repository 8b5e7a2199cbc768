"""The model bundle: everything one registry version needs to score raw rows, in one artifact.

A bundle holds the row-preparation recipe learned on the version's own training rows
(missing-value fills and flags, known categories, the input schema with types and bounds), the
fitted model with its calibration, the decision threshold, the abstain band and the out-of-sample
probabilities of the validation rows (monitoring's prediction-drift reference). Batch inference,
the service, monitoring and retraining score through a bundle and read nothing else, so any
registered version can be served, or rolled back to, whatever the current splits are.
"""

from __future__ import annotations

import hashlib
import logging
import math
import platform
from dataclasses import dataclass
from importlib.metadata import version as installed_version
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from ml_lifecycle import rows
from ml_lifecycle.estimators import ScoringModel
from ml_lifecycle.spec import MissingPolicy, ProblemSpec, StrictModel

logger = logging.getLogger(__name__)

SAMPLE_ROWS = 32  # training rows kept in the bundle: the service's example and the array-scoring check
LIBRARIES = ("scikit-learn", "catboost", "pandas", "numpy")


class BundleError(ValueError):
    """A bundle cannot be built, loaded or served; the message names the file or field and what differs."""


class Bounds(StrictModel):
    """Inclusive limits of a numeric feature; a value outside is impossible, not merely unusual."""

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Bounds:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class InputLimits(StrictModel):
    """Input rules shared by training, batch inference and the service (`parameters_deployment.yml`, key `deployment`).

    A numeric feature's side without a declared bound is limited by the magnitude limit `build_recipe`
    derives from the training rows and stores in the bundle: no finite value is too large otherwise.
    """

    feature_bounds: dict[str, Bounds] = Field(
        default_factory=dict, description="Numeric feature -> impossible values, refused (service) or rejected (batch)."
    )
    max_text_length: int = Field(default=200, gt=0, description="Longest accepted categorical value.")
    magnitude_headroom: float = Field(
        default=10.0, ge=1, description="Magnitude limit: the power of ten at or above this times the largest training |value|."
    )
    magnitude_limits: dict[str, float] | None = Field(
        default=None, description="Numeric feature -> largest accepted |value|, derived by build_recipe; None before.")

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickle limits of a bundle released before magnitude limits were derived: without them, with a warning."""
        fields = state["__dict__"]
        if "magnitude_limits" not in fields:
            logger.warning("This bundle was released before magnitude limits were derived from its training rows: numeric "
                           "values without a declared bound (deployment.feature_bounds) are only required to be finite. "
                           "Release it again to derive them.")
            state = {**state, "__dict__": {"magnitude_headroom": 10.0, "magnitude_limits": None, **fields}}
        super().__setstate__(state)

    def problems_against(self, spec: ProblemSpec) -> list[str]:
        """Return the bounded columns that are not numeric features of the spec, as `key: why`."""
        return [f"deployment.feature_bounds.{c}: not a numeric feature {spec.numeric_features}"
                for c in self.feature_bounds if c not in spec.numeric_features]

    def check_against(self, spec: ProblemSpec) -> None:
        """Raise naming any bounded column that is not a numeric feature of the spec."""
        problems = self.problems_against(spec)
        if problems:
            raise BundleError("\n".join(problems))

    def derived_from(self, train: pd.DataFrame, spec: ProblemSpec) -> InputLimits:
        """Return these limits with each numeric feature's magnitude limit derived from its training values."""
        return self.model_copy(update={"magnitude_limits": {
            c: magnitude_limit(train[c], self.magnitude_headroom) for c in spec.numeric_features}})

    def accepted_bounds(self) -> dict[str, Bounds]:
        """Return each limited numeric feature's bounds: the declared side where there is one, else -/+ its magnitude limit."""
        magnitudes = self.magnitude_limits or {}
        bounds = {}
        for column in dict.fromkeys([*self.feature_bounds, *magnitudes]):
            declared, magnitude = self.feature_bounds.get(column, Bounds()), magnitudes.get(column)
            bounds[column] = Bounds(
                min=declared.min if declared.min is not None or magnitude is None else -magnitude,
                max=declared.max if declared.max is not None or magnitude is None else magnitude)
        return bounds


def magnitude_limit(values: pd.Series, headroom: float) -> float:
    """Return the power of ten at or above `headroom` times the largest |value| (at least 1): absurd values lie beyond it."""
    largest = float(np.nanmax(np.abs(values.to_numpy(dtype="float64")), initial=0.0))
    return float(10 ** math.ceil(math.log10(headroom * max(largest, 1.0))))


class InputSchema(StrictModel):
    """The rows a bundle accepts and how it prepares them: feature types, missing-value policies, model columns, limits."""

    numeric_features: list[str]
    categorical_features: list[str]
    missing_policies: dict[str, MissingPolicy]
    model_columns: list[str]
    limits: InputLimits

    @classmethod
    def of(cls, spec: ProblemSpec, limits: InputLimits) -> InputSchema:
        """Return the schema the spec declares, with the given input limits."""
        return cls(numeric_features=spec.numeric_features, categorical_features=spec.categorical_features,
                   missing_policies={c: spec.missing_policy(c) for c in spec.features},
                   model_columns=spec.model_columns(), limits=limits)

    def differences(self, spec: ProblemSpec) -> list[str]:
        """Return how the current problem spec prepares rows differently from this schema ([] when it does not)."""
        current = InputSchema.of(spec, self.limits)
        return [f"{field}: bundle {getattr(self, field)} vs problem spec {getattr(current, field)}"
                for field in ("numeric_features", "categorical_features", "missing_policies", "model_columns")
                if getattr(self, field) != getattr(current, field)]


@dataclass(frozen=True)
class Recipe:
    """Row preparation learned on a version's own training rows."""

    schema: InputSchema
    fills: dict[str, object]
    categories: dict[str, frozenset[str]]
    sample_rows: pd.DataFrame  # a few prepared training rows, in model-column order


def labels_digest(labels: pd.Series | np.ndarray) -> str:
    """Return the SHA-256 of 0/1 labels in their order."""
    return hashlib.sha256(np.asarray(labels, dtype="int8").tobytes()).hexdigest()


@dataclass(frozen=True)
class ReferencePredictions:
    """Probabilities of the validation rows, in order, from a model that never saw them: monitoring's reference."""

    probabilities: np.ndarray
    labels_sha256: str  # of those rows' labels in order: tells a reference of other rows, or reordered ones, apart
    source: str  # which model predicted them, for logs and pages

    @classmethod
    def of(cls, probabilities: np.ndarray, labels: pd.Series, source: str) -> ReferencePredictions:
        """Return the probabilities of the rows with these labels, in order, predicted by `source`."""
        return cls(probabilities=np.asarray(probabilities, dtype=float), labels_sha256=labels_digest(labels), source=source)

    def misalignment(self, labels: pd.Series) -> str:
        """Return why rows with these labels are not the rows these probabilities belong to ('' when they are)."""
        if len(labels) != len(self.probabilities):
            return f"it holds probabilities of {len(self.probabilities)} validation rows, the reference has {len(labels)} rows"
        if labels_digest(labels) != self.labels_sha256:
            return f"the reference's {len(labels)} labels are not those of its validation rows in the same order"
        return ""


@dataclass(frozen=True)
class ModelBundle:
    """One registry version's artifact: recipe, calibrated model, threshold, abstain band and reference probabilities."""

    recipe: Recipe
    model: ScoringModel
    abstain_band: tuple[float, float] | None = None
    reference: ReferencePredictions | None = None  # None in bundles released before it was stored (and in candidates)

    @property
    def threshold(self) -> float:
        """The decision threshold stored with the model."""
        return float(self.model.threshold)

    def model_rows(self, typed: pd.DataFrame, spec: ProblemSpec) -> pd.DataFrame:
        """Return typed raw rows prepared as this version's training rows were (its fills and flags)."""
        return rows.apply_missing_value_fills(typed, self.recipe.fills, spec)

    def probabilities(self, model_rows: pd.DataFrame) -> np.ndarray:
        """Return the positive-class probability of each prepared row."""
        return self.model.predict_proba(model_rows)[:, 1]


def build_recipe(train_split: pd.DataFrame, fills: dict[str, object], spec: ProblemSpec, limits: InputLimits) -> Recipe:
    """Return the recipe of rows prepared like `train_split`: its fills, its categories, the spec's schema and limits,
    with magnitude limits derived from its numeric values."""
    categories = {c: frozenset(train_split[c].dropna().astype("str")) for c in spec.categorical_features}
    return Recipe(schema=InputSchema.of(spec, limits.derived_from(train_split, spec)), fills=dict(fills), categories=categories,
                  sample_rows=train_split[spec.model_columns()].iloc[:SAMPLE_ROWS].reset_index(drop=True))


def library_versions() -> dict[str, str]:
    """Return the versions of Python (major.minor) and of the libraries a pickled bundle depends on."""
    return {"python": ".".join(platform.python_version_tuple()[:2]), **{name: installed_version(name) for name in LIBRARIES}}


def library_mismatches(recorded: dict[str, Any]) -> list[str]:
    """Return 'name recorded X, installed Y' for each library whose installed version differs from `recorded`."""
    installed = library_versions()
    return [f"{name} recorded {recorded.get(name)}, installed {installed[name]}"
            for name in installed if recorded.get(name) != installed[name]]
