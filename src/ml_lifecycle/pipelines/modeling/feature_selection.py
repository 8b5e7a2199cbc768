"""Feature selection side by side: a filter (mutual information), the champion's own importances (embedded) and a
backward elimination by cross-validation (wrapper), the CV effect of dropping the weakest features, and the optional
subset the champion is refitted on (`modeling.feature_selection`).

Rankings are over the problem's features (`spec.features`); a feature's missing flag goes with it. They are
computed on the whole train split, so the CV effect of dropping the weakest is slightly optimistic: the folds'
held-out rows helped choose what to drop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.feature_selection import mutual_info_classif

from ml_lifecycle.artifacts import ChampionSelection, FeatureSubset
from ml_lifecycle.estimators import unfitted_copy
from ml_lifecycle.metrics import METRICS
from ml_lifecycle.model_checks import native_importances
from ml_lifecycle.model_recipe import blueprint_on_features
from ml_lifecycle.modeling_config import FeatureSubsetRule, ModelingConfig
from ml_lifecycle.spec import ProblemSpec, StrictModel

logger = logging.getLogger(__name__)
METHODS = ("mutual_information", "importance", "wrapper")


class FeatureRankings(StrictModel):
    """Each method's order of the problem's features (strongest first), the score it ranked by, and how it was made."""

    features: list[str]
    orders: dict[str, list[str]]
    scores: dict[str, dict[str, float]]
    notes: dict[str, str]

    def order(self, method: str) -> list[str]:
        """Return a method's order, strongest first; 'consensus' sorts by mean rank over the methods that ranked."""
        if method == "consensus":
            mean_rank = {f: np.mean([order.index(f) for order in self.orders.values()]) for f in self.features}
            return sorted(self.features, key=lambda f: (mean_rank[f], self.features.index(f)))
        if method not in self.orders:
            raise ValueError(f"modeling.feature_selection: method {method!r} produced no ranking ({self.notes[method]})")
        return self.orders[method]


def dropped_features(rule: FeatureSubsetRule, rankings: FeatureRankings) -> list[str]:
    """Return the features a subset rule drops: all but the top `keep`, or the weakest `drop`, weakest last."""
    order = rankings.order(rule.method)
    return order[rule.keep:] if rule.keep is not None else order[-rule.drop:]


def _feature_of(column: str, features: list[str]) -> str | None:
    """Return the feature a model column comes from: itself, its missing flag or a one-hot column (longest name wins)."""
    owners = [f for f in features if column == f or column.startswith(f"{f}_")]
    return max(owners, key=len) if owners else None


def _by_feature(columns: list[str], values: np.ndarray, features: list[str]) -> pd.Series:
    """Return values summed per feature (missing flags and one-hot columns count with their feature), as shares."""
    owners = pd.Series(np.abs(values), index=[_feature_of(c, features) for c in columns])
    summed = owners[owners.index.notna()].groupby(level=0).sum().reindex(features, fill_value=0.0)
    return summed / summed.sum() if summed.sum() > 0 else summed


def mutual_information(train_split: pd.DataFrame, spec: ProblemSpec) -> pd.Series:
    """Return each feature's mutual information with the target (nats), categories as discrete values, seeded."""
    X = pd.DataFrame(index=train_split.index)
    for feature in spec.features:
        values = train_split[feature]
        if feature in spec.categorical_features:
            X[feature] = pd.factorize(values, use_na_sentinel=False)[0]  # a missing value is a category of its own
        else:
            X[feature] = values.astype(float).fillna(values.median())
    discrete = [f in spec.categorical_features for f in spec.features]
    scores = mutual_info_classif(X.to_numpy(dtype=float), train_split[spec.target_column], discrete_features=discrete,
                                 random_state=spec.seed)
    return pd.Series(scores, index=spec.features)


def _linear_importances(champion: BaseEstimator) -> pd.DataFrame:
    """Return |coef| per input column of each linear member (its inputs are scaled, so sizes compare)."""
    members = getattr(champion, "fitted_members_", None) or [("champion", champion)]
    frames = [pd.DataFrame({"member": name, "feature": list(m[:-1].get_feature_names_out()), "importance": np.abs(m[-1].coef_).ravel()})
              for name, m in members if hasattr(m, "steps") and hasattr(m[-1], "coef_")]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["member", "feature", "importance"])


def champion_importances(champion: BaseEstimator, name: str, spec: ProblemSpec) -> tuple[pd.Series | None, str]:
    """Return the champion's own importances per feature as shares (members averaged), or None, and what they are."""
    frames = pd.concat([f for f in (native_importances(champion), _linear_importances(champion)) if not f.empty] or
                       [pd.DataFrame(columns=["member", "feature", "importance"])], ignore_index=True)
    if frames.empty:
        return None, "the champion has no importances of its own (no feature_importances_, CatBoost importance or coef_)"
    shares = [_by_feature(f["feature"].tolist(), f["importance"].to_numpy(dtype=float), spec.features)
              for _, f in frames.groupby("member", sort=False)]
    members = [name if m == "champion" else m for m in frames["member"].unique()]  # a single model is listed as "champion"
    how = ("importance shares (CatBoost PredictionValuesChange, impurity decrease, or |coef| on scaled inputs) of the "
           f"champion as refitted, from: {', '.join(members)}" + ("; members' shares averaged" if len(members) > 1 else ""))
    return pd.concat(shares, axis=1).mean(axis=1), how


