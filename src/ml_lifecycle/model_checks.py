"""Checks of a fitted model on labelled rows, shared by the release gate and the evaluation report.

Thresholds (the trade-off curve and the best point on it), importances and the leak signal,
slice tables and tags: the release pipeline computes them to judge a candidate, and evaluation
reads the same outputs to report them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.metrics import roc_auc_score

from ml_lifecycle.artifacts import ThresholdChoice
from ml_lifecycle.evaluation_config import EvaluationConfig, ThresholdConfig
from ml_lifecycle.metrics import METRICS, decision_curve, threshold_metrics
from ml_lifecycle.spec import DecisionValue, ProblemSpec

RELEASED = "released"
UNCALIBRATED = "champion_uncalibrated"
DECISION = "decision"
VALUE = "value_per_1000"  # money per 1,000 decisions, in problem.decision_value's currency
# Each threshold objective: the curve column it optimises and whether higher is better.
OBJECTIVE_COLUMNS = {"max_fbeta": ("fbeta", True), "min_expected_cost": ("expected_cost", False),
                     "max_expected_value": (VALUE, True)}
SLICE_COLUMNS = ["slice_column", "slice_value", "rows", "share_of_data", "errors", "error_rate", "share_of_errors",
                 "gap_to_overall", "room_for_improvement", "measured_against", "precision", "recall", "roc_auc", "selection_rate", "positive_rate",
                 "false_positive_rate", "too_small", "priority", "rank"]


def probability_column(model_name: str) -> str:
    """Return the test-predictions column holding a model's positive-class probability."""
    return f"proba_{model_name}"


def labels(rows: pd.DataFrame, spec: ProblemSpec) -> np.ndarray:
    return rows[spec.target_column].to_numpy(dtype=int)


def threshold_curve(y_true: np.ndarray, proba: np.ndarray, settings: ThresholdConfig,
                    value: DecisionValue | None = None) -> pd.DataFrame:
    """Return precision, recall, F-beta, positive rate, expected cost and (with a decision value) the value per 1,000
    decisions at every candidate threshold."""
    curve = pd.DataFrame(decision_curve(y_true, proba, settings.grid(), settings.beta, settings.costs.false_positive,
                                        settings.costs.false_negative))
    columns = ["threshold", "precision", "recall", "fbeta", "positive_rate", "expected_cost"]
    if value is not None:
        curve[VALUE] = value.per_1000(curve["tp"], curve["fp"], curve["fn"], curve["tn"])
        columns.append(VALUE)
    return curve[columns]


def best_threshold(curve: pd.DataFrame, settings: ThresholdConfig) -> float:
    """Return the curve's threshold that is best for the objective (the lowest one on ties)."""
    column, highest = OBJECTIVE_COLUMNS[settings.objective]
    best = curve[column].idxmax() if highest else curve[column].idxmin()
    return float(curve.loc[best, "threshold"])


def describe_objective(choice: ThresholdChoice) -> str:
    """Return the threshold objective in words, e.g. 'maximum F-beta (beta 1.0)'."""
    if choice.objective == "max_fbeta":
        return f"maximum F-beta (beta {choice.beta:g}) on the validation split"
    if choice.objective == "max_expected_value":
        return "maximum value per decision (problem.decision_value) on the validation split"
    costs = choice.costs
    return (f"minimum expected cost (false positive {costs.false_positive:g}, "
            f"false negative {costs.false_negative:g}) on the validation split")


def chosen_calibration(calibration_comparison: pd.DataFrame) -> str:
    """Return the calibration method marked as chosen ('none' for no calibration)."""
    return str(calibration_comparison.loc[calibration_comparison["chosen"], "method"].iloc[0])


