"""A small synthetic problem for the evaluation tests: known signal, a protected group, and an optional planted leak."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ml_lifecycle.artifacts import ChampionSelection, ThresholdChoice
from ml_lifecycle.evaluation_config import Costs, EvaluationConfig
from ml_lifecycle.spec import ProblemSpec

PROBLEM: dict[str, Any] = {
    "seed": 0,
    "raw": {"folder": "raw", "train_file": "train.csv"},
    "target": {"column": "label", "positive_label": "1", "negative_label": "0"},
    "numeric_features": ["signal", "noise"],
    "categorical_features": ["group"],
    "default_missing_numeric": "median",
    "protected_attributes": ["group"],
    "slices": ["group"],
}

EVALUATION: dict[str, Any] = {
    "importance": {"permutation_repeats": 2, "permutation_rows": 400},
    "slices": {"tags": {"strong_signal": "signal > 1"}, "min_size": 20},
    "behaviour": {
        "rows": 400,
        "directional": [{"feature": "signal", "change": 1.0, "expect": "not_lower"}],
        "invariance": [{"attribute": "group", "max_changed_share": 0.05}],
    },
    "model_card": {"intended_use": "Testing.", "out_of_scope": "anything real."},
}


def spec(leak: bool = False) -> ProblemSpec:
    """Return the synthetic spec; with `leak`, a numeric feature `label_copy` that is the target itself."""
    numeric = PROBLEM["numeric_features"] + (["label_copy"] if leak else [])
    return ProblemSpec.model_validate(PROBLEM | {"numeric_features": numeric})


def evaluation_config(**changes: Any) -> EvaluationConfig:
    """Return the synthetic evaluation config with top-level `changes`."""
    return EvaluationConfig.model_validate(EVALUATION | changes)


def rows(n: int, seed: int, leak: bool = False) -> pd.DataFrame:
    """Return `n` rows: the label follows `signal` (plus noise); `noise` and `group` carry nothing."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    label = (signal + rng.normal(scale=0.8, size=n) > 0.6).astype("int8")
    frame = pd.DataFrame({
        "signal": signal,
        "noise": rng.normal(size=n),
        "group": pd.array(rng.choice(["a", "b"], size=n), dtype="str"),
        "label": label,
    })
    if leak:
        frame.insert(2, "label_copy", label.astype(float))
    return frame


def selection(champion: str, members: list[str] | None = None, refit_on: str = "train") -> ChampionSelection:
    """Return a champion selection of `champion` (an ensemble of `members` when given)."""
    return ChampionSelection(champion=champion, role="candidate", ensemble_members=members or [], runner_up=None,
                             primary_metric="log_loss", cv_score=0.5, refit_on=refit_on, no_candidate_qualified=False,
                             not_chosen={})


def threshold_choice(threshold: float) -> ThresholdChoice:
    """Return a threshold choice at `threshold` (maximum F1, no calibration)."""
    return ThresholdChoice(threshold=threshold, objective="max_fbeta", beta=1.0, costs=Costs(), calibration="none",
                           validation_fbeta=0.5, validation_expected_cost=0.5, validation_positive_rate=0.5,
                           cost_optimal_if_calibrated=0.5)
