"""Evaluation outputs people read: Evidently HTML, the summary, the evaluation report, the model card, the index section.

Links are relative to `data/08_reporting/` (the index page's folder) and follow the paths in
`conf/base/catalog_evaluation.yml`; the end-to-end test opens every link of a real run.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from evidently.presets import ClassificationPreset

from ml_lifecycle.estimators import ScoringModel
from ml_lifecycle.evaluation_config import EvaluationConfig
from ml_lifecycle.evidently_glue import run_report, snapshot_html
from ml_lifecycle.model_checks import RELEASED, describe_objective
from ml_lifecycle.pipelines.evaluation.nodes import evidently_rows, slug
from ml_lifecycle.registry import RegistryEvent
from ml_lifecycle.spec import ProblemSpec

REPORT_HREF = "evaluation/evaluation_report.html"
MODEL_CARD_HREF = "evaluation/model_card.md"
EVIDENTLY_TEST_HREF = "evidently/evaluation_test_classification.html"
EVIDENTLY_SLICES_FOLDER = "evidently/evaluation_slices"
DECISION_METRICS = ["accuracy", "precision", "recall", "f1", "fbeta"]


def build_test_classification_report(test_split: pd.DataFrame, test_predictions: pd.DataFrame, spec: ProblemSpec) -> str:
    """Return Evidently's classification report of the released model on the whole test split, as HTML."""
    return snapshot_html(run_report([ClassificationPreset()], evidently_rows(test_split, test_predictions), spec))


