"""Typed evaluation configuration (`parameters_evaluation.yml` in conf/base and the problem's folder, key `evaluation`).

Kedro validates this model on its own before a run. The fields that name columns of the
problem (slice columns, tag queries, behavioural features) are checked against the spec by
`check_against`, which the project's `CheckConfigsAgainstSpecHook` calls before any node runs.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from ml_lifecycle.spec import ProblemSpec, StrictModel


class Costs(StrictModel):
    """What one wrong decision costs, in any unit (only the ratio matters)."""

    false_positive: float = Field(default=1.0, ge=0)
    false_negative: float = Field(default=1.0, ge=0)


class ThresholdConfig(StrictModel):
    """How the decision threshold is chosen on the validation split."""

    objective: Literal["max_fbeta", "min_expected_cost", "max_expected_value"] = Field(
        default="max_fbeta", description="max_expected_value: the most money per decision (needs problem.decision_value).")
    beta: float = Field(default=1.0, gt=0, description="F-beta's beta: >1 favours recall, <1 precision.")
    costs: Costs = Costs()
    candidates: int = Field(default=99, ge=1, description="Evenly spaced thresholds strictly between 0 and 1.")

    @model_validator(mode="after")
    def _costs_matter(self) -> ThresholdConfig:
        if self.objective == "min_expected_cost" and self.costs.false_positive + self.costs.false_negative == 0:
            raise ValueError("min_expected_cost needs a positive false_positive or false_negative cost")
        return self

    def grid(self) -> np.ndarray:
        """Return the candidate thresholds: 0.01 ... 0.99 for 99 candidates."""
        return np.round(np.linspace(0, 1, self.candidates + 2)[1:-1], 6)


class CalibrationConfig(StrictModel):
    """Which calibrations to try on the validation split and how to judge them."""

    methods: list[Literal["isotonic", "sigmoid", "temperature"]] = Field(default_factory=lambda: ["isotonic", "sigmoid"])
    selection_metric: Literal["log_loss", "brier"] = "log_loss"
    folds: int = Field(default=5, ge=2, description="Cross-fitting folds on the validation split.")
    min_improvement: float = Field(default=0.0, ge=0, description="A method must beat 'none' by more than this.")
    bins: int = Field(default=10, ge=2, description="Bins of the reliability diagram and ECE.")


class ConfidenceConfig(StrictModel):
    """Confidence analysis: probability bins and the low-confidence (abstain) band."""

    bins: int = Field(default=10, ge=2)
    abstain_margin: float = Field(
        default=0.1, gt=0, lt=0.5, description="Predictions within this distance of the threshold are low-confidence."
    )


class ImportanceConfig(StrictModel):
    """Permutation importance on the test split, bounded so the run stays fast."""

    permutation_repeats: int = Field(default=3, ge=1)
    permutation_rows: int = Field(default=4000, ge=50, description="Seeded sample of test rows.")
    scoring: Literal["roc_auc", "neg_log_loss"] = "roc_auc"


class LeakCheckConfig(StrictModel):
    """What a leak looks like: one feature that alone almost separates the classes, or alone does what the whole model does.

    An honest strong predictor (a large share of the importance, a single-feature ROC AUC well
    below the model's) is not flagged: importance shares are reported, not judged.
    """

    max_single_feature_auc: float = Field(default=0.95, gt=0.5, le=1, description="Alone, the feature almost separates the classes.")
    close_to_model_auc: float = Field(default=0.005, ge=0, description="Alone, within this of the model's ROC AUC...")
    min_suspicious_auc: float = Field(default=0.9, gt=0.5, le=1, description="...while reaching at least this ROC AUC.")


class SliceConfig(StrictModel):
    """Slices beyond the spec's slice columns, minimum slice size and the fairness gap limit."""

    extra_columns: list[str] = Field(default_factory=list, description="Sliced on top of problem.slices.")
    tags: dict[str, str] = Field(default_factory=dict, description="Tag name -> pandas query selecting its rows.")
    min_size: int = Field(default=50, ge=1, description="Smaller slices are marked too small (not hidden).")
    max_fairness_gap: float = Field(default=0.1, ge=0, le=1)


class DirectionalExpectation(StrictModel):
    """Raising `feature` by `change` must not move the mean predicted probability the wrong way."""

    feature: str
    change: float
    expect: Literal["not_lower", "not_higher"]
    tolerance: float = Field(default=0.0, ge=0, description="Allowed move the wrong way, in probability.")

    @field_validator("change")
    @classmethod
    def _nonzero(cls, change: float) -> float:
        if change == 0:
            raise ValueError("change must be non-zero")
        return change


# A protected attribute the model reads may flip at most this share of decisions when it alone changes.
DEFAULT_MAX_CHANGED_SHARE = 0.05


class InvarianceExpectation(StrictModel):
    """Setting `attribute` to another value may change at most this share of decisions."""

    attribute: str
    max_changed_share: float = Field(ge=0, le=1)


class BehaviourConfig(StrictModel):
    """Behavioural tests of the released model."""

    rows: int = Field(default=5000, ge=10, description="Seeded sample of test rows the tests perturb.")
    directional: list[DirectionalExpectation] = Field(default_factory=list)
    invariance: list[InvarianceExpectation] | None = Field(
        default=None, description="null: every categorical protected attribute, at DEFAULT_MAX_CHANGED_SHARE."
    )

    def invariance_tests(self, spec: ProblemSpec) -> list[InvarianceExpectation]:
        """Return the declared invariance tests, or one per categorical protected attribute when none are declared."""
        if self.invariance is not None:
            return self.invariance
        return [InvarianceExpectation(attribute=column, max_changed_share=DEFAULT_MAX_CHANGED_SHARE)
                for column in spec.protected_attributes if column in spec.categorical_features]


class ModelCardConfig(StrictModel):
    """What the model card says that data cannot: its intended use and the limits known beforehand."""

    intended_use: str | None = Field(default=None, description="null: the card says it is not stated.")
    out_of_scope: str | None = None
    known_limits: list[str] = Field(default_factory=list)


class IntervalConfig(StrictModel):
    """Bootstrap confidence intervals of the released model's test metrics (percentile method, rows resampled)."""

    confidence: float = Field(default=0.95, gt=0, lt=1)
    resamples: int = Field(default=1000, ge=100, description="Bootstrap resamples of the test rows.")


class EvaluationConfig(StrictModel):
    """Threshold, calibration, confidence, importance, leak, slice and behavioural settings."""

    threshold: ThresholdConfig = ThresholdConfig()
    calibration: CalibrationConfig = CalibrationConfig()
    confidence: ConfidenceConfig = ConfidenceConfig()
    intervals: IntervalConfig = IntervalConfig()
    importance: ImportanceConfig = ImportanceConfig()
    leak_check: LeakCheckConfig = LeakCheckConfig()
    slices: SliceConfig = SliceConfig()
    behaviour: BehaviourConfig = BehaviourConfig()
    evidently_slice_columns: list[str] | None = Field(
        default=None, description="Columns with one Evidently report per value; null: every slice column."
    )
    timing_rows: int = Field(default=1000, gt=0, description="Rows per batch-latency measurement.")
    model_card: ModelCardConfig = ModelCardConfig()

    def slice_columns(self, spec: ProblemSpec) -> list[str]:
        """Return every column sliced: the spec's slice columns, then the extra ones, each once."""
        return list(dict.fromkeys(spec.slice_columns + self.slices.extra_columns))

    def problems_against(self, spec: ProblemSpec) -> list[str]:
        """Return every setting that names a column the spec lacks or a query that cannot run, as `key: why`."""
        known = spec.features + list(spec.banded_columns)
        problems = [f"slices.extra_columns: {c!r} is not a feature or banded column" for c in self.slices.extra_columns
                    if c not in known]
        problems += [f"slices.tags.{name}: {error}" for name, query in self.slices.tags.items()
                     if (error := spec.query_problem(query))]
        clashes = sorted(set(self.slices.tags) & set(known + [spec.target_column]))
        problems += [f"slices.tags.{name}: a tag may not reuse a column name" for name in clashes]
        problems += [f"problem.reference_results[{i}].tag: {r.tag!r} is not a declared tag (slices.tags)"
                     for i, r in enumerate(spec.reference_results) if r.tag is not None and r.tag not in self.slices.tags]
        if self.threshold.objective == "max_expected_value" and spec.decision_value is None:
            problems.append("threshold.objective: max_expected_value needs problem.decision_value (the value of each "
                            "decision type in money)")
        problems += [f"behaviour.directional: {e.feature!r} is not a numeric feature" for e in self.behaviour.directional
                     if e.feature not in spec.numeric_features]
        problems += [f"behaviour.invariance: {e.attribute!r} is not a categorical feature (the model must read it)"
                     for e in self.behaviour.invariance or [] if e.attribute not in spec.categorical_features]
        sliced = self.slice_columns(spec)
        problems += [f"evidently_slice_columns: {c!r} is not a slice column ({sliced})"
                     for c in self.evidently_slice_columns or [] if c not in sliced]
        return [f"evaluation.{problem}" for problem in problems]

    def check_against(self, spec: ProblemSpec) -> None:
        """Raise naming the key when a setting names a column the problem spec does not have."""
        problems = self.problems_against(spec)
        if problems:
            raise ValueError("params:evaluation does not fit params:problem:\n- " + "\n- ".join(problems)
                             + f"\nknown columns: {spec.features + list(spec.banded_columns)}")
