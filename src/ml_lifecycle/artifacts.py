"""Typed artifacts passed between pipelines: what modeling selected and where a release put its threshold.

Saved as JSON (`ml_lifecycle.files.TypedJSONDataset`) and validated back on load, so a misspelt
key is an error where it is read, not a silent `None`.
"""

from __future__ import annotations

from typing import Literal

from ml_lifecycle.evaluation_config import Costs
from ml_lifecycle.spec import StrictModel


class FeatureSubset(StrictModel):
    """The features a champion is fitted on when `modeling.feature_selection.apply` chooses a subset, with its CV effect."""

    method: str
    kept: list[str]
    dropped: list[str]
    cv_score_all_features: float
    cv_score_kept_features: float


class ChampionSelection(StrictModel):
    """Modeling's choice: the champion, the runner-up, and why each other model was not chosen."""

    champion: str
    role: str
    ensemble_members: list[str]
    runner_up: str | None
    primary_metric: str
    cv_score: float
    refit_on: Literal["train", "train_and_validation"]
    no_candidate_qualified: bool
    not_chosen: dict[str, str]
    # None: every feature. Part of the recipe, so every refit (twin, challenger) keeps the subset.
    feature_subset: FeatureSubset | None = None


class ThresholdChoice(StrictModel):
    """A release's decision threshold, chosen on the validation split, and what it achieves there."""

    threshold: float
    objective: Literal["max_fbeta", "min_expected_cost", "max_expected_value"]
    beta: float
    costs: Costs
    calibration: str
    validation_fbeta: float
    validation_expected_cost: float
    validation_positive_rate: float
    cost_optimal_if_calibrated: float
    validation_value_per_1000: float | None = None  # with problem.decision_value, in its currency