def build_slice_classification_reports(test_split: pd.DataFrame, test_predictions: pd.DataFrame, config: EvaluationConfig,
                                       spec: ProblemSpec) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Return one Evidently classification report per slice value (HTML by partition name), and an index of them.

    Evidently 0.7's GroupBy returns overall numbers for classification metrics, so each slice's
    rows are filtered and reported on their own. Slices too small or with one class get no report.
    """
    rows = evidently_rows(test_split, test_predictions)
    reports, index = {}, []
    for column in config.evidently_slice_columns or config.slice_columns(spec):
        for value, group in rows.groupby(rows[column].astype("str"), observed=True):
            entry = {"slice_column": column, "slice_value": value, "rows": len(group), "href": None, "note": ""}
            if len(group) < config.slices.min_size:
                entry["note"] = f"too small (< {config.slices.min_size} rows)"
            elif group[spec.target_column].nunique() < 2:
                entry["note"] = "one class only"
            else:
                partition = f"{column}/{slug(value)}"
                reports[partition] = snapshot_html(run_report([ClassificationPreset()], group, spec))
                entry["href"] = f"{EVIDENTLY_SLICES_FOLDER}/{partition}.html"
            index.append(entry)
    return reports, index


def summarise_evaluation(test_metrics: pd.DataFrame, threshold_choice: dict[str, Any], calibration_comparison: pd.DataFrame,
                         confidence: dict[str, Any], leak_checks: pd.DataFrame, fairness: pd.DataFrame,
                         behavioural_checks: pd.DataFrame, serving_cost: dict[str, Any], champion_selection: dict[str, Any],
                         released_model: ScoringModel, release_promotion: RegistryEvent, config: EvaluationConfig) -> dict[str, Any]:
    """Return the evaluation's headline numbers and verdicts, and the release decision with the gate's verdict."""
    by_model = test_metrics.set_index("model")
    released = by_model.loc[RELEASED]
    baselines = by_model[by_model["role"] == "baseline"].sort_values("log_loss")
    protected = fairness.dropna(subset=["largest_gap"])
    gap = protected.sort_values("largest_gap", ascending=False).iloc[0] if len(protected) else None
    calibration = calibration_comparison.set_index("method")
    metric, kept = config.calibration.selection_metric, threshold_choice["calibration"]
    scores = ", ".join(f"{method} {value:.4f}" for method, value in calibration[metric].items())
    why = "no calibration beat the raw probabilities on" if kept == "none" else f"{kept} had the best"
    return {
        "model": champion_selection["champion"],
        "fitted_on": champion_selection["refit_on"].replace("_", " "),
        "description": released_model.description,
        "threshold": threshold_choice["threshold"],
        "threshold_objective": describe_objective(threshold_choice),
        "beta": threshold_choice["beta"],
        "calibration": threshold_choice["calibration"],
        "calibration_validation": calibration.drop(columns="chosen").to_dict("index"),
        "calibration_reason": f"{why} cross-fitted validation {metric} ({scores})",
        "test_rows": int(released[["tp", "fp", "tn", "fn"]].sum()),
        "test": {k: float(released[k]) for k in ["roc_auc", "pr_auc", "log_loss", "brier", "ece", *DECISION_METRICS, "expected_cost"]},
        "confusion_matrix": {k: int(released[k]) for k in ["tp", "fp", "tn", "fn"]},
        "best_baseline": None if baselines.empty else {
            "model": baselines.index[0], "roc_auc": float(baselines["roc_auc"].iloc[0]),
            "log_loss": float(baselines["log_loss"].iloc[0]), "fbeta": float(baselines["fbeta"].iloc[0])},
        "largest_fairness_gap": None if gap is None else {
            "slice_column": gap["slice_column"], "metric": gap["largest_gap_metric"], "value": float(gap["largest_gap"]),
            "exceeds_limit": bool(gap["exceeds_limit"])},
        "fairness_gaps_over_limit": fairness.loc[fairness["exceeds_limit"], "slice_column"].tolist(),
        "possible_leaks": leak_checks.loc[leak_checks["possible_leak"], "feature"].tolist(),
        "behavioural_failures": behavioural_checks.loc[~behavioural_checks["passed"].astype(bool), "test"].tolist()
        if len(behavioural_checks) else [],
        "confidence": confidence,
        "serving": serving_cost,
        "release": {"version": release_promotion.version, "decision": release_promotion.event,
                    "gate": release_promotion.verdict.summary() if release_promotion.verdict else "not gated",
                    "rules": [r.model_dump() for r in release_promotion.verdict.rules] if release_promotion.verdict else []},
    }


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def build_index_section(evaluation_summary: dict[str, Any]) -> dict[str, Any]:
    """Return the evaluation section of `data/08_reporting/index.html`: headline numbers and links."""
    s = evaluation_summary
    gap = s["largest_fairness_gap"]
    release = s["release"]
    notes = [f"Released model: {s['description']}.",
             f"Registry version {release['version']} {release['decision']}: release gate {release['gate']}."]
    if s["possible_leaks"]:
        notes.append(f"Possible leaks flagged: {', '.join(s['possible_leaks'])}.")
    if s["behavioural_failures"]:
        notes.append(f"Behavioural tests failed: {'; '.join(s['behavioural_failures'])}.")
    if s["fairness_gaps_over_limit"]:
        notes.append(f"Fairness gaps over the limit: {', '.join(s['fairness_gaps_over_limit'])}.")
    return {
        "title": "Evaluation (test split)",
        "updated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "headline": {
            "release": f"{release['version']} {release['decision']}",
            "test ROC AUC": _fmt(s["test"]["roc_auc"]),
            "test log loss": _fmt(s["test"]["log_loss"]),
            "threshold": f"{s['threshold']:g}",
            f"test F-beta (beta {s['beta']:g})": _fmt(s["test"]["fbeta"]),
            "calibration": s["calibration"],
            "largest fairness gap": "n/a" if gap is None else f"{gap['value']:.3f} ({gap['slice_column']}, {gap['metric']})",
        },
        "links": [
            {"label": "Evaluation report", "href": REPORT_HREF},
            {"label": "Model card", "href": MODEL_CARD_HREF},
            {"label": "Release gate verdict", "href": f"{REPORT_HREF}#gate"},
            {"label": "Evidently: classification on the test split", "href": EVIDENTLY_TEST_HREF},
            {"label": "Evidently: per-slice classification reports", "href": f"{REPORT_HREF}#evidently"},
            {"label": "Why this champion (selection rationale)", "href": f"{REPORT_HREF}#rationale"},
        ],
        "notes": notes,
    }


def _table(frame: pd.DataFrame, digits: int = 4) -> str:
    """Return a DataFrame as an HTML table with rounded numbers."""
    return frame.to_html(index=False, border=0, classes="t", na_rep="–", float_format=lambda v: f"{v:.{digits}f}")


def _figures_html(figures: list[go.Figure]) -> list[str]:
    """Return each figure as an HTML fragment; plotly.js is inlined once so the page works offline."""
    return [pio.to_html(f, full_html=False, include_plotlyjs=i == 0, default_height="480px") for i, f in enumerate(figures)]


def _slice_links(slice_index: list[dict[str, Any]]) -> str:
    items = []
    for entry in slice_index:
        label = html.escape(f"{entry['slice_column']} = {entry['slice_value']} ({entry['rows']} rows)")
        items.append(f'<li><a href="../{html.escape(entry["href"])}">{label}</a></li>' if entry["href"]
                     else f"<li>{label}: no report, {html.escape(entry['note'])}</li>")
    return "<ul class='cols'>" + "".join(items) + "</ul>"


def write_evaluation_report(evaluation_summary: dict[str, Any], test_metrics: pd.DataFrame, calibration_comparison: pd.DataFrame,
                            confidence_bins: pd.DataFrame, leak_checks: pd.DataFrame, slice_metrics: pd.DataFrame,
                            fairness: pd.DataFrame, behavioural_checks: pd.DataFrame, slice_index: list[dict[str, Any]],
                            champion_rationale: str, roc_pr_curves_chart: go.Figure, threshold_tradeoff_chart: go.Figure,
                            reliability_chart: go.Figure, confidence_chart: go.Figure, feature_importance_chart: go.Figure,
                            slice_errors_chart: go.Figure, config: EvaluationConfig) -> str:
    """Return the evaluation report: one self-contained HTML page with every table and chart."""
    s = evaluation_summary
    roc, threshold, reliability, confidence, importance, slices = _figures_html(
        [roc_pr_curves_chart, threshold_tradeoff_chart, reliability_chart, confidence_chart, feature_importance_chart,
         slice_errors_chart])
    test, conf = s["test"], s["confidence"]
    cm = s["confusion_matrix"]
    baseline = s["best_baseline"]
    verdicts = [
        f"Released model: <b>{html.escape(s['description'])}</b>.",
        f"On {s['test_rows']:,} test rows: ROC AUC <b>{test['roc_auc']:.4f}</b>, log loss <b>{test['log_loss']:.4f}</b>, "
        f"F-beta (beta {s['beta']:g}) <b>{test['fbeta']:.4f}</b> at threshold <b>{s['threshold']:g}</b>.",
    ]
    if baseline:
        verdicts.append(f"Best baseline by log loss: {html.escape(baseline['model'])} (ROC AUC {baseline['roc_auc']:.4f}, "
                        f"log loss {baseline['log_loss']:.4f}).")
    verdicts.append("Possible leaks: " + (html.escape(", ".join(s["possible_leaks"])) or "none") + ".")
    verdicts.append("Behavioural tests failed: " + (html.escape("; ".join(s["behavioural_failures"])) or "none") + ".")
    verdicts.append(f"Fairness gaps over {config.slices.max_fairness_gap}: "
                    + (html.escape(", ".join(s["fairness_gaps_over_limit"])) or "none") + ".")
    ranked = (slice_metrics.drop(columns=["too_small"]).astype({"rank": "Int64"})
              .rename(columns={"slice_column": "slice", "slice_value": "value"}))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Evaluation report: {html.escape(s['model'])}</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:80rem;margin:2rem auto;padding:0 1rem;color:#222}}
h2{{border-top:1px solid #ddd;padding-top:1rem}} table.t{{border-collapse:collapse;font-size:0.85rem;margin:0.5rem 0}}
table.t th,table.t td{{padding:0.2rem 0.5rem;border-bottom:1px solid #eee;text-align:right}}
table.t th{{background:#f4f6fa}} ul.cols{{columns:3}} pre{{background:#f8f8f8;padding:1rem;white-space:pre-wrap}}
.note{{color:#555}}
</style></head><body>
<h1>Evaluation report: {html.escape(s['model'])}</h1>
<p class="note">Calibration and threshold were chosen on the validation split; every number below is on the test split
unless marked. How to read each part: docs/evaluation.md.</p>
<h2 id="summary">Summary</h2><ul>{''.join(f'<li>{v}</li>' for v in verdicts)}</ul>
<h2 id="gate">Release gate</h2>
<p>Registry version <b>{html.escape(s['release']['version'])}</b>: <b>{html.escape(s['release']['decision'])}</b>
(gate {html.escape(s['release']['gate'])}). Rules from <code>parameters_release.yml</code>, judged on the frozen holdout;
a failed <i>block</i> rule keeps the incumbent serving (docs/release_gate.md).</p>
{_table(pd.DataFrame(s['release']['rules'], columns=["rule", "severity", "passed", "value", "limit", "detail"]))}
<h2 id="metrics">Test metrics against the baselines</h2>
<p class="note">Each model is scored at its own threshold, chosen on the validation split by the same objective
({html.escape(s['threshold_objective'])}). ECE: expected calibration error ({config.calibration.bins} bins).</p>
{_table(test_metrics)}
<p>Confusion matrix of the released model: {cm['tp']:,} true positives, {cm['fp']:,} false positives,
{cm['tn']:,} true negatives, {cm['fn']:,} false negatives.</p>
{roc}
<h2 id="threshold">Decision threshold</h2>
<p>Threshold <b>{s['threshold']:g}</b> by {html.escape(s['threshold_objective'])}, applied to the
{'uncalibrated' if s['calibration'] == 'none' else html.escape(s['calibration']) + '-calibrated'} probabilities. It is stored with the model in the registry, so inference and
serving use it.</p>
{threshold}
<h2 id="calibration">Calibration</h2>
<p>Kept: <b>{html.escape(s['calibration'])}</b>: {html.escape(s['calibration_reason'])}. Each method was judged on the
validation split by cross-fitting ({config.calibration.folds} folds: each fold scored by a calibrator fitted on the
others), and is kept only when better than none by more than {config.calibration.min_improvement}; the kept one is then
fitted on the whole validation split.</p>
{_table(calibration_comparison)}
{reliability}
<h2 id="confidence">Confidence</h2>
<p>Low-confidence band (probability within {config.confidence.abstain_margin} of the threshold:
{conf['abstain_band'][0]:g}–{conf['abstain_band'][1]:g}): <b>{conf['low_confidence_share']:.1%}</b> of test rows, error rate
{_fmt(conf['low_confidence_error_rate'])} against {_fmt(conf['confident_error_rate'])} outside it.</p>
{_table(confidence_bins)}
{confidence}
<h2 id="importance">Feature importance and leak check</h2>
<p class="note">Permutation importance: drop in {config.importance.scoring} on up to {config.importance.permutation_rows:,}
test rows, {config.importance.permutation_repeats} repeats. Native: the model's own importances (CatBoost's
PredictionValuesChange, or a tree model's impurity importances) per ensemble member. A feature is flagged when it alone
reaches ROC AUC above {config.leak_check.max_single_feature_auc} or holds more than {config.leak_check.max_importance_share}
of the importance.</p>
{_table(leak_checks, 3)}
{importance}
<h2 id="slices">Slices and error analysis</h2>
<p class="note">Ranked by priority = max(error-rate gap to overall, 0) × share of data. Slices under
{config.slices.min_size} rows are listed last, unranked (too small to judge).</p>
{_table(ranked, 3)}
{slices}
<h2 id="fairness">Fairness gaps</h2>
<p class="note">Per protected attribute: the largest between-group difference in selection rate (demographic parity),
true-positive rate and false-positive rate, over groups of at least {config.slices.min_size} rows; limit
{config.slices.max_fairness_gap}. The base-rate difference (between the groups' shares of actual positives) is
context: a selection-rate gap partly follows it.</p>
{_table(fairness, 3)}
<h2 id="behaviour">Behavioural tests</h2>
{_table(behavioural_checks)}
<h2 id="evidently">Evidently reports</h2>
<p><a href="../{EVIDENTLY_TEST_HREF}">Classification report on the whole test split</a>. Per slice:</p>
{_slice_links(slice_index)}
<h2 id="rationale">Why this champion (from the modeling pipeline)</h2>
<pre>{html.escape(champion_rationale)}</pre>
</body></html>
"""


