"""The release steps, declared once: a fitted model -> calibration and threshold (validation split) -> bundle ->
checks on the frozen holdout -> gate verdict -> registered, promoted only when the gate passes.

Evaluation releases the champion with them and retraining its challenger, each under its own namespace.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.inspection import permutation_importance
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from ml_lifecycle.bundle import InputLimits, ModelBundle, build_recipe
from ml_lifecycle.estimators import (
    CalibratedModel,
    ScoringModel,
    model_scores,
    score_calibrator,
)
from ml_lifecycle.evaluation_config import EvaluationConfig
from ml_lifecycle.gate import (
    GateConfig,
    GateVerdict,
    calibration_result,
    comparison_result,
    count_result,
    limit_result,
    paired_bootstrap_gain,
)
from ml_lifecycle.metrics import METRICS, expected_calibration_error
from ml_lifecycle.model_checks import (
    DECISION,
    RELEASED,
    best_threshold,
    chosen_calibration,
    describe_objective,
    labels,
    native_importances,
    probability_column,
    share,
    single_feature_auc,
    slice_table,
    tag_columns,
    threshold_curve,
)
from ml_lifecycle.model_recipe import fit_blueprint
from ml_lifecycle.modeling_config import ModelingConfig
from ml_lifecycle.registry import (
    LoadedBundle,
    Manifest,
    PromotionDecision,
    ReleaseCandidate,
    ReleaseContext,
    ReleaseInfo,
)
from ml_lifecycle.spec import ProblemSpec, StrictModel

FAIRNESS_COLUMNS = ["slice_column", "groups_compared", "groups_too_small", "demographic_parity_difference",
                    "true_positive_rate_difference", "false_positive_rate_difference", "base_rate_difference",
                    "largest_gap", "largest_gap_metric", "exceeds_limit"]
INCUMBENT = "incumbent"


class ReleaseConfig(StrictModel):
    """How a model is released (`conf/base/parameters_release.yml`, key `release`)."""

    gate: GateConfig = GateConfig()


def fit_holdout_twin(fitted_model: BaseEstimator, twin_rows: pd.DataFrame, selection: dict[str, Any],
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

    Scored on the champion's twin that has not seen the validation split (see `fit_holdout_twin`).
    """
    settings = config.calibration
    y = labels(validation_split, spec)
    raw = holdout_twin.predict_proba(validation_split)[:, 1]
    scores = model_scores(holdout_twin, validation_split).reshape(-1, 1)
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
    return (CalibratedModel(fitted_model, calibrator, method), CalibratedModel(holdout_twin, calibrator, method))


def choose_threshold(calibrated_holdout: BaseEstimator, validation_split: pd.DataFrame, calibration_comparison: pd.DataFrame,
                     config: EvaluationConfig, spec: ProblemSpec) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Return the validation trade-off curve of the (calibrated) train-only twin and the threshold chosen on it."""
    settings = config.threshold
    curve = threshold_curve(labels(validation_split, spec), calibrated_holdout.predict_proba(validation_split)[:, 1], settings)
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


def build_released_model(calibrated_model: BaseEstimator, threshold_choice: dict[str, Any],
                         champion_selection: dict[str, Any]) -> ScoringModel:
    """Return the deployable model: the (calibrated) champion with the chosen threshold stored with it."""
    description = (f"{champion_selection['champion']}; calibration {threshold_choice['calibration']}; "
                   f"threshold {threshold_choice['threshold']:g} by {describe_objective(threshold_choice)}")
    return ScoringModel(model=calibrated_model, threshold=threshold_choice["threshold"], description=description)


def compute_importance(fitted_model: BaseEstimator, test_split: pd.DataFrame, config: EvaluationConfig,
                       spec: ProblemSpec) -> pd.DataFrame:
    """Return per model column its permutation importance on (a sample of) test and its share, plus the model's own importances."""
    settings = config.importance
    rows = test_split.sample(n=min(settings.permutation_rows, len(test_split)), random_state=spec.seed)
    columns = spec.model_columns()
    result = permutation_importance(fitted_model, rows[columns], labels(rows, spec), scoring=settings.scoring,
                                    n_repeats=settings.permutation_repeats, random_state=spec.seed)
    table = pd.DataFrame({"feature": columns, "permutation_mean": result.importances_mean,
                          "permutation_std": result.importances_std})
    table["permutation_share"] = share(table["permutation_mean"])
    native = native_importances(fitted_model)
    for member, values in native.groupby("member", sort=False):
        shares = share(values.set_index("feature")["importance"])
        table[f"native_share_{member}"] = table["feature"].map(shares)
    return table.sort_values("permutation_mean", ascending=False, ignore_index=True)


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


