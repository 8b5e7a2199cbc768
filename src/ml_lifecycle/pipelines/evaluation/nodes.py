"""Offline evaluation: calibration, threshold, test metrics, confidence, importance and leaks, slices, behaviour.

Calibration and threshold are chosen on the validation split; the test split is only scored.
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
from sklearn.inspection import permutation_importance
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from ml_lifecycle.estimators import (
    CalibratedModel,
    ScoringModel,
    model_scores,
    score_calibrator,
)
from ml_lifecycle.evidently_glue import PREDICTION, PROBABILITY
from ml_lifecycle.metrics import (
    METRICS,
    decision_curve,
    expected_calibration_error,
    expected_cost,
    probability_bins,
    score_all,
    threshold_metrics,
)
from ml_lifecycle.pipelines.evaluation.config import EvaluationConfig, ThresholdConfig
from ml_lifecycle.pipelines.modeling.config import ModelingConfig

# The modeling pipeline's builder: baselines are refitted exactly as modeling fitted them (seeded).
from ml_lifecycle.pipelines.modeling.nodes import configured_model
from ml_lifecycle.spec import ProblemSpec

RELEASED = "released"
UNCALIBRATED = "champion_uncalibrated"
DECISION = "decision"
RANKING_METRICS = ["roc_auc", "pr_auc", "log_loss", "brier"]
SLICE_COLUMNS = ["slice_column", "slice_value", "rows", "share_of_data", "errors", "error_rate", "share_of_errors",
                 "gap_to_overall", "precision", "recall", "roc_auc", "selection_rate", "positive_rate",
                 "false_positive_rate", "too_small", "priority", "rank"]
FAIRNESS_COLUMNS = ["slice_column", "groups_compared", "groups_too_small", "demographic_parity_difference",
                    "true_positive_rate_difference", "false_positive_rate_difference", "base_rate_difference",
                    "largest_gap", "largest_gap_metric", "exceeds_limit"]


def probability_column(model_name: str) -> str:
    """Return the test-predictions column holding a model's positive-class probability."""
    return f"proba_{model_name}"


def _labels(rows: pd.DataFrame, spec: ProblemSpec) -> np.ndarray:
    return rows[spec.target_column].to_numpy(dtype=int)


def fit_baselines(train_split: pd.DataFrame, modeling: ModelingConfig, spec: ProblemSpec) -> dict[str, BaseEstimator]:
    """Return every declared baseline refitted on the whole train split, as modeling builds it."""
    y = train_split[spec.target_column]
    return {name: configured_model(config, spec).fit(train_split, y) for name, config in modeling.baselines.items()}


def compare_calibrations(holdout_champion: BaseEstimator, validation_split: pd.DataFrame,
                         config: EvaluationConfig, spec: ProblemSpec) -> pd.DataFrame:
    """Return each calibration's cross-fitted validation log loss, Brier and ECE, and which one is kept.

    Scored on the champion's twin that has not seen the validation split (see `fit_holdout_twin`).
    """
    settings = config.calibration
    y = _labels(validation_split, spec)
    raw = holdout_champion.predict_proba(validation_split)[:, 1]
    scores = model_scores(holdout_champion, validation_split).reshape(-1, 1)
    folds = StratifiedKFold(settings.folds, shuffle=True, random_state=spec.seed)
    held_out = {"none": raw}
    for method in settings.methods:
        held_out[method] = cross_val_predict(score_calibrator(method), scores, y, cv=folds, method="predict_proba")[:, 1]
    table = pd.DataFrame([
        {"method": method, "log_loss": METRICS["log_loss"](y, p), "brier": METRICS["brier"](y, p),
         "ece": expected_calibration_error(y, p, settings.bins)}
        for method, p in held_out.items()
    ])
    metric = table.set_index("method")[settings.selection_metric]
    best = metric.drop("none").idxmin() if len(metric) > 1 else "none"
    chosen = best if metric[best] < metric["none"] - settings.min_improvement else "none"
    return table.assign(chosen=table["method"] == chosen)


def chosen_calibration(calibration_comparison: pd.DataFrame) -> str:
    """Return the calibration method marked as chosen ('none' for no calibration)."""
    return str(calibration_comparison.loc[calibration_comparison["chosen"], "method"].iloc[0])


