"""Offline evaluation of the released model: test metrics against the baselines, reliability, confidence, cost.

Calibration, threshold and the gate's checks come from the release steps; the test split is only scored.
"""

from __future__ import annotations

import pickle
import re
import time
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.calibration import calibration_curve

from ml_lifecycle.artifacts import ChampionSelection, ThresholdChoice
from ml_lifecycle.estimators import CalibratedModel, ScoringModel
from ml_lifecycle.evaluation_config import EvaluationConfig
from ml_lifecycle.evidently_glue import PREDICTION, PROBABILITY
from ml_lifecycle.metrics import (
    METRICS,
    bootstrap_interval,
    decision_metric,
    expected_calibration_error,
    expected_cost,
    probability_bins,
    score_all,
    threshold_metrics,
)
from ml_lifecycle.model_checks import (
    DECISION,
    RELEASED,
    UNCALIBRATED,
    VALUE,
    best_threshold,
    labels,
    probability_column,
    threshold_curve,
)
from ml_lifecycle.registry import ReleaseContext
from ml_lifecycle.spec import DecisionValue, ProblemSpec

RANKING_METRICS = ["roc_auc", "pr_auc", "log_loss", "brier"]
DECISION_METRICS = ["accuracy", "precision", "recall", "f1", "fbeta"]
REFERENCE_COLUMNS = ["reference", "kind", "metric", "declared", "measured_on", "source", "tag", "released_model_here", "status"]


def describe_release(champion_selection: ChampionSelection) -> ReleaseContext:
    """Return why evaluation releases the champion, for the registry's record."""
    return ReleaseContext(stage="released",
                          reason=f"evaluation: release of the champion {champion_selection.champion} "
                                 f"(CV {champion_selection.primary_metric} {champion_selection.cv_score:.4f})",
                          details={"refit_on": champion_selection.refit_on})


def _model_row(name: str, role: str, y: np.ndarray, proba: np.ndarray, threshold: float,
               config: EvaluationConfig, value: DecisionValue | None) -> dict[str, Any]:
    settings = config.threshold
    decisions = threshold_metrics(y, proba, threshold, settings.beta)
    row = {
        "model": name, "role": role, "threshold": threshold,
        **score_all(y, proba, RANKING_METRICS),
        "ece": expected_calibration_error(y, proba, config.calibration.bins),
        **decisions,
        "expected_cost": expected_cost(y, proba, threshold, settings.costs.false_positive, settings.costs.false_negative),
    }
    if value is not None:
        row[VALUE] = value.per_1000(decisions["tp"], decisions["fp"], decisions["fn"], decisions["tn"])
    return row