def _fold_scores(model: BaseEstimator, rows: pd.DataFrame, folds: pd.Series, spec: ProblemSpec, metric: str) -> list[float]:
    """Return the model's primary metric on each fold's held-out rows, fitted on the other folds."""
    scores = []
    for fold in sorted(folds.unique()):
        held = (folds == fold).to_numpy()
        fitted = unfitted_copy(model).fit(rows[~held], rows.loc[~held, spec.target_column])
        scores.append(float(METRICS[metric](rows.loc[held, spec.target_column], fitted.predict_proba(rows[held])[:, 1])))
    return scores


def backward_elimination(rows: pd.DataFrame, folds: pd.Series, model_without: Callable[[list[str]], BaseEstimator],
                         config: ModelingConfig, spec: ProblemSpec) -> tuple[list[str], dict[str, float], str]:
    """Return the features strongest first by greedy backward elimination on the folds, each one's CV score without it,
    and whether the budget stopped it.

    Each step scores dropping each remaining feature and drops the one whose loss costs least. The features left when
    the budget ends are ordered by their last step's scores; the eliminated follow, the first eliminated last.
    """
    budget, metric = config.feature_selection.wrapper, METRICS[config.primary_metric]
    sign = -1 if metric.greater_is_better else 1  # sign * score: lower is better
    remaining, eliminated, without = list(spec.features), [], {}
    evaluations, started, stopped_by = 0, time.perf_counter(), "every feature eliminated"
    while len(remaining) > 1:
        if evaluations and evaluations + len(remaining) > budget.max_evaluations:
            stopped_by = f"max_evaluations ({budget.max_evaluations})"
            break
        if evaluations and budget.max_seconds is not None and time.perf_counter() - started > budget.max_seconds:
            stopped_by = f"**max_seconds ({budget.max_seconds:g}): the ranking depends on the machine's speed**"
            break
        step = {f: float(np.mean(_fold_scores(model_without([*eliminated, f]), rows, folds, spec, config.primary_metric)))
                for f in remaining}
        evaluations += len(remaining)
        without |= step
        weakest = min(remaining, key=lambda f: (sign * step[f], remaining.index(f)))
        eliminated.append(weakest)
        remaining.remove(weakest)
        logger.info("Wrapper: dropped %s (CV %s %.4f without it)", weakest, config.primary_metric, step[weakest])
    order = sorted(remaining, key=lambda f: -sign * without.get(f, 0.0)) + eliminated[::-1]
    return order, without, f"{evaluations} subsets scored in {time.perf_counter() - started:.0f} s; stopped by {stopped_by}"


def _model_without(choice: ChampionSelection, name: str | None, tuned: dict, config: ModelingConfig,
                   spec: ProblemSpec) -> Callable[[list[str]], BaseEstimator]:
    """Return a function from dropped features to the unfitted model `name` (None: the champion) without them."""
    chosen = choice if name is None else choice.model_copy(update={"champion": name, "ensemble_members": []})
    return lambda dropped: blueprint_on_features(chosen, tuned, config, spec,
                                                 [f for f in spec.features if f not in dropped] if dropped else None)


def rank_features(train_split: pd.DataFrame, out_of_fold: pd.DataFrame, champion: BaseEstimator, choice: ChampionSelection,
                  tuned: dict, config: ModelingConfig, spec: ProblemSpec) -> FeatureRankings:
    """Return the features ranked by mutual information (filter), the champion's importances (embedded) and backward
    elimination on the leaderboard's folds (wrapper)."""
    orders, scores, notes = {}, {}, {}
    mi = mutual_information(train_split, spec)
    scores["mutual_information"] = mi.to_dict()
    notes["mutual_information"] = f"mutual information with the target on {len(train_split):,} train rows, seed {spec.seed}"
    importance, notes["importance"] = champion_importances(champion, choice.champion, spec)
    if importance is not None:
        scores["importance"] = importance.to_dict()
    settings = config.feature_selection.wrapper
    rows = train_split if settings.max_rows is None or settings.max_rows >= len(train_split) else (
        train_split.groupby(spec.target_column, group_keys=False).sample(
            frac=settings.max_rows / len(train_split), random_state=spec.seed))
    folds = out_of_fold.loc[rows.index, "fold"]
    model_name = settings.model or choice.champion
    role = "a cheaper stand-in for the champion" if model_name != choice.champion else "the champion"
    orders["wrapper"], scores["wrapper"], how = backward_elimination(
        rows, folds, _model_without(choice, settings.model, tuned, config, spec), config, spec)
    notes["wrapper"] = (f"backward elimination refitting `{model_name}` ({role}) "
                        f"on the leaderboard's {folds.nunique()} folds of {len(rows):,} train rows; score: CV "
                        f"{config.primary_metric} without the feature, at the last step that scored it; {how}")
    for method in ("mutual_information", "importance"):
        if method in scores:
            orders[method] = sorted(spec.features, key=lambda f, s=scores[method]: (-s[f], spec.features.index(f)))
    return FeatureRankings(features=spec.features, orders={m: orders[m] for m in METHODS if m in orders},
                           scores=scores, notes=notes)