def native_importances(model: BaseEstimator) -> pd.DataFrame:
    """Return the model's own importances per input column: CatBoost's, or a tree model's, for each member that has them."""
    members = getattr(model, "fitted_members_", None) or [("champion", model)]
    frames = []
    for name, member in members:
        estimator = member[-1] if hasattr(member, "steps") else member
        if hasattr(estimator, "get_feature_importance"):  # CatBoost: PredictionValuesChange, sums to 100
            values = estimator.get_feature_importance()
        elif hasattr(estimator, "feature_importances_"):
            values = estimator.feature_importances_
        else:
            continue
        columns = member[:-1].get_feature_names_out() if hasattr(member, "steps") else estimator.feature_names_in_
        frames.append(pd.DataFrame({"member": name, "feature": list(columns), "importance": values}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["member", "feature", "importance"])


def share(importance: pd.Series) -> pd.Series:
    """Return each positive importance as a share of their sum (negative ones count as 0)."""
    positive = importance.clip(lower=0)
    return positive / positive.sum() if positive.sum() > 0 else positive


def single_feature_auc(fit_rows: pd.DataFrame, test_split: pd.DataFrame, spec: ProblemSpec) -> pd.Series:
    """Return max(AUC, 1 - AUC) of each model column alone on test; categories scored by their rate in `fit_rows`."""
    y_fit, y_test = fit_rows[spec.target_column], labels(test_split, spec)
    scores = {}
    for column in spec.model_columns():
        if column in spec.categorical_features:
            rates = y_fit.groupby(fit_rows[column], observed=True).mean()
            values = test_split[column].map(rates).astype(float).fillna(y_fit.mean())
        else:
            values = test_split[column].astype(float)
        auc = roc_auc_score(y_test, values) if len(np.unique(y_test)) == 2 else 0.5
        scores[column] = max(auc, 1 - auc)
    return pd.Series(scores, name="single_feature_auc")


def tag_columns(rows: pd.DataFrame, config: EvaluationConfig) -> pd.DataFrame:
    """Return one 'yes'/'no' column per declared tag: whether its query selects the row."""
    return pd.DataFrame({name: np.where(rows.eval(query).to_numpy(dtype=bool), "yes", "no")
                         for name, query in config.slices.tags.items()}, index=rows.index)


def rate(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")


def slice_table(y: np.ndarray, proba: np.ndarray, decision: np.ndarray, groups: pd.DataFrame, min_size: int,
                human_error_rates: dict[str, float] | None = None) -> pd.DataFrame:
    """Return the error analysis and metrics of every value of every column in `groups`, ranked by priority.

    priority = max(room for improvement, 0) x share of data: how much better it could be times how
    often it matters. Room for improvement is the error rate less the human-level error rate declared
    for a tag (`human_error_rates`, for its 'yes' slice), else less the overall error rate; the table
    says which. Slices under `min_size` rows are kept, marked too small, and not ranked.
    """
    errors = decision != y
    overall = errors.mean()
    human = human_error_rates or {}
    records = []
    for column in groups.columns:
        for value, index in groups.groupby(column, observed=True).indices.items():
            counts = threshold_metrics(y[index], decision[index], 0.5)
            rows = len(index)
            declared = human.get(column) if str(value) == "yes" else None
            error_rate = errors[index].mean()
            records.append({
                "slice_column": column, "slice_value": str(value), "rows": rows, "share_of_data": rows / len(y),
                "errors": int(errors[index].sum()), "error_rate": error_rate,
                "share_of_errors": rate(errors[index].sum(), errors.sum()), "gap_to_overall": error_rate - overall,
                "room_for_improvement": error_rate - (overall if declared is None else declared),
                "measured_against": "overall error rate" if declared is None else f"human-level error rate {declared:g}",
                "precision": rate(counts["tp"], counts["tp"] + counts["fp"]), "recall": rate(counts["tp"], counts["tp"] + counts["fn"]),
                "roc_auc": METRICS["roc_auc"](y[index], proba[index]),
                "selection_rate": (counts["tp"] + counts["fp"]) / rows, "positive_rate": y[index].mean(),
                "false_positive_rate": rate(counts["fp"], counts["fp"] + counts["tn"]),
                "too_small": rows < min_size,
            })
    table = pd.DataFrame(records, columns=SLICE_COLUMNS[:-2])
    table["priority"] = table["room_for_improvement"].clip(lower=0) * table["share_of_data"]
    table = table.sort_values(["too_small", "priority"], ascending=[True, False], ignore_index=True)
    table["rank"] = pd.Series(range(1, len(table) + 1), dtype="Int64").where(~table["too_small"])
    return table