def calibrate_champion(champion_model: BaseEstimator, holdout_champion: BaseEstimator, validation_split: pd.DataFrame,
                       calibration_comparison: pd.DataFrame, spec: ProblemSpec) -> tuple[BaseEstimator, BaseEstimator]:
    """Return the champion and its train-only twin with the chosen calibration (or unchanged).

    The calibrator learns from the twin's scores on the whole validation split and is applied to both.
    """
    method = chosen_calibration(calibration_comparison)
    if method == "none":
        return champion_model, holdout_champion
    calibrator = score_calibrator(method).fit(model_scores(holdout_champion, validation_split).reshape(-1, 1),
                                              _labels(validation_split, spec))
    return (CalibratedModel(champion_model, calibrator, method), CalibratedModel(holdout_champion, calibrator, method))


def threshold_curve(y_true: np.ndarray, proba: np.ndarray, settings: ThresholdConfig) -> pd.DataFrame:
    """Return precision, recall, F-beta, positive rate and expected cost at every candidate threshold."""
    curve = decision_curve(y_true, proba, settings.grid(), settings.beta, settings.costs.false_positive,
                           settings.costs.false_negative)
    return pd.DataFrame(curve)[["threshold", "precision", "recall", "fbeta", "positive_rate", "expected_cost"]]


def best_threshold(curve: pd.DataFrame, settings: ThresholdConfig) -> float:
    """Return the curve's threshold that is best for the objective (the lowest one on ties)."""
    best = curve["fbeta"].idxmax() if settings.objective == "max_fbeta" else curve["expected_cost"].idxmin()
    return float(curve.loc[best, "threshold"])


def choose_threshold(calibrated_holdout: BaseEstimator, validation_split: pd.DataFrame, calibration_comparison: pd.DataFrame,
                     config: EvaluationConfig, spec: ProblemSpec) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Return the validation trade-off curve of the (calibrated) train-only twin and the threshold chosen on it."""
    settings = config.threshold
    curve = threshold_curve(_labels(validation_split, spec), calibrated_holdout.predict_proba(validation_split)[:, 1], settings)
    threshold = best_threshold(curve, settings)
    at = curve.set_index("threshold").loc[threshold]
    costs = settings.costs
    return curve, {
        "threshold": threshold,
        "objective": settings.objective,
        "beta": settings.beta,
        "costs": costs.model_dump(),
        "calibration": chosen_calibration(calibration_comparison),
        "validation_fbeta": float(at["fbeta"]),
        "validation_expected_cost": float(at["expected_cost"]),
        "validation_positive_rate": float(at["positive_rate"]),
        # For calibrated probabilities the cost-optimal threshold is c_fp / (c_fp + c_fn).
        "cost_optimal_if_calibrated": costs.false_positive / max(costs.false_positive + costs.false_negative, 1e-12),
    }


def describe_objective(choice: dict[str, Any]) -> str:
    """Return the threshold objective in words, e.g. 'maximum F-beta (beta 1.0)'."""
    if choice["objective"] == "max_fbeta":
        return f"maximum F-beta (beta {choice['beta']:g}) on the validation split"
    costs = choice["costs"]
    return (f"minimum expected cost (false positive {costs['false_positive']:g}, "
            f"false negative {costs['false_negative']:g}) on the validation split")


def build_released_model(calibrated_model: BaseEstimator, threshold_choice: dict[str, Any],
                         champion_selection: dict[str, Any]) -> ScoringModel:
    """Return the deployable model: the (calibrated) champion with the chosen threshold stored with it."""
    description = (f"{champion_selection['champion']}; calibration {threshold_choice['calibration']}; "
                   f"threshold {threshold_choice['threshold']:g} by {describe_objective(threshold_choice)}")
    return ScoringModel(model=calibrated_model, threshold=threshold_choice["threshold"], description=description)


def _model_row(name: str, role: str, y: np.ndarray, proba: np.ndarray, threshold: float,
               config: EvaluationConfig) -> dict[str, Any]:
    settings = config.threshold
    return {
        "model": name, "role": role, "threshold": threshold,
        **score_all(y, proba, RANKING_METRICS),
        "ece": expected_calibration_error(y, proba, config.calibration.bins),
        **threshold_metrics(y, proba, threshold, settings.beta),
        "expected_cost": expected_cost(y, proba, threshold, settings.costs.false_positive, settings.costs.false_negative),
    }


def score_test_split(released_model: ScoringModel, champion_model: BaseEstimator, holdout_champion: BaseEstimator,
                     baseline_models: dict[str, BaseEstimator], validation_split: pd.DataFrame, test_split: pd.DataFrame,
                     config: EvaluationConfig, spec: ProblemSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return test metrics of the released model, the uncalibrated champion and each baseline, and the test probabilities.

    Models other than the released one get their own threshold, chosen on the validation split
    (from the champion's train-only twin for the champion) by the same objective, so every
    decision metric compares like with like.
    """
    y_val, y_test = _labels(validation_split, spec), _labels(test_split, spec)
    others: dict[str, tuple[str, BaseEstimator, BaseEstimator]] = {
        name: ("baseline", model, model) for name, model in baseline_models.items()}
    if isinstance(released_model.model, CalibratedModel):
        others = {UNCALIBRATED: ("champion", champion_model, holdout_champion)} | others
    released_proba = released_model.predict_proba(test_split)[:, 1]
    predictions = pd.DataFrame({spec.target_column: y_test, probability_column(RELEASED): released_proba,
                                DECISION: (released_proba >= released_model.threshold).astype(int)}, index=test_split.index)
    rows = [_model_row(RELEASED, RELEASED, y_test, released_proba, released_model.threshold, config)]
    for name, (role, model, validation_model) in others.items():
        validation_proba = validation_model.predict_proba(validation_split)[:, 1]
        threshold = best_threshold(threshold_curve(y_val, validation_proba, config.threshold), config.threshold)
        predictions[probability_column(name)] = model.predict_proba(test_split)[:, 1]
        rows.append(_model_row(name, role, y_test, predictions[probability_column(name)].to_numpy(), threshold, config))
    return pd.DataFrame(rows), predictions


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


