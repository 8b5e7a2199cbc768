"""Release step 3: the candidate, the incumbent and the baselines on the frozen holdout; importance and leaks, slices and fairness, behavioural tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.inspection import permutation_importance
from sklearn.metrics import roc_auc_score

from ml_lifecycle.bundle import ModelBundle
from ml_lifecycle.estimators import (
    ScoringModel,
)
from ml_lifecycle.evaluation_config import EvaluationConfig
from ml_lifecycle.model_checks import (
    DECISION,
    RELEASED,
    labels,
    native_importances,
    probability_column,
    share,
    single_feature_auc,
    slice_table,
    tag_columns,
)
from ml_lifecycle.registry import (
    LoadedBundle,
)
from ml_lifecycle.spec import ProblemSpec

FAIRNESS_COLUMNS = ["slice_column", "groups_compared", "groups_too_small", "demographic_parity_difference",
                    "true_positive_rate_difference", "false_positive_rate_difference", "base_rate_difference",
                    "largest_gap", "largest_gap_metric", "exceeds_limit"]


INCUMBENT = "incumbent"


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
                    test_split: pd.DataFrame, test_predictions: pd.DataFrame, config: EvaluationConfig,
                    spec: ProblemSpec) -> pd.DataFrame:
    """Return per model column its single-feature AUC and importance shares, flagged when it alone almost separates
    the classes or alone matches the released model."""
    limits = config.leak_check
    model_auc = roc_auc_score(labels(test_split, spec), test_predictions[probability_column(RELEASED)])
    table = importance.set_index("feature")
    table = table.join(single_feature_auc(pd.concat([train_split, validation_split]), test_split, spec))
    share_columns = ["permutation_share"] + [c for c in table.columns if c.startswith("native_share_")]
    reasons = []
    for auc in table["single_feature_auc"]:
        why = []
        if auc > limits.max_single_feature_auc:
            why.append(f"alone reaches ROC AUC {auc:.3f} > {limits.max_single_feature_auc}: it almost separates the classes")
        elif auc >= limits.min_suspicious_auc and auc >= model_auc - limits.close_to_model_auc:
            why.append(f"alone reaches ROC AUC {auc:.3f}, within {limits.close_to_model_auc} of the whole model's {model_auc:.3f}")
        reasons.append("; ".join(why))
    table["model_auc"] = model_auc
    table["possible_leak"] = [bool(r) for r in reasons]
    table["reason"] = reasons
    return table[["single_feature_auc", "model_auc", *share_columns, "possible_leak", "reason"]].reset_index(names="feature")


def analyse_slices(test_split: pd.DataFrame, test_predictions: pd.DataFrame, config: EvaluationConfig,
                   spec: ProblemSpec) -> pd.DataFrame:
    """Return the slice table of the released model on test: every slice column's values and every tag, a tag's room for
    improvement measured against its declared human-level error rate when there is one."""
    groups = pd.concat([test_split[config.slice_columns(spec)].astype("str"), tag_columns(test_split, config)], axis=1)
    human = {r.tag: r.error_rate() for r in spec.reference_results if r.kind == "human_level" and r.tag is not None}
    return slice_table(labels(test_split, spec), test_predictions[probability_column(RELEASED)].to_numpy(),
                       test_predictions[DECISION].to_numpy(), groups, config.slices.min_size, human)


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


def _changed_decision_shares(model: ScoringModel, rows: pd.DataFrame, attribute: str) -> dict[str, float]:
    """Return, per observed value of `attribute`, the share of the other rows whose decision changes when set to it."""
    decision = model.predict_proba(rows)[:, 1] >= model.threshold
    shares = {}
    for value in rows[attribute].dropna().unique():
        others = rows[attribute] != value
        flipped = rows[others].assign(**{attribute: value})
        changed = (model.predict_proba(flipped)[:, 1] >= model.threshold) != decision[others.to_numpy()]
        shares[str(value)] = float(changed.mean())
    return shares


def run_behavioural_tests(released_model: ScoringModel, test_split: pd.DataFrame, incumbent: LoadedBundle | None,
                          config: EvaluationConfig, spec: ProblemSpec) -> pd.DataFrame:
    """Return the declared directional and invariance tests of the released model on (a sample of) test, passed or not.

    An invariance limit is the declared share or, when larger, the serving incumbent's own share on the
    same rows: the gate blocks a release that makes decisions depend more on a protected attribute, not
    one that inherits what is already served (the record says which limit applied).
    """
    rows = test_split.sample(n=min(config.behaviour.rows, len(test_split)), random_state=spec.seed)
    proba = released_model.predict_proba(rows)[:, 1]
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
    # The rows are prepared by the candidate's recipe; an incumbent with another schema is not comparable on them.
    comparable = incumbent is not None and not incumbent.bundle.recipe.schema.differences(spec)
    for test in config.behaviour.invariance_tests(spec):
        shares = _changed_decision_shares(released_model, rows, test.attribute)
        worst = max(shares, key=shares.get)
        limit, detail = test.max_changed_share, "changed share when set to: " + ", ".join(f"{v} {s:.1%}" for v, s in shares.items())
        if comparable:
            served = max(_changed_decision_shares(incumbent.bundle.model, rows, test.attribute).values(), default=0.0)
            limit = max(limit, served)
            detail += (f"; incumbent {incumbent.version} {served:.1%} on the same rows, so the limit is "
                       f"{'its share' if served > test.max_changed_share else 'the declared one'}")
        records.append({"test": f"setting {test.attribute} to another value changes at most "
                                f"{test.max_changed_share:.0%} of decisions (or the incumbent's share)",
                        "kind": "invariance", "subject": test.attribute, "value": shares[worst],
                        "limit": limit, "passed": shares[worst] <= limit, "detail": detail})
    return pd.DataFrame(records, columns=["test", "kind", "subject", "value", "limit", "passed", "detail"])


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
    if incumbent is not None and not incumbent.bundle.recipe.schema.differences(spec):  # else not comparable: see judge_release
        predictions[probability_column(INCUMBENT)] = incumbent.bundle.probabilities(incumbent.bundle.model_rows(frozen_holdout, spec))
    for name, model in baseline_models.items():
        predictions[probability_column(name)] = model.predict_proba(holdout_rows)[:, 1]
    return holdout_rows, predictions
