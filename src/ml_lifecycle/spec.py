"""The problem spec: everything problem-specific, typed and validated before any node runs.

`conf/<problem>/parameters.yml` (key `problem`) is parsed into `ProblemSpec`; Kedro validates it
when a node takes `params:problem` typed as `ProblemSpec`, so a misspelt key or a wrong value
fails before the run starts, naming the key.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ml_lifecycle.metrics import METRICS

ERROR_RATE = "error_rate"  # the share of wrong decisions: what error analysis and human-level figures speak of

MissingPolicy = Literal["category", "flag_and_median", "median", "mean", "most_frequent"]


class StrictModel(BaseModel):
    """Base for config models: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def snake_case(name: str) -> str:
    """Return `name` in snake_case: `Loan Amount` -> `loan_amount`, `monthlyFee` -> `monthly_fee`."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name.strip())
    return re.sub(r"[^0-9a-zA-Z]+", "_", spaced).strip("_").lower()


class RawSource(StrictModel):
    """Where the raw rows come from and how every raw file of the problem is written (one format for all).

    Training files, batch-inference input and production drop-ins are all read with this
    format by `rows.read_records` (training, batch inference; `rows.read_raw_table` for drop-ins).
    """

    folder: str = Field(description="Folder of the raw files, for messages that name a file.")
    train_file: str
    test_file: str | None = Field(
        default=None, description="The data's own test split; null carves a stratified one."
    )
    column_names: list[str] | None = Field(
        default=None, description="Names for header-less files, in file order; null: the first row names the columns."
    )
    separator: str = Field(default=",", min_length=1, max_length=1, description="Field separator, e.g. ',' ';' or a tab.")
    encoding: str = Field(default="utf-8", description="Text encoding of the files, e.g. utf-8 or latin-1.")
    comment: str | None = Field(default=None, min_length=1, max_length=1, description="Lines starting with this are skipped.")
    missing_markers: list[str] = Field(default_factory=lambda: ["?", ""])
    sample_rows: int | None = Field(
        default=None, gt=0, description="Seeded random sample per file, for quick runs."
    )

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, encoding: str) -> str:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ValueError(f"unknown text encoding {encoding!r} (e.g. utf-8, utf-8-sig, latin-1, cp1252)") from None
        return encoding


class Target(StrictModel):
    """The label column and how its raw values map to 0/1."""

    column: str
    positive_label: str
    negative_label: str
    strip_characters: str = Field(
        default="", description="Characters stripped from both ends of a raw label."
    )
    case_sensitive: bool = True

    @model_validator(mode="after")
    def _labels_differ(self) -> Target:
        if self.normalise(self.positive_label) == self.normalise(self.negative_label):
            raise ValueError("positive_label and negative_label are the same after normalisation")
        return self

    def normalise(self, label: str) -> str:
        """Return a raw label as it is compared with the declared labels."""
        cleaned = label.strip().strip(self.strip_characters).strip()
        return cleaned if self.case_sensitive else cleaned.lower()


class BandedColumn(StrictModel):
    """A derived slice column: a numeric column cut into labelled bands."""

    source_column: str
    edges: list[float] = Field(min_length=2, description="Band edges, left-closed.")
    labels: list[str]

    @model_validator(mode="after")
    def _labels_match_edges(self) -> BandedColumn:
        if len(self.labels) != len(self.edges) - 1:
            raise ValueError(
                f"needs {len(self.edges) - 1} labels for {len(self.edges)} edges, got {len(self.labels)}"
            )
        if sorted(self.edges) != self.edges:
            raise ValueError("edges must increase")
        return self


class DecisionValue(StrictModel):
    """What each decision is worth in money (`problem.decision_value`): a right one's value, a wrong one's cost."""

    currency: str = Field(min_length=1, description="Printed beside every value, e.g. EUR.")
    true_positive_value: float = Field(ge=0, description="Gained by a positive decision on a positive row.")
    true_negative_value: float = Field(default=0.0, ge=0, description="Gained by a negative decision on a negative row.")
    false_positive_cost: float = Field(ge=0, description="Lost by a positive decision on a negative row.")
    false_negative_cost: float = Field(ge=0, description="Lost by a negative decision on a positive row.")

    def per_1000(self, tp: Any, fp: Any, fn: Any, tn: Any) -> Any:
        """Return the value per 1,000 decisions of confusion counts: realised, expected, or one per threshold (arrays)."""
        gained = tp * self.true_positive_value + tn * self.true_negative_value
        lost = fp * self.false_positive_cost + fn * self.false_negative_cost
        return 1000 * (gained - lost) / (tp + fp + fn + tn)


class ReferenceResult(StrictModel):
    """A result declared from elsewhere, not measured here: the literature, the older system, human-level performance."""

    name: str = Field(min_length=1)
    kind: Literal["literature", "older_system", "human_level"]
    metric: str = Field(description="A metric of ml_lifecycle.metrics (accuracy, roc_auc, ...) or error_rate.")
    value: float
    source: str = Field(min_length=1, description="Where the figure comes from.")
    split: str = Field(min_length=1, description="What it was measured on, e.g. 'adult.test without unknowns'.")
    tag: str | None = Field(default=None, description="An error-analysis tag (evaluation.slices.tags) it holds for; "
                                                      "null: all rows.")

    @model_validator(mode="after")
    def _known_metric(self) -> ReferenceResult:
        if self.metric != ERROR_RATE and self.metric not in METRICS:
            raise ValueError(f"metric {self.metric!r} is not one of {sorted([*METRICS, ERROR_RATE])}")
        if self.tag is not None and self.metric not in (ERROR_RATE, "accuracy"):
            raise ValueError(f"a per-tag reference compares error rates: metric error_rate or accuracy, not {self.metric!r}")
        return self

    def error_rate(self) -> float:
        """Return the reference as an error rate (for error_rate and accuracy references)."""
        return self.value if self.metric == ERROR_RATE else 1 - self.value

    def comparable(self, measured: Mapping[str, float]) -> float | None:
        """Return a model's figure for this reference's metric from its `measured` metrics (error rate = 1 - accuracy);
        None for a per-tag reference (the slice table compares those) or a metric not measured."""
        if self.tag is not None:
            return None
        if self.metric == ERROR_RATE:
            return 1 - measured["accuracy"] if "accuracy" in measured else None
        return measured.get(self.metric)


class SplitPolicy(StrictModel):
    """How rows become train, validation and test; and the size below which data is small (balanced shares, repeated CV).

    The one home of the small-data rule: data processing applies it to the labelled rows it splits,
    model selection to the train split it cross-validates (docs/modeling.md, *Small data*).
    """

    test_share: float = Field(default=0.2, gt=0, lt=1, description="Used only without a test file.")
    validation_share: float = Field(default=0.2, gt=0, lt=1)
    drop_duplicate_rows: bool = False
    small_data_rows: int = Field(
        default=10_000, ge=0, description="Labelled rows (after row rules) below which the data is small; 0: never.")
    small_data_test_share: float = Field(
        default=0.2, gt=0, lt=1, description="Test share of small data, used only without a test file.")
    small_data_validation_share: float = Field(
        default=0.25, gt=0, lt=1, description="Validation share of small data's training rows (0.25 of 80%: 60/20/20).")

    def is_small(self, labelled_rows: int) -> bool:
        """Return whether a problem of `labelled_rows` labelled rows is small data."""
        return labelled_rows < self.small_data_rows

    def shares(self, labelled_rows: int) -> tuple[float, float]:
        """Return the test share (used without a test file) and validation share for `labelled_rows` labelled rows."""
        if self.is_small(labelled_rows):
            return self.small_data_test_share, self.small_data_validation_share
        return self.test_share, self.validation_share

    @property
    def small_train_rows(self) -> int:
        """The train-split rows the balanced split leaves of `small_data_rows` labelled rows: selection's size line."""
        return round(self.small_data_rows * (1 - self.small_data_test_share) * (1 - self.small_data_validation_share))

    def train_split_is_small(self, train_rows: int) -> bool:
        """Return whether a train split of `train_rows` rows comes from small data, as model selection sees it."""
        return train_rows < self.small_train_rows


