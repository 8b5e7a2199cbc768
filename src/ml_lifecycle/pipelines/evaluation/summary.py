"""The evaluation's headline numbers and verdicts, and its section of the report index."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd

from ml_lifecycle.artifacts import ChampionSelection, ThresholdChoice
from ml_lifecycle.estimators import ScoringModel
from ml_lifecycle.evaluation_config import EvaluationConfig
from ml_lifecycle.model_checks import RELEASED, VALUE, describe_objective
from ml_lifecycle.pages import number
from ml_lifecycle.pipelines.evaluation.evidently_reports import EVIDENTLY_TEST_HREF
from ml_lifecycle.pipelines.evaluation.nodes import DECISION_METRICS
from ml_lifecycle.pipelines.evaluation.results import ReleaseFindings, TestResults
from ml_lifecycle.registry import RegistryEvent
from ml_lifecycle.report_index import IndexSection, Link
from ml_lifecycle.spec import ProblemSpec

REPORT_HREF = "evaluation/evaluation_report.html"
MODEL_CARD_HREF = "evaluation/model_card.md"


def summarise_evaluation(results: TestResults, findings: ReleaseFindings, threshold_choice: ThresholdChoice,
                         champion_selection: ChampionSelection, released_model: ScoringModel, release_promotion: RegistryEvent,
                         config: EvaluationConfig, spec: ProblemSpec) -> dict[str, Any]:
    """Return the evaluation's headline numbers and verdicts, and the release decision with the gate's verdict."""
    fairness, leak_checks, behavioural_checks = findings.fairness, findings.leaks, findings.behaviour
    by_model = results.metrics.set_index("model")
    released = by_model.loc[RELEASED]
    baselines = by_model[by_model["role"] == "baseline"].sort_values("log_loss")
    protected = fairness.dropna(subset=["largest_gap"])
    gap = protected.sort_values("largest_gap", ascending=False).iloc[0] if len(protected) else None
    calibration = results.calibration.set_index("method")
    metric, kept = config.calibration.selection_metric, threshold_choice.calibration
    scores = ", ".join(f"{method} {value:.4f}" for method, value in calibration[metric].items())
    why = "no calibration beat the raw probabilities on" if kept == "none" else f"{kept} had the best"
    return {
        "model": champion_selection.champion,
        "fitted_on": champion_selection.refit_on.replace("_", " "),
        "feature_subset": champion_selection.feature_subset.model_dump() if champion_selection.feature_subset else None,
        "primary_metric": champion_selection.primary_metric,
        "description": released_model.description,
        "threshold": threshold_choice.threshold,
        "threshold_objective": describe_objective(threshold_choice),
        "beta": threshold_choice.beta,
        "calibration": threshold_choice.calibration,
        "calibration_validation": calibration.drop(columns="chosen").to_dict("index"),
        "calibration_reason": f"{why} cross-fitted validation {metric} ({scores})",
        "test_rows": int(released[["tp", "fp", "tn", "fn"]].sum()),
        "test": {k: float(released[k]) for k in ["roc_auc", "pr_auc", "log_loss", "brier", "ece", *DECISION_METRICS, "expected_cost"]},
        "test_intervals": {row.metric: [row.low, row.high] for row in results.intervals.itertuples()},
        "interval_confidence": float(results.intervals["confidence"].iloc[0]),
        "confusion_matrix": {k: int(released[k]) for k in ["tp", "fp", "tn", "fn"]},
        "best_baseline": None if baselines.empty else {
            "model": baselines.index[0], "roc_auc": float(baselines["roc_auc"].iloc[0]),
            "log_loss": float(baselines["log_loss"].iloc[0]), "fbeta": float(baselines["fbeta"].iloc[0])},
        "largest_fairness_gap": None if gap is None else {
            "slice_column": gap["slice_column"], "metric": gap["largest_gap_metric"], "value": float(gap["largest_gap"]),
            "exceeds_limit": bool(gap["exceeds_limit"])},
        "fairness_gaps_over_limit": fairness.loc[fairness["exceeds_limit"], "slice_column"].tolist(),
        "fairness_limit": config.slices.max_fairness_gap,
        "possible_leaks": leak_checks.loc[leak_checks["possible_leak"], "feature"].tolist(),
        "behavioural_failures": behavioural_checks.loc[~behavioural_checks["passed"].astype(bool), "test"].tolist()
        if len(behavioural_checks) else [],
        "confidence": results.confidence,
        "serving": results.serving_cost,
        "value": _decision_value(by_model, spec),
        "release": {"version": release_promotion.version, "decision": release_promotion.event,
                    "gate": release_promotion.verdict.summary() if release_promotion.verdict else "not gated",
                    "rules": [r.model_dump() for r in release_promotion.verdict.rules] if release_promotion.verdict else []},
    }



def _decision_value(by_model: pd.DataFrame, spec: ProblemSpec) -> dict[str, Any] | None:
    """Return the value per 1,000 test decisions of the released model and of every other model, when one is declared."""
    if spec.decision_value is None:
        return None
    return {"currency": spec.decision_value.currency, "released": float(by_model.loc[RELEASED, VALUE]),
            "others": {name: float(v) for name, v in by_model[VALUE].drop(RELEASED).items()}}


def finding_notes(summary: dict[str, Any]) -> list[str]:
    """Return one sentence per kind of problem the evaluation found: fairness gaps, possible leaks, failed behavioural tests."""
    notes = []
    if summary["fairness_gaps_over_limit"]:
        notes.append(f"Fairness gaps above {summary['fairness_limit']} for: {', '.join(summary['fairness_gaps_over_limit'])}.")
    if summary["possible_leaks"]:
        notes.append(f"Possible leaks to investigate before use: {', '.join(summary['possible_leaks'])}.")
    if summary["behavioural_failures"]:
        notes.append(f"Failed behavioural tests: {'; '.join(summary['behavioural_failures'])}.")
    return notes


def with_interval(summary: dict[str, Any], metric: str) -> str:
    """Return a test metric with its bootstrap interval, e.g. '0.9123 [0.9051, 0.9190]'."""
    low, high = summary["test_intervals"][metric]
    return f"{number(summary['test'][metric])} [{number(low)}, {number(high)}]"


def build_index_section(evaluation_summary: dict[str, Any]) -> IndexSection:
    """Return the evaluation section of `data/08_reporting/index.html`: headline numbers and links."""
    s = evaluation_summary
    gap = s["largest_fairness_gap"]
    release = s["release"]
    notes = [f"Released model: {s['description']}.",
             f"Registry version {release['version']} {release['decision']}: release gate {release['gate']}."]
    notes += finding_notes(s)
    return IndexSection(
        title="Evaluation (test split)",
        updated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        headline={
            "release": f"{release['version']} {release['decision']}",
            "test ROC AUC": with_interval(s, "roc_auc"),
            "test log loss": with_interval(s, "log_loss"),
            "threshold": f"{s['threshold']:g}",
            f"test F-beta (beta {s['beta']:g})": with_interval(s, "fbeta"),
            "calibration": s["calibration"],
            "largest fairness gap": "n/a" if gap is None else f"{gap['value']:.3f} ({gap['slice_column']}, {gap['metric']})",
        } | ({} if s["value"] is None else
             {f"test value per 1,000 decisions ({s['value']['currency']})": f"{s['value']['released']:,.0f}"}),
        links=[
            Link(label="Evaluation report", href=REPORT_HREF),
            Link(label="Model card", href=MODEL_CARD_HREF),
            Link(label="Release gate verdict", href=f"{REPORT_HREF}#gate"),
            Link(label="Evidently: classification on the test split", href=EVIDENTLY_TEST_HREF),
            Link(label="Evidently: per-slice classification reports", href=f"{REPORT_HREF}#evidently"),
            Link(label="Why this champion (selection rationale)", href=f"{REPORT_HREF}#rationale"),
        ],
        notes=notes,
    )