def _markdown_table(frame: pd.DataFrame, digits: int = 4) -> str:
    """Return a DataFrame as a Markdown table."""
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return "–" if pd.isna(value) else f"{value:.{digits}f}"
        return str(value).replace("|", "\\|")
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + " --- |" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def write_model_card(evaluation_summary: dict[str, Any], test_metrics: pd.DataFrame, slice_metrics: pd.DataFrame,
                     fairness: pd.DataFrame, behavioural_checks: pd.DataFrame, train_split: pd.DataFrame,
                     validation_split: pd.DataFrame, config: EvaluationConfig, spec: ProblemSpec) -> str:
    """Return the model card (Markdown): use, data, metrics overall and per slice, threshold, calibration, limits, cost."""
    s = evaluation_summary
    serving, card = s["serving"], config.model_card
    metrics = test_metrics[["model", "role", "threshold", "roc_auc", "log_loss", "brier", "ece", *DECISION_METRICS]]
    per_slice = slice_metrics.sort_values(["slice_column", "slice_value"])[
        ["slice_column", "slice_value", "rows", "error_rate", "precision", "recall", "roc_auc", "too_small"]]
    limits = list(card.known_limits)
    small = [f"{r.slice_column} = {r.slice_value}" for r in slice_metrics[slice_metrics["too_small"]].itertuples()]
    if small:
        limits.append(f"Too few test rows (< {config.slices.min_size}) to judge: {', '.join(small)}.")
    if s["fairness_gaps_over_limit"]:
        limits.append(f"Fairness gaps above {config.slices.max_fairness_gap} for: {', '.join(s['fairness_gaps_over_limit'])}.")
    if s["possible_leaks"]:
        limits.append(f"Possible leaks to investigate before use: {', '.join(s['possible_leaks'])}.")
    if s["behavioural_failures"]:
        limits.append(f"Failed behavioural tests: {'; '.join(s['behavioural_failures'])}.")
    conf = s["confidence"]
    limits.append(f"{conf['low_confidence_share']:.1%} of test predictions fall within {config.confidence.abstain_margin} "
                  f"of the threshold; their error rate is {_fmt(conf['low_confidence_error_rate'])}.")
    positive_rate = pd.concat([train_split, validation_split])[spec.target_column].mean()
    dropped = "; ".join(f"`{c}` ({why})" for c, why in spec.dropped_columns.items()) or "none"
    lines = [
        f"# Model card: {s['model']}",
        "",
        f"Released model: {s['description']}. Registered as `{s['release']['version']}`: "
        + ("promoted to champion by the release gate; inference and serving use it, threshold included."
           if s["release"]["decision"] == "promoted" else
           "**blocked by the release gate**: the incumbent keeps serving (see Release gate)."),
        "",
        "## Intended use",
        card.intended_use.strip(),
        "",
        "Not for: " + card.out_of_scope.strip(),
        "",
        "## Data",
        f"- Source: `{spec.raw.folder}` (`{spec.raw.train_file}`" + (f", `{spec.raw.test_file}`" if spec.raw.test_file else "") + ").",
        f"- Target: `{spec.target_column}` = 1 when `{spec.target.column}` is `{spec.target.positive_label}`; "
        f"positive rate {positive_rate:.3f} in train + validation.",
        f"- Rows: {len(train_split):,} train, {len(validation_split):,} validation (calibration and threshold), {s['test_rows']:,} test. "
        f"The model was fitted on the {s['fitted_on']} rows; calibration and threshold come from validation predictions "
        "of a model that had not seen them.",
        f"- Features: {', '.join(f'`{c}`' for c in spec.features)}. Not used: {dropped}.",
        f"- Protected attributes: {', '.join(f'`{c}`' for c in spec.protected_attributes) or 'none'}.",
        "",
        "## Metrics on the test split",
        _markdown_table(metrics),
        "",
        "### Per slice (released model)",
        _markdown_table(per_slice, 3),
        "",
        "### Fairness gaps",
        _markdown_table(fairness[["slice_column", "demographic_parity_difference", "true_positive_rate_difference",
                                  "false_positive_rate_difference", "base_rate_difference", "exceeds_limit"]], 3),
        "",
        "## Release gate",
        f"{s['release']['gate']} (`parameters_release.yml`, on the frozen holdout; docs/release_gate.md):",
        "",
        _markdown_table(pd.DataFrame(s["release"]["rules"], columns=["rule", "severity", "passed", "value", "limit"])),
        "",
        "## Decision threshold",
        f"{s['threshold']:g}, chosen by {s['threshold_objective']}. Stored with the model: `predict` applies it.",
        "",
        "## Calibration",
        f"{s['calibration']}, fitted on the validation split; chosen by cross-fitted {config.calibration.selection_metric} "
        "against no calibration:",
        "",
        _markdown_table(pd.DataFrame(s["calibration_validation"]).T.reset_index(names="method")),
        "",
        "## Behavioural tests",
        _markdown_table(behavioural_checks[["test", "value", "limit", "passed"]]) if len(behavioural_checks) else "None declared.",
        "",
        "## Known limits",
        *[f"- {limit}" for limit in limits],
        "",
        "## Computational cost",
        f"- Fit: {serving['cv_fit_seconds_per_fold']:.2f} s per cross-validation fold (modeling leaderboard).",
        f"- Predict: {serving['predict_ms_per_1000_rows']:.1f} ms per 1,000 rows; {serving['single_row_predict_ms']:.2f} ms "
        "for one row (median, in process).",
        f"- Size: {serving['size_bytes'] / 1024:,.0f} KiB pickled (model, calibration and threshold).",
    ]
    return "\n".join(lines) + "\n"
