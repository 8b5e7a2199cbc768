"""Model selection: baselines, the small-batch sanity check, seeded tuning, the cross-validated leaderboard and ensemble, the champion, and its registration as a candidate."""

from __future__ import annotations

import logging
import pickle
import time
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.model_selection import ParameterSampler, RepeatedStratifiedKFold

from ml_lifecycle.artifacts import ChampionSelection
from ml_lifecycle.bundle import ModelBundle, Recipe
from ml_lifecycle.compute import ComputeConfig, dask_client, run_tasks
from ml_lifecycle.estimators import ScoringModel
from ml_lifecycle.metrics import METRICS, score_all
from ml_lifecycle.model_recipe import configured_model, fit_blueprint, refit_rows
from ml_lifecycle.modeling_config import ModelConfig, ModelingConfig
from ml_lifecycle.registry import ReleaseCandidate, ReleaseInfo
from ml_lifecycle.spec import ProblemSpec

logger = logging.getLogger(__name__)
LOCAL = ComputeConfig()


def _fit(model: BaseEstimator, config: ModelConfig, X: pd.DataFrame, y: pd.Series,
         eval_rows: pd.DataFrame | None = None) -> BaseEstimator:
    """Fit a model; with early stopping on `eval_rows` when its config declares it."""
    if config.early_stopping_rounds and eval_rows is not None:
        return model.fit(
            X, y,
            estimator__eval_set=(model[:-1].fit_transform(eval_rows), eval_rows[y.name]),
            estimator__early_stopping_rounds=config.early_stopping_rounds,
        )
    return model.fit(X, y)


def _predict_ms_per_1000(model: BaseEstimator, rows: pd.DataFrame, timing_rows: int) -> float:
    """Return the CPU time, in ms, to score 1,000 rows: the least of 5 repeats on `timing_rows` rows.

    Process CPU time, not wall time, so other work on the machine (other tasks, other runs) cannot
    make a model look slower and change which models are eligible. It counts every thread of the
    process, so a model's own worker threads count, and so would concurrent tasks in one process:
    cluster workers run one thread each (`compute.threads_per_worker`).
    """
    sample = rows.iloc[:timing_rows]
    durations = []
    for _ in range(5):
        start = time.process_time()
        model.predict_proba(sample)
        durations.append(time.process_time() - start)
    return float(min(durations) * 1000 * 1000 / len(sample))


def fit_baselines(train_split: pd.DataFrame, config: ModelingConfig, spec: ProblemSpec) -> dict[str, BaseEstimator]:
    """Return every declared baseline fitted on the whole train split: the yardsticks a release must beat."""
    y = train_split[spec.target_column]
    return {name: configured_model(baseline, spec).fit(train_split, y) for name, baseline in config.baselines.items()}


def check_small_batch_overfit(train_split: pd.DataFrame, config: ModelingConfig, spec: ProblemSpec) -> pd.DataFrame:
    """Return, per candidate, its training accuracy on one small batch and whether it overfits it."""
    batch = train_split.groupby(spec.target_column, group_keys=False).sample(
        n=config.sanity.batch_rows // 2, random_state=spec.seed
    )
    records = []
    for name, candidate in config.candidates.items():
        model = configured_model(candidate, spec, candidate.sanity_params).fit(batch, batch[spec.target_column])
        decisions = model.predict_proba(batch)[:, 1] >= 0.5
        accuracy = float((decisions == batch[spec.target_column]).mean())
        records.append({
            "model": name,
            "batch_rows": len(batch),
            "train_accuracy": round(accuracy, 4),
            "sanity_passed": accuracy >= config.sanity.min_train_accuracy,
        })
        logger.info("Sanity check %s: accuracy %.3f on %d rows", name, accuracy, len(batch))
    return pd.DataFrame(records)


def _tuning_trial(trial: tuple[str, dict[str, Any]], train_split: pd.DataFrame, validation_split: pd.DataFrame,
                  config: ModelingConfig, spec: ProblemSpec) -> dict[str, Any]:
    """Return one trial (candidate name, params): its validation score, fit seconds and, if early-stopped, its curves."""
    name, params = trial
    candidate = config.candidates[name]
    started = time.perf_counter()
    model = _fit(configured_model(candidate, spec, params), candidate, train_split, train_split[spec.target_column],
                 validation_split)
    score = METRICS[config.primary_metric](validation_split[spec.target_column], model.predict_proba(validation_split)[:, 1])
    result = {"params": params, config.primary_metric: score, "seconds": round(time.perf_counter() - started, 3)}
    if candidate.early_stopping_rounds:
        result["params"] = params | {"iterations": int(model[-1].get_best_iteration()) + 1}
        result["iteration_curves"] = model[-1].get_evals_result()
    return result


