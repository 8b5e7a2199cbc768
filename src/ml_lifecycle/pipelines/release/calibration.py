"""Release steps 1-2: a train-only twin, calibration and threshold chosen on the validation split, and the bundle
(with the twin's out-of-sample probabilities of monitoring's reference rows)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from ml_lifecycle import rows
from ml_lifecycle.artifacts import ChampionSelection, ThresholdChoice
from ml_lifecycle.bundle import ModelBundle, Recipe, ReferencePredictions
from ml_lifecycle.estimators import (
    CalibratedModel,
    ScoringModel,
    calibration_bound,
    model_scores,
    score_calibrator,
)
from ml_lifecycle.evaluation_config import EvaluationConfig
from ml_lifecycle.metrics import METRICS, expected_calibration_error
from ml_lifecycle.model_checks import (
    VALUE,
    best_threshold,
    chosen_calibration,
    describe_objective,
    labels,
    threshold_curve,
)
from ml_lifecycle.model_recipe import fit_blueprint
from ml_lifecycle.modeling_config import ModelingConfig
from ml_lifecycle.spec import ProblemSpec


def fit_holdout_twin(fitted_model: BaseEstimator, twin_rows: pd.DataFrame, selection: ChampionSelection,
                     tuned: dict[str, Any], config: ModelingConfig, spec: ProblemSpec) -> BaseEstimator:
    """Return a copy of the model that has not seen the validation split: the model itself when it has not.

    Calibration and threshold are chosen on the validation split from this twin's predictions.
    """
    if config.champion.refit_on == "train":
        return fitted_model
    return fit_blueprint(twin_rows, selection, tuned, config, spec)


def compare_calibrations(holdout_twin: BaseEstimator, validation_split: pd.DataFrame,
                         config: EvaluationConfig, spec: ProblemSpec) -> pd.DataFrame:
    """Return each calibration's cross-fitted validation log loss, Brier and ECE, and which one is kept.

    Scored on the champion's twin that has not seen the validation split (see `fit_holdout_twin`), and
    kept as far from 0 and 1 as the released calibrator will be (`calibration_bound`).
    """
    settings = config.calibration
    y = labels(validation_split, spec)
    bound = calibration_bound(len(y))
    raw = holdout_twin.predict_proba(validation_split)[:, 1]
    scores = model_scores(holdout_twin, validation_split).reshape(-1, 1)
    folds = StratifiedKFold(settings.folds, shuffle=True, random_state=spec.seed)
    held_out = {"none": raw}
    for method in settings.methods:
        fitted = cross_val_predict(score_calibrator(method), scores, y, cv=folds, method="predict_proba")[:, 1]
        held_out[method] = np.clip(fitted, bound, 1 - bound)
    table = pd.DataFrame([
        {"method": method, "log_loss": METRICS["log_loss"](y, p), "brier": METRICS["brier"](y, p),
         "ece": expected_calibration_error(y, p, settings.bins)}
        for method, p in held_out.items()
    ])
    metric = table.set_index("method")[settings.selection_metric]
    best = metric.drop("none").idxmin() if len(metric) > 1 else "none"
    chosen = best if metric[best] < metric["none"] - settings.min_improvement else "none"
    return table.assign(chosen=table["method"] == chosen)


def calibrate_model(fitted_model: BaseEstimator, holdout_twin: BaseEstimator, validation_split: pd.DataFrame,
                       calibration_comparison: pd.DataFrame, spec: ProblemSpec) -> tuple[BaseEstimator, BaseEstimator]:
    """Return the champion and its train-only twin with the chosen calibration (or unchanged).

    The calibrator learns from the twin's scores on the whole validation split and is applied to both.
    """
    method = chosen_calibration(calibration_comparison)
    if method == "none":
        return fitted_model, holdout_twin
    calibrator = score_calibrator(method).fit(model_scores(holdout_twin, validation_split).reshape(-1, 1),
                                              labels(validation_split, spec))
    bound = calibration_bound(len(validation_split))
    return (CalibratedModel(fitted_model, calibrator, method, bound), CalibratedModel(holdout_twin, calibrator, method, bound))


def choose_threshold(calibrated_holdout: BaseEstimator, validation_split: pd.DataFrame, calibration_comparison: pd.DataFrame,
                     config: EvaluationConfig, spec: ProblemSpec) -> tuple[pd.DataFrame, ThresholdChoice]:
    """Return the validation trade-off curve of the (calibrated) train-only twin and the threshold chosen on it."""
    settings = config.threshold
    curve = threshold_curve(labels(validation_split, spec), calibrated_holdout.predict_proba(validation_split)[:, 1], settings,
                            spec.decision_value)
    threshold = best_threshold(curve, settings)
    at = curve.set_index("threshold").loc[threshold]
    costs = settings.costs
    return curve, ThresholdChoice(
        threshold=threshold,
        objective=settings.objective,
        beta=settings.beta,
        costs=costs,
        calibration=chosen_calibration(calibration_comparison),
        validation_fbeta=float(at["fbeta"]),
        validation_expected_cost=float(at["expected_cost"]),
        validation_positive_rate=float(at["positive_rate"]),
        # For calibrated probabilities the cost-optimal threshold is c_fp / (c_fp + c_fn).
        cost_optimal_if_calibrated=costs.false_positive / max(costs.false_positive + costs.false_negative, 1e-12),
        validation_value_per_1000=float(at[VALUE]) if VALUE in at else None,
    )


def build_released_model(calibrated_model: BaseEstimator, threshold_choice: ThresholdChoice,
                         champion_selection: ChampionSelection) -> ScoringModel:
    """Return the deployable model: the (calibrated) champion with the chosen threshold stored with it."""
    description = (f"{champion_selection.champion}; calibration {threshold_choice.calibration}; "
                   f"threshold {threshold_choice.threshold:g} by {describe_objective(threshold_choice)}")
    return ScoringModel(model=calibrated_model, threshold=threshold_choice.threshold, description=description)


def predict_reference(calibrated_twin: BaseEstimator, monitoring_reference: pd.DataFrame, recipe: Recipe,
                      config: ModelingConfig, spec: ProblemSpec) -> ReferencePredictions:
    """Return the calibrated twin's probabilities of monitoring's reference rows (the validation split), in order.

    No twin is fitted on the validation split, so they are out of sample as production's are; the
    champion, when refitted on that split, would be surer of those rows than it can be of new ones.
    """
    source = ("champion itself, fitted without the validation split (refit_on: train)" if config.champion.refit_on == "train"
              else "holdout twin, fitted without the validation split the champion was refitted on")
    model_rows = rows.apply_missing_value_fills(monitoring_reference, recipe.fills, spec)  # as the bundle prepares them
    return ReferencePredictions.of(calibrated_twin.predict_proba(model_rows)[:, 1], monitoring_reference[spec.target_column],
                                   source)


def build_bundle(released_model: ScoringModel, threshold_choice: ThresholdChoice, recipe: Recipe,
                 reference_predictions: ReferencePredictions, config: EvaluationConfig) -> ModelBundle:
    """Return the self-contained bundle: recipe, calibrated model, threshold, abstain band and reference probabilities."""
    threshold, margin = threshold_choice.threshold, config.confidence.abstain_margin
    return ModelBundle(recipe=recipe, model=released_model,
                       abstain_band=(round(max(threshold - margin, 0.0), 6), round(min(threshold + margin, 1.0), 6)),
                       reference=reference_predictions)