def _champion_out_of_fold(out_of_fold: pd.DataFrame, choice: ChampionSelection) -> pd.Series:
    """Return the champion's out-of-fold probabilities from the leaderboard (an ensemble's: its members' mean)."""
    if choice.champion == "ensemble":
        return out_of_fold[choice.ensemble_members].mean(axis=1)
    return out_of_fold[choice.champion]


def measure_drop_effects(train_split: pd.DataFrame, out_of_fold: pd.DataFrame, rankings: FeatureRankings,
                         choice: ChampionSelection, tuned: dict, config: ModelingConfig, spec: ProblemSpec) -> pd.DataFrame:
    """Return the champion's CV primary metric per fold with every feature (the leaderboard's out-of-fold predictions)
    and refitted without the consensus-weakest k (and the applied subset), paired on the leaderboard's folds."""
    settings, metric = config.feature_selection, config.primary_metric
    if choice.role == "baseline":  # a rule baseline reads the columns it names: it cannot lose one
        return pd.DataFrame(columns=["ranking", "dropped_count", "dropped", "folds", f"cv_{metric}_all_features",
                                     f"cv_{metric}_kept_features", "difference", "difference_std"])
    subsets = {("consensus", k): rankings.order("consensus")[-k:] for k in settings.drop_weakest if k < len(rankings.features)}
    if settings.apply is not None:
        applied = dropped_features(settings.apply, rankings)
        subsets.setdefault((settings.apply.method, len(applied)), applied)
    folds = out_of_fold.loc[train_split.index, "fold"]
    y, proba = train_split[spec.target_column], _champion_out_of_fold(out_of_fold, choice).loc[train_split.index]
    with_all = [float(METRICS[metric](y[folds == f], proba[folds == f])) for f in sorted(folds.unique())]
    model_without = _model_without(choice, None, tuned, config, spec)
    records, measured = [], {}
    for (ranking, k), dropped in subsets.items():
        key = frozenset(dropped)
        if key not in measured:
            measured[key] = _fold_scores(model_without(dropped), train_split, folds, spec, metric)
        differences = np.subtract(measured[key], with_all)
        records.append({"ranking": ranking, "dropped_count": k, "dropped": ", ".join(dropped), "folds": len(with_all),
                        f"cv_{metric}_all_features": float(np.mean(with_all)),
                        f"cv_{metric}_kept_features": float(np.mean(measured[key])),
                        "difference": float(differences.mean()), "difference_std": float(differences.std(ddof=1))})
        logger.info("Without %s: CV %s %.4f -> %.4f", dropped, metric, np.mean(with_all), np.mean(measured[key]))
    return pd.DataFrame(records)


def tabulate_rankings(rankings: FeatureRankings) -> pd.DataFrame:
    """Return one row per feature: each method's rank (1 = strongest) and score, and the consensus, strongest first."""
    consensus = rankings.order("consensus")
    table = pd.DataFrame({"feature": consensus, "consensus_rank": range(1, len(consensus) + 1)})
    for method in METHODS:
        if method in rankings.orders:
            table[f"{method}_rank"] = table["feature"].map({f: i + 1 for i, f in enumerate(rankings.orders[method])})
            table[f"{method}_score"] = table["feature"].map(rankings.scores[method])
    return table


def apply_feature_selection(choice: ChampionSelection, rankings: FeatureRankings, drop_effects: pd.DataFrame,
                            config: ModelingConfig) -> ChampionSelection:
    """Return the champion selection with the subset `modeling.feature_selection.apply` chooses (unchanged when off)."""
    rule = config.feature_selection.apply
    if rule is None or choice.role == "baseline":
        return choice
    dropped = dropped_features(rule, rankings)
    effect = drop_effects[(drop_effects["dropped"] == ", ".join(dropped))].iloc[0]
    metric = config.primary_metric
    subset = FeatureSubset(method=rule.method, kept=[f for f in rankings.features if f not in dropped], dropped=dropped,
                           cv_score_all_features=effect[f"cv_{metric}_all_features"],
                           cv_score_kept_features=effect[f"cv_{metric}_kept_features"])
    return choice.model_copy(update={"feature_subset": subset})