def analyse_slices(test_split: pd.DataFrame, test_predictions: pd.DataFrame, config: EvaluationConfig,
                   spec: ProblemSpec) -> pd.DataFrame:
    """Return the slice table of the released model on test: every slice column's values and every tag."""
    groups = pd.concat([test_split[config.slice_columns(spec)].astype("str"), tag_columns(test_split, config)], axis=1)
    return slice_table(labels(test_split, spec), test_predictions[probability_column(RELEASED)].to_numpy(),
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


class ReleaseEvidence(StrictModel):
    """What failed in the checks the gate reads besides the holdout scores (each list names the failures)."""

    candidate: str
    possible_leaks: list[str]
    behavioural_failures: list[str]
    largest_fairness_gap: float
    sanity_failures: list[str]


def build_bundle(released_model: ScoringModel, threshold_choice: dict[str, Any], recipe_rows: pd.DataFrame,
                 fills: dict[str, object], limits: InputLimits, config: EvaluationConfig, spec: ProblemSpec) -> ModelBundle:
    """Return the self-contained bundle: the recipe of `recipe_rows`, the calibrated model, threshold and abstain band."""
    threshold, margin = threshold_choice["threshold"], config.confidence.abstain_margin
    return ModelBundle(recipe=build_recipe(recipe_rows, fills, spec, limits), model=released_model,
                       abstain_band=(round(max(threshold - margin, 0.0), 6), round(min(threshold + margin, 1.0), 6)))


def score_frozen_holdout(bundle: ModelBundle, incumbent: LoadedBundle | None, baseline_models: dict[str, BaseEstimator],
                         frozen_holdout: pd.DataFrame, spec: ProblemSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the frozen holdout prepared by the candidate's recipe, and the probabilities of the candidate, the
    incumbent (preparing the rows with its own recipe) and each baseline on it."""
    target = spec.target_column
    holdout_rows = bundle.model_rows(frozen_holdout, spec)
    holdout_rows[target] = frozen_holdout[target].astype("int8")
    holdout_rows = holdout_rows.join(frozen_holdout[list(spec.banded_columns)])
    proba = bundle.probabilities(holdout_rows)
    predictions = pd.DataFrame({target: holdout_rows[target].to_numpy(dtype=int), probability_column(RELEASED): proba,
                                DECISION: (proba >= bundle.threshold).astype(int)}, index=holdout_rows.index)
    if incumbent is not None:
        predictions[probability_column(INCUMBENT)] = incumbent.bundle.probabilities(incumbent.bundle.model_rows(frozen_holdout, spec))
    for name, model in baseline_models.items():
        predictions[probability_column(name)] = model.predict_proba(holdout_rows)[:, 1]
    return holdout_rows, predictions


def collect_evidence(leak_checks: pd.DataFrame, behavioural_checks: pd.DataFrame, fairness: pd.DataFrame,
                     sanity_checks: pd.DataFrame, selection: dict[str, Any]) -> ReleaseEvidence:
    """Return the failures among the leak, behavioural, fairness and sanity checks of the released model."""
    members = selection["ensemble_members"] or [selection["champion"]]
    sanity = sanity_checks[sanity_checks["model"].isin(members)]
    return ReleaseEvidence(
        candidate=selection["champion"],
        possible_leaks=leak_checks.loc[leak_checks["possible_leak"], "feature"].tolist(),
        behavioural_failures=behavioural_checks.loc[~behavioural_checks["passed"].astype(bool), "test"].tolist(),
        largest_fairness_gap=float(fairness["largest_gap"].max()) if fairness["largest_gap"].notna().any() else 0.0,
        sanity_failures=sanity.loc[~sanity["sanity_passed"].astype(bool), "model"].tolist(),
    )


def judge_release(holdout_predictions: pd.DataFrame, evidence: ReleaseEvidence, incumbent: LoadedBundle | None,
                  release: ReleaseConfig, config: EvaluationConfig, spec: ProblemSpec) -> GateVerdict:
    """Return the gate's verdict: every declared rule with its value, limit and whether it passed."""
    gate, y = release.gate, holdout_predictions[spec.target_column].to_numpy()
    candidate = holdout_predictions[probability_column(RELEASED)].to_numpy()
    references = [INCUMBENT] if incumbent is not None else [
        c.removeprefix("proba_") for c in holdout_predictions.columns
        if c.startswith("proba_") and c != probability_column(RELEASED)]
    gains = {(incumbent.version if name == INCUMBENT else name): paired_bootstrap_gain(
        y, candidate, holdout_predictions[probability_column(name)].to_numpy(), gate.beats_incumbent, spec.seed)
        for name in references}
    name = "beats the incumbent" if incumbent is not None else "beats every baseline (no incumbent)"
    return GateVerdict(candidate=evidence.candidate,
                       incumbent=None if incumbent is None else incumbent.version, rules=[
        comparison_result(name, gate.beats_incumbent, gains),
        count_result("no leak", gate.no_leak, evidence.possible_leaks, "possible leaks"),
        count_result("behavioural tests", gate.behavioural_tests, evidence.behavioural_failures, "failed tests"),
        limit_result("fairness gaps", gate.fairness_gaps, evidence.largest_fairness_gap, config.slices.max_fairness_gap,
                     "largest gap between groups of a protected attribute"),
        count_result("sanity check", gate.sanity_check, evidence.sanity_failures, "models that failed the small-batch check"),
        calibration_result("calibration error", gate.calibration_error, y, candidate, config.calibration.bins, spec.seed),
    ])


def build_release_candidate(bundle: ModelBundle, threshold_choice: dict[str, Any], holdout_predictions: pd.DataFrame,
                            context: ReleaseContext, fingerprint: str, spec: ProblemSpec) -> ReleaseCandidate:
    """Return the bundle with what the registry records about it: its figures on the frozen holdout and why it was made."""
    y = holdout_predictions[spec.target_column].to_numpy()
    proba = holdout_predictions[probability_column(RELEASED)].to_numpy()
    return ReleaseCandidate(bundle=bundle, info=ReleaseInfo(
        problem=spec.name, model=bundle.model.description.split(";")[0], stage=context.stage,
        description=bundle.model.description, data_fingerprint=fingerprint, calibration=threshold_choice["calibration"],
        metrics={name: METRICS[name](y, proba) for name in ("roc_auc", "log_loss", "brier", "pr_auc")},
        metrics_source=f"frozen holdout ({len(y)} rows)", details={"reason": context.reason, **context.details}))


def decide_promotion(registration: Manifest, verdict: GateVerdict) -> PromotionDecision:
    """Return the promotion record: promote the registered version when the gate passed, else record it as blocked."""
    return PromotionDecision(version=registration.version, promote=verdict.passed, verdict=verdict,
                             reason=f"release gate {verdict.summary()}")