def _within_budget(trials: list[dict[str, Any]], budget_seconds: float) -> list[dict[str, Any]]:
    """Return the trials, in sampling order, up to the first one started after `budget_seconds` of fitting."""
    kept, spent = [], 0.0
    for trial in trials:
        if kept and spent > budget_seconds:
            break
        kept.append(trial)
        spent += trial["seconds"]
    return kept


def tune_candidates(train_split: pd.DataFrame, validation_split: pd.DataFrame, config: ModelingConfig,
                    spec: ProblemSpec, compute: ComputeConfig = LOCAL) -> dict[str, Any]:
    """Return each candidate's best params from a seeded random search scored on the validation split.

    Every trial of every candidate is an independent task, so a cluster runs them at once.
    """
    metric = METRICS[config.primary_metric]
    settings = {name: list(ParameterSampler(c.search_space, n_iter=config.search.trials, random_state=spec.seed))
                if c.search_space else [{}] for name, c in config.candidates.items()}
    work = [(name, params) for name, sampled in settings.items() for params in sampled]
    with dask_client(compute) as client:
        results = run_tasks(client, _tuning_trial, work, {"train_split": train_split, "validation_split": validation_split,
                                                          "config": config, "spec": spec}, compute.task_retries)
    tuned: dict[str, Any] = {}
    for name, sampled in settings.items():
        trials = _within_budget([r for (owner, _), r in zip(work, results, strict=True) if owner == name],
                                config.search.time_budget_seconds)
        for number, trial in enumerate(trials, start=1):
            logger.info("Tuning %s trial %d: %s=%.4f %s", name, number, config.primary_metric,
                        trial[config.primary_metric], trial["params"])
        cut_short = len(trials) < len(sampled)
        if cut_short:
            logger.warning("Tuning %s: only %d of %d trials fit in search.time_budget_seconds of fitting: the chosen "
                           "settings now depend on the machine's speed; raise the budget for reproducible runs",
                           name, len(trials), len(sampled))
        best = min(trials, key=lambda t: t[config.primary_metric] * (-1 if metric.greater_is_better else 1))
        tuned[name] = {"best_params": best["params"], "iteration_curves": best.get("iteration_curves"),
                       "trials": [{k: v for k, v in t.items() if k != "iteration_curves"} for t in trials],
                       "stopped_by_time_budget": cut_short,
                       "seconds": round(sum(t["seconds"] for t in trials), 2)}
    return tuned


def cv_policy(train_rows: int, config: ModelingConfig, spec: ProblemSpec) -> tuple[int, str]:
    """Return how many times the K-fold CV of a train split of `train_rows` rows is repeated, and the policy in words with why."""
    small = spec.split.train_split_is_small(train_rows)
    repeats = config.small_data_cv_repeats if small else 1
    scheme = f"{config.cv_folds}-fold stratified CV" + (f" repeated {repeats} times" if repeats > 1 else "")
    why = (f"{train_rows:,} train-split rows {'<' if small else '>='} {spec.split.small_train_rows:,}, the train share of "
           f"problem.split.small_data_rows {spec.split.small_data_rows:,}")
    return repeats, f"{scheme}: {'small' if small else 'not small'} data, {why}"