class ProblemSpec(StrictModel):
    """The whole problem: data, target, features, slices, split and seed."""

    name: str = Field(default="problem", pattern=r"^[A-Za-z0-9_-]+$", description="Recorded in every bundle's manifest.")
    description: str | None = Field(default=None, description="What is predicted, for whom: opens the model card.")
    seed: int
    raw: RawSource
    target: Target
    numeric_features: list[str]
    categorical_features: list[str]
    dropped_columns: dict[str, str] = Field(
        default_factory=dict, description="Column -> why it is not a feature."
    )
    missing_values: dict[str, MissingPolicy] = Field(
        default_factory=dict, description="Per-column policy; others use the defaults."
    )
    default_missing_numeric: MissingPolicy = "flag_and_median"
    default_missing_categorical: MissingPolicy = "category"
    missing_category: str = "(missing)"
    protected_attributes: list[str] = Field(default_factory=list)
    banded_columns: dict[str, BandedColumn] = Field(default_factory=dict)
    slices: list[str] = Field(default_factory=list, description="Columns to slice metrics by.")
    split: SplitPolicy = SplitPolicy()
    decision_value: DecisionValue | None = Field(default=None, description="null: no value in money is reported.")
    reference_results: list[ReferenceResult] = Field(
        default_factory=list, description="Declared results to compare with: literature, older system, human level.")

    @field_validator("numeric_features", "categorical_features")
    @classmethod
    def _snake_case_names(cls, names: list[str]) -> list[str]:
        bad = [n for n in names if snake_case(n) != n]
        if bad:
            raise ValueError(f"feature names are snake_case after loading; got {bad}")
        return names

    @model_validator(mode="after")
    def _consistent(self) -> ProblemSpec:
        features = self.numeric_features + self.categorical_features
        if not features:
            raise ValueError("declare at least one feature")
        overlap = set(self.numeric_features) & set(self.categorical_features)
        if overlap:
            raise ValueError(f"columns both numeric and categorical: {sorted(overlap)}")
        if self.target_column in features:
            raise ValueError(f"target column {self.target_column!r} is also a feature")
        for band, rule in self.banded_columns.items():
            if rule.source_column not in self.numeric_features:
                raise ValueError(
                    f"banded_columns.{band}.source_column {rule.source_column!r} is not a numeric feature"
                )
        known = set(features) | set(self.banded_columns)
        for key in ("protected_attributes", "slices"):
            unknown = [c for c in getattr(self, key) if c not in known]
            if unknown:
                raise ValueError(
                    f"{key} names unknown columns {unknown}; known: features and banded_columns"
                )
        undeclared = [c for c in self.missing_values if c not in features]
        if undeclared:
            raise ValueError(f"missing_values names columns that are not features: {undeclared}")
        for column in self.numeric_features:
            if self.missing_policy(column) in ("category", "most_frequent"):
                raise ValueError(f"missing_values.{column}: numeric columns take median, mean or flag_and_median")
        for column in self.categorical_features:
            if self.missing_policy(column) not in ("category", "most_frequent"):
                raise ValueError(f"missing_values.{column}: categorical columns take category or most_frequent")
        return self

    @property
    def target_column(self) -> str:
        """The label column's name after loading (snake_case)."""
        return snake_case(self.target.column)

    @property
    def features(self) -> list[str]:
        """Every model input column, numeric first."""
        return self.numeric_features + self.categorical_features

    @property
    def slice_columns(self) -> list[str]:
        """Slice and protected-attribute columns, each once, in declaration order."""
        return list(dict.fromkeys(self.slices + self.protected_attributes))

    def missing_policy(self, column: str) -> MissingPolicy:
        """Return the declared missing-value policy for a feature column."""
        if column in self.missing_values:
            return self.missing_values[column]
        if column in self.numeric_features:
            return self.default_missing_numeric
        return self.default_missing_categorical

    def empty_rows(self) -> pd.DataFrame:
        """Return an empty frame with the spec's columns and dtypes, to check queries before any data is read."""
        columns = {c: pd.Series(dtype="float64") for c in self.numeric_features}
        columns |= {c: pd.Series(dtype="str") for c in self.categorical_features + list(self.banded_columns)}
        return pd.DataFrame(columns)

    def query_problem(self, query: str) -> str:
        """Return why a pandas query cannot select rows of the spec's columns ('' when it can)."""
        try:
            selected = self.empty_rows().eval(query)
        except Exception as error:  # pandas raises several types (UndefinedVariableError, SyntaxError, TypeError)
            return f"query {query!r} cannot be evaluated: {error}"
        if not pd.api.types.is_bool_dtype(selected):
            return f"query {query!r} does not give True/False per row"
        return ""

    def model_columns(self) -> list[str]:
        """Columns a fitted model receives: the features plus the missing flags the policy adds."""
        flags = [f"{c}_missing" for c in self.numeric_features if self.missing_policy(c) == "flag_and_median"]
        return self.features + flags
