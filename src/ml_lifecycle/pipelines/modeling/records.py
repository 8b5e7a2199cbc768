"""What modeling leaves for people: the leaderboard and training-curve charts, the selection rationale and the experiment-log record."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

from ml_lifecycle.artifacts import ChampionSelection
from ml_lifecycle.estimators import RuleClassifier
from ml_lifecycle.experiment_log import as_json
from ml_lifecycle.metrics import METRICS
from ml_lifecycle.model_recipe import configured_model
from ml_lifecycle.modeling_config import ModelingConfig
from ml_lifecycle.pipelines.modeling.feature_selection import FeatureRankings
from ml_lifecycle.spec import ProblemSpec

logger = logging.getLogger(__name__)







def plot_leaderboard(leaderboard: pd.DataFrame, config: ModelingConfig, spec: ProblemSpec) -> go.Figure:
    """Return a bar chart of the primary metric and ROC AUC (mean +- std) per model, declared references as dashed lines."""
    figure = make_subplots(rows=1, cols=2, subplot_titles=[f"{config.primary_metric} (CV)", "ROC AUC (CV)"])
    colours = {"baseline": "#9e9e9e", "candidate": "#1f77b4", "ensemble": "#ff7f0e"}
    for column, metric in enumerate([config.primary_metric, "roc_auc"], start=1):
        figure.add_trace(
            go.Bar(
                x=leaderboard["model"], y=leaderboard[f"{metric}_mean"],
                error_y={"type": "data", "array": leaderboard[f"{metric}_std"]},
                marker_color=[colours[r] for r in leaderboard["role"]], showlegend=False,
            ),
            row=1, col=column,
        )
        for reference in spec.reference_results:
            if reference.metric == metric and reference.tag is None:
                figure.add_hline(y=reference.value, line_dash="dash", row=1, col=column,
                                 annotation_text=f"{reference.name} (declared, {reference.split})")
    figure.update_layout(title="Leaderboard: grey baselines, blue candidates, orange ensemble; dashed: declared references")
    return figure


def reference_lines(leaderboard: pd.DataFrame, champion: str, spec: ProblemSpec) -> list[str]:
    """Return the rationale's lines on the declared reference results, beside the champion's CV figure where comparable."""
    cv = {name.removesuffix("_mean"): value for name, value in leaderboard.set_index("model").loc[champion].items()
          if name.endswith("_mean")}
    lines = []
    for r in spec.reference_results:
        value = r.comparable(cv)
        here = "" if value is None else f"; the champion's CV figure here: {value:.4f}"
        scope = f" on tag `{r.tag}`" if r.tag else ""
        lines.append(f"- `{r.name}` ({r.kind.replace('_', ' ')}): {r.metric} {r.value:g}{scope}, measured on {r.split} "
                     f"(source: {r.source}); declared, not measured{here}")
    return lines


def compute_training_curves(train_split: pd.DataFrame, validation_split: pd.DataFrame, tuned: dict[str, Any],
                            config: ModelingConfig, spec: ProblemSpec) -> pd.DataFrame:
    """Return metrics per training step: per-iteration curves for early-stopped models, learning curves for the rest."""
    y_val = validation_split[spec.target_column]
    metric = METRICS[config.primary_metric]
    records = []
    for name, (_, model_config) in config.models().items():
        params = tuned.get(name, {}).get("best_params")
        curves = tuned.get(name, {}).get("iteration_curves")
        if curves:  # recorded by the early-stopped fit of the best tuning trial
            for split, history in curves.items():
                for loss_name, values in history.items():
                    records += [{"model": name, "curve": "iteration", "step": i + 1, "split": "train" if split == "learn" else "validation",
                                 "metric": loss_name, "value": v} for i, v in enumerate(values)]
        elif model_config.learning_curve:
            for fraction in config.learning_curve_fractions:
                subset = train_split if fraction == 1 else train_split.groupby(spec.target_column, group_keys=False).sample(
                    frac=fraction, random_state=spec.seed)
                model = configured_model(model_config, spec, params).fit(subset, subset[spec.target_column])
                for split, rows, labels in (("train", subset, subset[spec.target_column]), ("validation", validation_split, y_val)):
                    records.append({"model": name, "curve": "training_rows", "step": len(subset), "split": split,
                                    "metric": config.primary_metric, "value": metric(labels, model.predict_proba(rows)[:, 1])})
    return pd.DataFrame(records)


def plot_training_curves(training_curves: pd.DataFrame) -> go.Figure:
    """Return learning curves (metric vs training rows) and per-iteration curves, one panel each."""
    panels = list(training_curves.groupby(["curve", "metric"], sort=False).groups)
    figure = make_subplots(rows=1, cols=len(panels), subplot_titles=[
        f"{metric} vs {'iteration' if curve == 'iteration' else 'training rows'}" for curve, metric in panels])
    for column, (curve, metric) in enumerate(panels, start=1):
        panel = training_curves[(training_curves["curve"] == curve) & (training_curves["metric"] == metric)]
        for (model, split), line in panel.groupby(["model", "split"], sort=False):
            figure.add_trace(go.Scatter(x=line["step"], y=line["value"], name=f"{model} ({split})",
                                        line={"dash": "dot" if split == "train" else "solid"}, mode="lines"),
                             row=1, col=column)
    figure.update_layout(title="Metrics on each training step (dotted: train, solid: validation)")
    return figure


INTERPRETABILITY = {
    "prior": "trivial",
    "rule": "one readable rule",
    "linear": "one weight per feature value",
    "tree": "a single readable tree",
    "ensemble": "opaque; needs importances / SHAP",
}


def _interpretability(estimator_path: str) -> str:
    """Return a short interpretability label for an estimator class path."""
    lowered = estimator_path.lower()
    for key, label in (("dummy", "prior"), ("rule", "rule"), ("linear", "linear"), ("decisiontree", "tree")):
        if key in lowered:
            return INTERPRETABILITY[label]
    return INTERPRETABILITY["ensemble"]


def _rule_lines(baseline_models: dict[str, BaseEstimator]) -> list[str]:
    """Return, per rule baseline fitted on the train split, its rule and the two positive rates it learned."""
    lines = []
    for name, model in baseline_models.items():
        rule = model[-1] if isinstance(model, Pipeline) else model
        if isinstance(rule, RuleClassifier):
            lines.append(f"- `{name}`: `{getattr(rule, 'rule_', rule.rule)}` (positive rate {rule.rate_if_true_:.3f} "
                         f"where it holds, {rule.rate_if_false_:.3f} elsewhere)")
    return lines


def _feature_selection_lines(rankings: FeatureRankings, drop_effects: pd.DataFrame, selection: ChampionSelection,
                             config: ModelingConfig) -> list[str]:
    """Return the rationale's lines on feature selection: each ranking's ends, the CV effect of dropping, what was applied."""
    metric = config.primary_metric
    lines = []
    for method in (*rankings.orders, "consensus"):
        order = rankings.order(method)
        lines.append(f"- **{method.replace('_', ' ')}**: strongest {', '.join(order[:3])}; weakest {', '.join(order[-3:])}"
                     + (f" ({rankings.notes[method]})" if method in rankings.notes else " (mean rank over the methods above)"))
    lines += [f"- **{method.replace('_', ' ')}**: no ranking: {note}" for method, note in rankings.notes.items()
              if method not in rankings.orders]
    lines += [f"- Without {e['dropped']} ({e['ranking']}, weakest {e['dropped_count']}): CV {metric} "
              f"{e[f'cv_{metric}_all_features']:.4f} -> {e[f'cv_{metric}_kept_features']:.4f} (difference "
              f"{e['difference']:+.4f} ± {e['difference_std']:.4f} over {e['folds']} paired folds)"
              for _, e in drop_effects.iterrows()] or ["- CV effect of dropping not measured: the champion is a baseline"]
    subset = selection.feature_subset
    lines.append("- **Applied**: none; the champion uses every feature (modeling.feature_selection.apply: null)." if subset is None else
                 f"- **Applied**: {subset.method}, {len(subset.kept)} of {len(rankings.features)} features kept (dropped: "
                 f"{', '.join(subset.dropped)}); CV {metric} {subset.cv_score_all_features:.4f} with all, "
                 f"{subset.cv_score_kept_features:.4f} with the kept ones. The champion still takes every feature.")
    return lines


def write_selection_rationale(leaderboard: pd.DataFrame, selection: ChampionSelection, ensemble_members: list[str],
                              sanity: pd.DataFrame, tuned: dict[str, Any], baseline_models: dict[str, BaseEstimator],
                              rankings: FeatureRankings, drop_effects: pd.DataFrame,
                              config: ModelingConfig, spec: ProblemSpec) -> str:
    """Return the Markdown 'why this model': quality, latency, size and interpretability against the alternatives."""
    metric = config.primary_metric
    by_name = leaderboard.set_index("model")
    champion = by_name.loc[selection.champion]
    paths = {n: m.estimator for n, (_, m) in config.models().items()}

    def row(name: str) -> str:
        r = by_name.loc[name]
        kind = "soft vote of " + ", ".join(ensemble_members) if name == "ensemble" else paths[name]
        label = INTERPRETABILITY["ensemble"] if name == "ensemble" else _interpretability(paths[name])
        return (f"| {name} | {r['role']} | {r[f'{metric}_mean']:.4f} ± {r[f'{metric}_std']:.4f} | {r['roc_auc_mean']:.4f} | "
                f"{r['fit_seconds']:.2f} | {r['predict_ms_per_1000_rows']:.1f} | {r['size_bytes'] / 1024:.0f} | {label} | `{kind}` |")

    baselines = leaderboard.loc[leaderboard["role"] == "baseline", "model"].tolist()
    compared = [selection.champion] + ([selection.runner_up] if selection.runner_up else [])
    compared += [b for b in baselines if b not in compared]
    better = "higher" if METRICS[metric].greater_is_better else "lower"
    lines = [
        f"# Why `{selection.champion}`",
        "",
        f"Selected on the train split by {champion['cv_policy']}. Primary metric **{metric}** ({better} is better); "
        "the test split was not read.",
        "",
        "| model | role | " + metric + " (mean ± std) | ROC AUC | fit s | predict CPU ms / 1k rows | size KiB | interpretability | estimator |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *[row(n) for n in compared],
        "",
    ]
    if selection.no_candidate_qualified:
        lines.append("**No candidate met the champion constraints**, so the best baseline is kept: a simpler model that is as good is the better choice.")
    else:
        best_baseline = by_name.loc[baselines].sort_values(f"{metric}_mean", ascending=better == "lower").iloc[0]
        gain = abs(champion[f"{metric}_mean"] - best_baseline[f"{metric}_mean"])
        lines.append(f"- **Quality**: {metric} {champion[f'{metric}_mean']:.4f}, {gain:.4f} better than the best baseline "
                     f"(`{best_baseline.name}`, {best_baseline[f'{metric}_mean']:.4f}); required margin {config.champion.margin_over_baselines}.")
    if selection.runner_up:
        runner = by_name.loc[selection.runner_up]
        delta = abs(champion[f"{metric}_mean"] - runner[f"{metric}_mean"])
        noise = max(champion[f"{metric}_std"], runner[f"{metric}_std"])
        verdict = "within one fold standard deviation: a close call" if delta < noise else "larger than the fold-to-fold spread"
        lines += [
            f"- **Against the runner-up** `{selection.runner_up}`: {metric} differs by {delta:.4f} ({verdict}); "
            f"predicts {champion['predict_ms_per_1000_rows'] / max(runner['predict_ms_per_1000_rows'], 1e-9):.1f}x its time per row, "
            f"is {champion['size_bytes'] / max(runner['size_bytes'], 1):.1f}x its size.",
        ]
    lines += [
        f"- **Refit**: on {config.champion.refit_on.replace('_', ' ')} rows, with the settings above"
        + ("; evaluation chooses calibration and threshold on a train-only twin." if config.champion.refit_on != "train" else "."),
        f"- **Latency**: {champion['predict_ms_per_1000_rows']:.1f} ms of CPU per 1,000 rows (limit {config.champion.max_predict_ms_per_1000_rows}); "
        f"**size**: {champion['size_bytes'] / 1024:.0f} KiB; **fit**: {champion['fit_seconds']:.1f} s per fold.",
        "",
        "## Not chosen",
        *[f"- `{name}`: {why}" for name, why in selection.not_chosen.items()],
        "",
        "## Rule baselines, as fitted on the train split",
        *(_rule_lines(baseline_models) or ["- none declared"]),
        "",
        "## Declared reference results (problem.reference_results; not measured by this run, CV accuracy at 0.5)",
        *(reference_lines(leaderboard, selection.champion, spec) or ["- none declared"]),
        "",
        "## Feature selection (ranks on the train split; the table: feature_selection_table, feature_drop_effects)",
        *_feature_selection_lines(rankings, drop_effects, selection, config),
        "",
        "## Sanity check (fit one small batch; a model that cannot overfit it is broken)",
        *[f"- `{r.model}`: training accuracy {r.train_accuracy:.3f} on {r.batch_rows} rows -> {'ok' if r.sanity_passed else 'FLAGGED'}"
          for r in sanity.itertuples()],
        "",
        "## Tuned settings",
        *[f"- `{name}`: {t['best_params']} ({len(t['trials'])} trial(s), {t['seconds']} s"
          + ("; **stopped by the time budget**: settings depend on machine speed)" if t["stopped_by_time_budget"] else ")")
          for name, t in tuned.items()],
    ]
    return "\n".join(lines) + "\n"


def build_experiment_record(leaderboard: pd.DataFrame, fold_metrics: pd.DataFrame, training_curves: pd.DataFrame,
                            tuned: dict[str, Any], selection: ChampionSelection, fingerprint: str,
                            config: ModelingConfig, spec: ProblemSpec) -> dict[str, Any]:
    """Return this run's rows for the experiment log: the run, per-fold and mean metrics, curves, timings, trials."""
    metric_names = list(METRICS)
    folds = fold_metrics.melt(id_vars=["model", "role", "fold"], value_vars=metric_names, var_name="metric")
    means = [
        {"model": r["model"], "role": r["role"], "metric": m, "mean": r[f"{m}_mean"], "std": r[f"{m}_std"]}
        for _, r in leaderboard.iterrows() for m in metric_names
    ]
    trials = [
        {"model": name, "trial": i, "params_json": as_json(t["params"]), "score": t[config.primary_metric]}
        for name, result in tuned.items() for i, t in enumerate(result["trials"])
    ]
    return {
        "run": {
            "data_fingerprint": fingerprint,
            "primary_metric": config.primary_metric,
            "champion": selection.champion,
            "cv_score": selection.cv_score,
            "params_json": as_json({"modeling": config.model_dump(), "problem": spec.model_dump()}),
        },
        "fold_metrics": folds.to_dict("records"),
        "model_metrics": means,
        "step_metrics": training_curves.to_dict("records"),
        "timings": leaderboard[["model", "fit_seconds", "predict_ms_per_1000_rows", "size_bytes"]].to_dict("records"),
        "trials": trials,
    }