def score_test_split(released_model: ScoringModel, champion_model: BaseEstimator, holdout_twin: BaseEstimator,
                     baseline_models: dict[str, BaseEstimator], validation_split: pd.DataFrame, test_split: pd.DataFrame,
                     config: EvaluationConfig, spec: ProblemSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return test metrics of the released model, the uncalibrated champion and each baseline, and the test probabilities.

    Models other than the released one get their own threshold, chosen on the validation split
    (from the champion's train-only twin for the champion) by the same objective, so every
    decision metric compares like with like.
    """
    y_val, y_test = labels(validation_split, spec), labels(test_split, spec)
    others: dict[str, tuple[str, BaseEstimator, BaseEstimator]] = {
        name: ("baseline", model, model) for name, model in baseline_models.items()}
    if isinstance(released_model.model, CalibratedModel):
        others = {UNCALIBRATED: ("champion", champion_model, holdout_twin)} | others
    released_proba = released_model.predict_proba(test_split)[:, 1]
    predictions = pd.DataFrame({spec.target_column: y_test, probability_column(RELEASED): released_proba,
                                DECISION: (released_proba >= released_model.threshold).astype(int)}, index=test_split.index)
    value = spec.decision_value
    rows = [_model_row(RELEASED, RELEASED, y_test, released_proba, released_model.threshold, config, value)]
    for name, (role, model, validation_model) in others.items():
        validation_proba = validation_model.predict_proba(validation_split)[:, 1]
        threshold = best_threshold(threshold_curve(y_val, validation_proba, config.threshold, value), config.threshold)
        predictions[probability_column(name)] = model.predict_proba(test_split)[:, 1]
        rows.append(_model_row(name, role, y_test, predictions[probability_column(name)].to_numpy(), threshold, config, value))
    return pd.DataFrame(rows), predictions


def interval_test_metrics(test_predictions: pd.DataFrame, released_model: ScoringModel, config: EvaluationConfig,
                          spec: ProblemSpec) -> pd.DataFrame:
    """Return each headline test metric of the released model with its bootstrap confidence interval."""
    y, proba = test_predictions[spec.target_column].to_numpy(), test_predictions[probability_column(RELEASED)].to_numpy()
    settings = config.intervals
    statistics = {name: METRICS[name] for name in RANKING_METRICS}
    statistics |= {name: decision_metric(name, released_model.threshold, config.threshold.beta) for name in DECISION_METRICS}
    records = []
    for name, statistic in statistics.items():
        low, high = bootstrap_interval(y, proba, statistic, settings.confidence, settings.resamples, spec.seed)
        records.append({"metric": name, "value": statistic(y, proba), "low": low, "high": high,
                        "confidence": settings.confidence, "resamples": settings.resamples, "rows": len(y)})
    return pd.DataFrame(records)


def compare_with_references(test_metrics: pd.DataFrame, spec: ProblemSpec) -> pd.DataFrame:
    """Return each declared reference result (not measured here) beside the released model's measured figure for its metric."""
    released = test_metrics.set_index("model").loc[RELEASED].to_dict()
    records = [{"reference": reference.name, "kind": reference.kind, "metric": reference.metric, "declared": reference.value,
                "measured_on": reference.split, "source": reference.source, "tag": reference.tag,
                "released_model_here": reference.comparable(released), "status": "declared, not measured"}
               for reference in spec.reference_results]
    return pd.DataFrame(records, columns=REFERENCE_COLUMNS)


def reliability_table(test_predictions: pd.DataFrame, config: EvaluationConfig, spec: ProblemSpec) -> pd.DataFrame:
    """Return, per calibrated / uncalibrated model and probability bin, the mean probability and the observed rate on test."""
    y = test_predictions[spec.target_column].to_numpy()
    bins = config.calibration.bins
    frames = []
    for name in (RELEASED, UNCALIBRATED):
        column = probability_column(name)
        if column not in test_predictions:
            continue
        proba = test_predictions[column].to_numpy()
        observed, predicted = calibration_curve(y, proba, n_bins=bins, strategy="uniform")
        rows = np.bincount(probability_bins(proba, bins), minlength=bins)  # calibration_curve drops empty bins
        frames.append(pd.DataFrame({"model": name, "mean_probability": predicted, "observed_rate": observed,
                                    "rows": rows[rows > 0]}))
    return pd.concat(frames, ignore_index=True)


def analyse_confidence(test_predictions: pd.DataFrame, threshold_choice: ThresholdChoice, config: EvaluationConfig,
                       spec: ProblemSpec) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Return accuracy per probability bin on test, and the share and error rate of low-confidence predictions."""
    y = test_predictions[spec.target_column].to_numpy()
    proba = test_predictions[probability_column(RELEASED)].to_numpy()
    correct = test_predictions[DECISION].to_numpy() == y
    bins = config.confidence.bins
    table = (pd.DataFrame({"bin": probability_bins(proba, bins), "correct": correct, "positive": y})
             .groupby("bin").agg(rows=("correct", "size"), accuracy=("correct", "mean"), observed_rate=("positive", "mean"))
             .reindex(range(bins)).fillna({"rows": 0}).reset_index())
    table["share"] = table["rows"] / len(y)
    table["bin"] = [f"{i / bins:.2f}-{(i + 1) / bins:.2f}" for i in table["bin"]]
    margin, threshold = config.confidence.abstain_margin, threshold_choice.threshold
    low = np.abs(proba - threshold) < margin
    summary = {
        "abstain_band": [round(max(threshold - margin, 0.0), 6), round(min(threshold + margin, 1.0), 6)],
        "low_confidence_share": float(low.mean()),
        "low_confidence_error_rate": float((~correct[low]).mean()) if low.any() else None,
        "confident_error_rate": float((~correct[~low]).mean()) if (~low).any() else None,
        "overall_error_rate": float((~correct).mean()),
    }
    return table, summary









def slug(value: str) -> str:
    """Return a slice value as a safe file name: '<25' -> 'lt25', '65+' -> '65plus'."""
    text = str(value).replace("<", "lt").replace(">", "gt").replace("+", "plus")
    return re.sub(r"[^0-9A-Za-z.-]+", "_", text).strip("_") or "blank"


def evidently_rows(test_split: pd.DataFrame, test_predictions: pd.DataFrame) -> pd.DataFrame:
    """Return the test rows with the released model's probability and decision under Evidently's column names."""
    return test_split.assign(**{PROBABILITY: test_predictions[probability_column(RELEASED)],
                                PREDICTION: test_predictions[DECISION]})


def measure_serving_cost(released_model: ScoringModel, test_split: pd.DataFrame, leaderboard: pd.DataFrame,
                         champion_selection: ChampionSelection, config: EvaluationConfig) -> dict[str, Any]:
    """Return the released model's predict latency (batch and single row), pickled size, and the champion's CV fit time."""
    batch = test_split.iloc[: config.timing_rows]
    batch_seconds, row_seconds = [], []
    for _ in range(3):
        start = time.perf_counter()
        released_model.predict_proba(batch)
        batch_seconds.append(time.perf_counter() - start)
    for index in range(min(20, len(test_split))):
        start = time.perf_counter()
        released_model.predict_proba(test_split.iloc[[index]])
        row_seconds.append(time.perf_counter() - start)
    champion = leaderboard.set_index("model").loc[champion_selection.champion]
    return {
        "predict_ms_per_1000_rows": float(np.median(batch_seconds) * 1e6 / len(batch)),
        "single_row_predict_ms": float(np.median(row_seconds) * 1000),
        "size_bytes": len(pickle.dumps(released_model)),
        "cv_fit_seconds_per_fold": float(champion["fit_seconds"]),
    }