def analyse_confidence(test_predictions: pd.DataFrame, threshold_choice: dict[str, Any], config: EvaluationConfig,
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
    margin, threshold = config.confidence.abstain_margin, threshold_choice["threshold"]
    low = np.abs(proba - threshold) < margin
    summary = {
        "abstain_band": [round(max(threshold - margin, 0.0), 6), round(min(threshold + margin, 1.0), 6)],
        "low_confidence_share": float(low.mean()),
        "low_confidence_error_rate": float((~correct[low]).mean()) if low.any() else None,
        "confident_error_rate": float((~correct[~low]).mean()) if (~low).any() else None,
        "overall_error_rate": float((~correct).mean()),
    }
    return table, summary


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


def compute_importance(champion_model: BaseEstimator, test_split: pd.DataFrame, config: EvaluationConfig,
                       spec: ProblemSpec) -> pd.DataFrame:
    """Return per model column its permutation importance on (a sample of) test and its share, plus the model's own importances."""
    settings = config.importance
    rows = test_split.sample(n=min(settings.permutation_rows, len(test_split)), random_state=spec.seed)
    columns = spec.model_columns()
    result = permutation_importance(champion_model, rows[columns], _labels(rows, spec), scoring=settings.scoring,
                                    n_repeats=settings.permutation_repeats, random_state=spec.seed)
    table = pd.DataFrame({"feature": columns, "permutation_mean": result.importances_mean,
                          "permutation_std": result.importances_std})
    table["permutation_share"] = _share(table["permutation_mean"])
    native = native_importances(champion_model)
    for member, values in native.groupby("member", sort=False):
        shares = _share(values.set_index("feature")["importance"])
        table[f"native_share_{member}"] = table["feature"].map(shares)
    return table.sort_values("permutation_mean", ascending=False, ignore_index=True)


def _share(importance: pd.Series) -> pd.Series:
    """Return each positive importance as a share of their sum (negative ones count as 0)."""
    positive = importance.clip(lower=0)
    return positive / positive.sum() if positive.sum() > 0 else positive


def single_feature_auc(fit_rows: pd.DataFrame, test_split: pd.DataFrame, spec: ProblemSpec) -> pd.Series:
    """Return max(AUC, 1 - AUC) of each model column alone on test; categories scored by their rate in `fit_rows`."""
    y_fit, y_test = fit_rows[spec.target_column], _labels(test_split, spec)
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


def check_for_leaks(importance: pd.DataFrame, train_split: pd.DataFrame, validation_split: pd.DataFrame,
                    test_split: pd.DataFrame, config: EvaluationConfig, spec: ProblemSpec) -> pd.DataFrame:
    """Return per model column its single-feature AUC and importance shares, flagged when one passes its limit."""
    limits = config.leak_check
    table = importance.set_index("feature")
    table = table.join(single_feature_auc(pd.concat([train_split, validation_split]), test_split, spec))
    share_columns = ["permutation_share"] + [c for c in table.columns if c.startswith("native_share_")]
    reasons = []
    for feature, row in table.iterrows():
        why = []
        if row["single_feature_auc"] > limits.max_single_feature_auc:
            why.append(f"alone reaches ROC AUC {row['single_feature_auc']:.3f} > {limits.max_single_feature_auc}")
        why += [f"{c.replace('_share', '').replace('_', ' ')} importance share {row[c]:.2f} > {limits.max_importance_share}"
                for c in share_columns if row[c] > limits.max_importance_share]
        reasons.append("; ".join(why))
    table["possible_leak"] = [bool(r) for r in reasons]
    table["reason"] = reasons
    return table[["single_feature_auc", *share_columns, "possible_leak", "reason"]].reset_index(names="feature")


def tag_columns(rows: pd.DataFrame, config: EvaluationConfig) -> pd.DataFrame:
    """Return one 'yes'/'no' column per declared tag: whether its query selects the row."""
    return pd.DataFrame({name: np.where(rows.eval(query).to_numpy(dtype=bool), "yes", "no")
                         for name, query in config.slices.tags.items()}, index=rows.index)


def _rate(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")


def slice_table(y: np.ndarray, proba: np.ndarray, decision: np.ndarray, groups: pd.DataFrame, min_size: int) -> pd.DataFrame:
    """Return the error analysis and metrics of every value of every column in `groups`, ranked by priority.

    priority = max(error-rate gap to overall, 0) x share of data: room for improvement times how
    often it matters. Slices under `min_size` rows are kept, marked too small, and not ranked.
    """
    errors = decision != y
    overall = errors.mean()
    records = []
    for column in groups.columns:
        for value, index in groups.groupby(column, observed=True).indices.items():
            counts = threshold_metrics(y[index], decision[index], 0.5)
            rows = len(index)
            records.append({
                "slice_column": column, "slice_value": str(value), "rows": rows, "share_of_data": rows / len(y),
                "errors": int(errors[index].sum()), "error_rate": errors[index].mean(),
                "share_of_errors": _rate(errors[index].sum(), errors.sum()), "gap_to_overall": errors[index].mean() - overall,
                "precision": _rate(counts["tp"], counts["tp"] + counts["fp"]), "recall": _rate(counts["tp"], counts["tp"] + counts["fn"]),
                "roc_auc": METRICS["roc_auc"](y[index], proba[index]),
                "selection_rate": (counts["tp"] + counts["fp"]) / rows, "positive_rate": y[index].mean(),
                "false_positive_rate": _rate(counts["fp"], counts["fp"] + counts["tn"]),
                "too_small": rows < min_size,
            })
    table = pd.DataFrame(records, columns=SLICE_COLUMNS[:-2])
    table["priority"] = table["gap_to_overall"].clip(lower=0) * table["share_of_data"]
    table = table.sort_values(["too_small", "priority"], ascending=[True, False], ignore_index=True)
    table["rank"] = pd.Series(range(1, len(table) + 1), dtype="Int64").where(~table["too_small"])
    return table


def analyse_slices(test_split: pd.DataFrame, test_predictions: pd.DataFrame, config: EvaluationConfig,
                   spec: ProblemSpec) -> pd.DataFrame:
    """Return the slice table of the released model on test: every slice column's values and every tag."""
    groups = pd.concat([test_split[config.slice_columns(spec)].astype("str"), tag_columns(test_split, config)], axis=1)
    return slice_table(_labels(test_split, spec), test_predictions[probability_column(RELEASED)].to_numpy(),
                       test_predictions[DECISION].to_numpy(), groups, config.slices.min_size)


def fairness_gaps(slice_metrics: pd.DataFrame, config: EvaluationConfig, spec: ProblemSpec) -> pd.DataFrame:
    """Return per protected attribute the largest between-group differences in selection rate, TPR and FPR.

    Groups below the minimum size are left out (their rates are noise); how many is reported.
    """
    records = []
    protected = slice_metrics[slice_metrics["slice_column"].isin(spec.protected_attributes)]
    for column, groups in protected.groupby("slice_column", sort=False):
        sized = groups[~groups["too_small"]]

        def spread(rate: str, sized: pd.DataFrame = sized) -> float:
            return float(sized[rate].max() - sized[rate].min()) if len(sized) > 1 else float("nan")

        gaps = {"demographic_parity": spread("selection_rate"), "true_positive_rate": spread("recall"),
                "false_positive_rate": spread("false_positive_rate")}
        largest = max(gaps, key=lambda k: -1 if np.isnan(gaps[k]) else gaps[k])
        records.append({"slice_column": column, "groups_compared": len(sized), "groups_too_small": len(groups) - len(sized),
                        **{f"{name}_difference": gap for name, gap in gaps.items()},
                        # Context: part of a selection-rate gap is a gap in the groups' base rates.
                        "base_rate_difference": spread("positive_rate"),
                        "largest_gap": gaps[largest], "largest_gap_metric": largest,
                        "exceeds_limit": bool(gaps[largest] > config.slices.max_fairness_gap)})
    return pd.DataFrame(records, columns=FAIRNESS_COLUMNS)


def run_behavioural_tests(released_model: ScoringModel, test_split: pd.DataFrame, config: EvaluationConfig,
                          spec: ProblemSpec) -> pd.DataFrame:
    """Return the declared directional and invariance tests of the released model on (a sample of) test, passed or not."""
    rows = test_split.sample(n=min(config.behaviour.rows, len(test_split)), random_state=spec.seed)
    proba = released_model.predict_proba(rows)[:, 1]
    decision = proba >= released_model.threshold
    records = []
    for test in config.behaviour.directional:
        shifted = rows.copy()
        moved = rows[test.feature] + test.change
        # Stay inside the observed range: the model is only tested where it has seen data.
        shifted[test.feature] = moved.clip(upper=rows[test.feature].max()) if test.change > 0 else moved.clip(lower=rows[test.feature].min())
        after = released_model.predict_proba(shifted)[:, 1]
        change = float(after.mean() - proba.mean())
        wrong_way = after < proba if test.expect == "not_lower" else after > proba
        passed = change >= -test.tolerance if test.expect == "not_lower" else change <= test.tolerance
        records.append({"test": f"{test.feature} {test.change:+g} -> mean probability {test.expect.replace('_', ' ')}",
                        "kind": "directional", "subject": test.feature, "value": change, "limit": test.tolerance,
                        "passed": passed, "detail": f"mean {proba.mean():.4f} -> {after.mean():.4f}; "
                                                    f"{wrong_way.mean():.1%} of rows moved the other way"})
    for test in config.behaviour.invariance:
        shares = {}
        for value in rows[test.attribute].dropna().unique():
            others = rows[test.attribute] != value
            flipped = rows[others].assign(**{test.attribute: value})
            changed = (released_model.predict_proba(flipped)[:, 1] >= released_model.threshold) != decision[others.to_numpy()]
            shares[str(value)] = float(changed.mean())
        worst = max(shares, key=shares.get)
        records.append({"test": f"setting {test.attribute} to another value changes at most "
                                f"{test.max_changed_share:.0%} of decisions",
                        "kind": "invariance", "subject": test.attribute, "value": shares[worst],
                        "limit": test.max_changed_share, "passed": shares[worst] <= test.max_changed_share,
                        "detail": "changed share when set to: " + ", ".join(f"{v} {s:.1%}" for v, s in shares.items())})
    return pd.DataFrame(records, columns=["test", "kind", "subject", "value", "limit", "passed", "detail"])


def slug(value: str) -> str:
    """Return a slice value as a safe file name: '<25' -> 'lt25', '65+' -> '65plus'."""
    text = str(value).replace("<", "lt").replace(">", "gt").replace("+", "plus")
    return re.sub(r"[^0-9A-Za-z.-]+", "_", text).strip("_") or "blank"


def evidently_rows(test_split: pd.DataFrame, test_predictions: pd.DataFrame) -> pd.DataFrame:
    """Return the test rows with the released model's probability and decision under Evidently's column names."""
    return test_split.assign(**{PROBABILITY: test_predictions[probability_column(RELEASED)],
                                PREDICTION: test_predictions[DECISION]})


def measure_serving_cost(released_model: ScoringModel, test_split: pd.DataFrame, leaderboard: pd.DataFrame,
                         champion_selection: dict[str, Any], config: EvaluationConfig) -> dict[str, Any]:
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
    champion = leaderboard.set_index("model").loc[champion_selection["champion"]]
    return {
        "predict_ms_per_1000_rows": float(np.median(batch_seconds) * 1e6 / len(batch)),
        "single_row_predict_ms": float(np.median(row_seconds) * 1000),
        "size_bytes": len(pickle.dumps(released_model)),
        "cv_fit_seconds_per_fold": float(champion["fit_seconds"]),
    }