def _fold_assignments(train_split: pd.DataFrame, repeats: int, config: ModelingConfig, spec: ProblemSpec) -> np.ndarray:
    """Return every train row's held-out fold in each repeat (repeats x rows), folds numbered on across repeats."""
    splitter = RepeatedStratifiedKFold(n_splits=config.cv_folds, n_repeats=repeats, random_state=spec.seed)
    fold_of_row = np.full((repeats, len(train_split)), -1)
    for fold, (_, held_idx) in enumerate(splitter.split(train_split, train_split[spec.target_column])):
        fold_of_row[fold // config.cv_folds, held_idx] = fold
    return fold_of_row


def _fold_fit(task: tuple[int, str], train_split: pd.DataFrame, fold_of_row: np.ndarray, tuned: dict[str, Any],
              config: ModelingConfig, spec: ProblemSpec) -> tuple[dict[str, Any], np.ndarray]:
    """Return one (fold, model) task's metrics and timings, and its probabilities on the fold's held-out rows."""
    fold, name = task
    role, model_config = config.models()[name]
    repeat = fold // config.cv_folds
    held = fold_of_row[repeat] == fold
    fit_rows, held_rows = train_split[~held], train_split[held]
    start = time.perf_counter()
    model = configured_model(model_config, spec, tuned.get(name, {}).get("best_params")).fit(
        fit_rows, fit_rows[spec.target_column])
    fit_seconds = time.perf_counter() - start
    proba = model.predict_proba(held_rows)[:, 1]
    record = {
        "model": name, "role": role, "fold": fold, "repeat": repeat,
        **score_all(held_rows[spec.target_column], proba),
        "fit_seconds": fit_seconds,
        "predict_ms_per_1000_rows": _predict_ms_per_1000(model, held_rows, config.timing_rows),
        "size_bytes": len(pickle.dumps(model)),
    }
    return record, proba


def cross_validate_models(train_split: pd.DataFrame, tuned: dict[str, Any], config: ModelingConfig,
                          spec: ProblemSpec, compute: ComputeConfig = LOCAL) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return per-fold metrics and timings of every baseline and tuned candidate (every repeat's folds on small data),
    and out-of-fold probabilities: one per train row, from the first repeat.

    The first repeat, not the average over repeats: each value is then the prediction of one model fitted without
    the row, so the ensemble's fold scores stay exact; an average of several models would flatter the ensemble.
    Every (fold, model) pair is an independent task, so a cluster runs them at once.
    """
    repeats, policy = cv_policy(len(train_split), config, spec)
    logger.info("Cross-validation: %s", policy)
    fold_of_row = _fold_assignments(train_split, repeats, config, spec)
    work = [(fold, name) for fold in range(config.cv_folds * repeats) for name in config.models()]
    with dask_client(compute) as client:
        results = run_tasks(client, _fold_fit, work, {"train_split": train_split, "fold_of_row": fold_of_row,
                                                      "tuned": tuned, "config": config, "spec": spec},
                            compute.task_retries)
    out_of_fold = pd.DataFrame({"fold": fold_of_row[0]}, index=train_split.index)
    for (fold, name), (record, proba) in zip(work, results, strict=True):
        if record["repeat"] == 0:
            out_of_fold.loc[fold_of_row[0] == fold, name] = proba
        logger.info("CV fold %d %s: %s=%.4f", fold, name, config.primary_metric, record[config.primary_metric])
    return pd.DataFrame([record for record, _ in results]).assign(cv_policy=policy), out_of_fold


def cross_validate_ensemble(fold_metrics: pd.DataFrame, out_of_fold: pd.DataFrame, sanity: pd.DataFrame,
                            train_split: pd.DataFrame, config: ModelingConfig, spec: ProblemSpec) -> tuple[pd.DataFrame, list[str]]:
    """Return fold metrics with the soft-voting ensemble of the best candidates added, and its members.

    Members are fitted on the same folds, so averaging their out-of-fold probabilities gives the
    ensemble's exact cross-validated predictions without fitting anything again. Those are the first
    repeat's, so on small data the ensemble is scored on the first repeat's folds only.
    """
    if not config.ensemble.enabled:
        return fold_metrics, []
    metric = METRICS[config.primary_metric]
    passed = set(sanity.loc[sanity["sanity_passed"], "model"])
    candidates = fold_metrics[(fold_metrics["role"] == "candidate") & fold_metrics["model"].isin(passed)]
    means = candidates.groupby("model")[config.primary_metric].mean()
    members = list(means.sort_values(ascending=not metric.greater_is_better).index[: config.ensemble.members])
    if len(members) < 2:
        return fold_metrics, []
    y = train_split[spec.target_column]
    policy = fold_metrics["cv_policy"].iloc[0]
    if fold_metrics["repeat"].max() > 0:
        policy += "; the ensemble on the first repeat's folds (one out-of-fold prediction per row and member)"
    records = []
    for fold, rows in out_of_fold.groupby("fold"):
        member_folds = fold_metrics[(fold_metrics["fold"] == fold) & fold_metrics["model"].isin(members)]
        proba = rows[members].mean(axis=1)
        records.append({
            "model": "ensemble", "role": "ensemble", "fold": fold, "repeat": 0,
            **score_all(y.loc[rows.index], proba),
            **member_folds[["fit_seconds", "predict_ms_per_1000_rows", "size_bytes"]].sum().to_dict(),
            "cv_policy": policy,
        })
    return pd.concat([fold_metrics, pd.DataFrame(records)], ignore_index=True), members


def build_leaderboard(fold_metrics: pd.DataFrame, sanity: pd.DataFrame, config: ModelingConfig) -> pd.DataFrame:
    """Return one row per model: mean and std of each metric over every fold scored, timings, size, sanity, champion
    eligibility, and the cross-validation policy with why."""
    metric = METRICS[config.primary_metric]
    grouped = fold_metrics.groupby(["model", "role"], sort=False)
    table = grouped[list(METRICS)].agg(["mean", "std"])
    table.columns = [f"{name}_{stat}" for name, stat in table.columns]
    table = table.join(grouped[["fit_seconds", "predict_ms_per_1000_rows", "size_bytes"]].mean())
    table = table.join(grouped.size().rename("cv_folds_scored")).join(grouped["cv_policy"].first()).reset_index()
    table = table.merge(sanity[["model", "train_accuracy", "sanity_passed"]], on="model", how="left")
    table["sanity_passed"] = table["sanity_passed"].astype("boolean")
    primary = table[f"{config.primary_metric}_mean"]
    best_baseline = primary[table["role"] == "baseline"]
    best_baseline = best_baseline.max() if metric.greater_is_better else best_baseline.min()
    margin = config.champion.margin_over_baselines
    table["beats_baselines"] = (primary > best_baseline + margin) if metric.greater_is_better else (primary < best_baseline - margin)
    sanity_ok = table["sanity_passed"].fillna(True) | (not config.champion.require_sanity_pass)
    fast_enough = table["predict_ms_per_1000_rows"] <= config.champion.max_predict_ms_per_1000_rows
    table["eligible"] = (table["role"] != "baseline") & table["beats_baselines"] & sanity_ok & fast_enough
    table = table.sort_values(f"{config.primary_metric}_mean", ascending=not metric.greater_is_better)
    table.insert(0, "rank", range(1, len(table) + 1))
    return table.reset_index(drop=True)


def select_champion(leaderboard: pd.DataFrame, ensemble_members: list[str], config: ModelingConfig) -> ChampionSelection:
    """Return the champion (best eligible model), the runner-up and why others were not chosen."""
    eligible = leaderboard[leaderboard["eligible"]]
    fallback = eligible.empty
    if fallback:  # no candidate beats the baselines: keep the best simple model, and say so
        eligible = leaderboard[leaderboard["role"] == "baseline"]
    champion = eligible.iloc[0]
    others = leaderboard[leaderboard["model"] != champion["model"]]
    reasons = {}
    for _, row in others.iterrows():
        why = []
        if row["role"] == "baseline":
            why.append("baseline (the yardstick)")
        if not row["beats_baselines"] and row["role"] != "baseline":
            why.append(f"does not beat every baseline by {config.champion.margin_over_baselines}")
        if row["sanity_passed"] is False:
            why.append("failed the small-batch overfit check")
        if row["predict_ms_per_1000_rows"] > config.champion.max_predict_ms_per_1000_rows:
            why.append(f"predicts slower than {config.champion.max_predict_ms_per_1000_rows} ms per 1,000 rows")
        if not why:
            why.append(f"worse CV {config.primary_metric} than the champion")
        reasons[row["model"]] = "; ".join(why)
    runner_up = eligible.iloc[1]["model"] if len(eligible) > 1 else (others.iloc[0]["model"] if len(others) else None)
    return ChampionSelection(
        champion=champion["model"],
        role=champion["role"],
        ensemble_members=ensemble_members if champion["model"] == "ensemble" else [],
        runner_up=runner_up,
        primary_metric=config.primary_metric,
        cv_score=float(champion[f"{config.primary_metric}_mean"]),
        refit_on=config.champion.refit_on,
        no_candidate_qualified=fallback,
        not_chosen=reasons,
    )


def fit_champion(train_split: pd.DataFrame, validation_split: pd.DataFrame, selection: ChampionSelection,
                 tuned: dict[str, Any], config: ModelingConfig, spec: ProblemSpec) -> BaseEstimator:
    """Return the champion refitted on the rows `champion.refit_on` declares (early-stopped models keep their iterations)."""
    return fit_blueprint(refit_rows(train_split, validation_split, config), selection, tuned, config, spec)


def refit_on_kept_features(train_split: pd.DataFrame, validation_split: pd.DataFrame, full_feature_champion: BaseEstimator,
                           selection: ChampionSelection, tuned: dict[str, Any], config: ModelingConfig,
                           spec: ProblemSpec) -> BaseEstimator:
    """Return the champion: refitted on the features `modeling.feature_selection.apply` keeps, else the one fitted on all."""
    if selection.feature_subset is None:
        return full_feature_champion
    return fit_champion(train_split, validation_split, selection, tuned, config, spec)


def build_candidate(champion_model: BaseEstimator, selection: ChampionSelection, leaderboard: pd.DataFrame,
                    recipe: Recipe, fingerprint: str, spec: ProblemSpec) -> ReleaseCandidate:
    """Return the champion as a registry candidate: uncalibrated, threshold 0.5, never promoted (a release decides)."""
    row = leaderboard.set_index("model").loc[selection.champion]
    return ReleaseCandidate(
        bundle=ModelBundle(recipe=recipe,
                           model=ScoringModel(champion_model, threshold=0.5, description=selection.champion)),
        info=ReleaseInfo(problem=spec.name, model=selection.champion, stage="candidate",
                         description=f"best eligible by CV {selection.primary_metric} = {selection.cv_score:.4f}; "
                                     "uncalibrated, threshold 0.5 until a release sets them",
                         data_fingerprint=fingerprint, metrics_source="cross-validation on the train split",
                         metrics={c.removesuffix("_mean"): float(row[c]) for c in row.index if c.endswith("_mean")}),
    )
