"""The pages people read: the evaluation report (HTML) and the model card (Markdown), rendered from the
templates `evaluation_report.html.j2` and `model_card.md.j2`.

Links are relative to `data/08_reporting/` (the index page's folder) and follow the paths in
`conf/base/catalog_evaluation.yml`; the end-to-end test opens every link of a real run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from markupsafe import Markup

from ml_lifecycle.evaluation_config import EvaluationConfig
from ml_lifecycle.pages import html_table, markdown_table, render
from ml_lifecycle.pipelines.evaluation.evidently_reports import EVIDENTLY_TEST_HREF
from ml_lifecycle.pipelines.evaluation.nodes import DECISION_METRICS
from ml_lifecycle.pipelines.evaluation.results import ReleaseFindings, TestResults
from ml_lifecycle.pipelines.evaluation.summary import finding_notes
from ml_lifecycle.spec import ProblemSpec

GATE_COLUMNS = ["rule", "severity", "passed", "value", "limit", "detail"]


@dataclass(frozen=True)
class ReportCharts:
    """The evaluation report's charts, in the order the page shows them."""

    roc_pr: go.Figure
    threshold: go.Figure
    reliability: go.Figure
    confidence: go.Figure
    importance: go.Figure
    slice_errors: go.Figure


def gather_charts(roc_pr: go.Figure, threshold: go.Figure, reliability: go.Figure, confidence: go.Figure,
                  importance: go.Figure, slice_errors: go.Figure) -> ReportCharts:
    """Return the report's charts as one object."""
    return ReportCharts(roc_pr, threshold, reliability, confidence, importance, slice_errors)


def _figures(charts: ReportCharts) -> dict[str, Markup]:
    """Return each chart as an HTML fragment; plotly.js is inlined once so the page works offline."""
    names = ["roc", "threshold", "reliability", "confidence", "importance", "slices"]
    figures = [charts.roc_pr, charts.threshold, charts.reliability, charts.confidence, charts.importance, charts.slice_errors]
    return {name: Markup(pio.to_html(figure, full_html=False, include_plotlyjs=i == 0, default_height="480px"))
            for i, (name, figure) in enumerate(zip(names, figures, strict=True))}


def write_evaluation_report(summary: dict[str, Any], results: TestResults, findings: ReleaseFindings, charts: ReportCharts,
                            slice_index: list[dict[str, Any]], rationale: str, config: EvaluationConfig) -> str:
    """Return the evaluation report: one self-contained HTML page with every table and chart."""
    ranked = (findings.slices.drop(columns=["too_small"]).astype({"rank": "Int64"})
              .rename(columns={"slice_column": "slice", "slice_value": "value"}))
    rendered = {
        "gate": html_table(pd.DataFrame(summary["release"]["rules"], columns=GATE_COLUMNS)),
        "metrics": html_table(results.metrics), "intervals": html_table(results.intervals),
        "references": html_table(results.references),
        "calibration": html_table(results.calibration),
        "confidence": html_table(results.confidence_bins), "leaks": html_table(findings.leaks, 3),
        "slices": html_table(ranked, 3), "fairness": html_table(findings.fairness, 3), "behaviour": html_table(findings.behaviour),
    }
    return render("evaluation_report.html.j2", s=summary, config=config, tables=rendered, charts=_figures(charts),
                  slice_index=slice_index, rationale=rationale, evidently_test_href=EVIDENTLY_TEST_HREF,
                  references=len(results.references) > 0)


def known_limits(summary: dict[str, Any], slices: pd.DataFrame, config: EvaluationConfig) -> list[str]:
    """Return the model card's known limits: the declared ones, then what this evaluation found."""
    limits = list(config.model_card.known_limits)
    small = [f"{r.slice_column} = {r.slice_value}" for r in slices[slices["too_small"]].itertuples()]
    if small:
        limits.append(f"Too few test rows (< {config.slices.min_size}) to judge: {', '.join(small)}.")
    limits += finding_notes(summary)
    conf = summary["confidence"]
    rate = conf["low_confidence_error_rate"]
    limits.append(f"{conf['low_confidence_share']:.1%} of test predictions fall within {config.confidence.abstain_margin} "
                  f"of the threshold; their error rate is {'–' if rate is None else f'{rate:.3f}'}.")
    return limits


def write_model_card(summary: dict[str, Any], results: TestResults, findings: ReleaseFindings, train_split: pd.DataFrame,
                     validation_split: pd.DataFrame, config: EvaluationConfig, spec: ProblemSpec) -> str:
    """Return the model card (Markdown): use, data, metrics overall and per slice, gate, threshold, calibration, limits, cost."""
    per_slice = findings.slices.sort_values(["slice_column", "slice_value"])[
        ["slice_column", "slice_value", "rows", "error_rate", "precision", "recall", "roc_auc", "too_small"]]
    fairness = findings.fairness[["slice_column", "demographic_parity_difference", "true_positive_rate_difference",
                                "false_positive_rate_difference", "base_rate_difference", "exceeds_limit"]]
    rendered = {
        "metrics": markdown_table(results.metrics[["model", "role", "threshold", "roc_auc", "log_loss", "brier", "ece",
                                                  *DECISION_METRICS]]),
        "intervals": markdown_table(results.intervals[["metric", "value", "low", "high"]]),
        "references": markdown_table(results.references.drop(columns="status")) if len(results.references) else "",
        "slices": markdown_table(per_slice, 3), "fairness": markdown_table(fairness, 3),
        "gate": markdown_table(pd.DataFrame(summary["release"]["rules"], columns=GATE_COLUMNS[:-1])),
        "calibration": markdown_table(pd.DataFrame(summary["calibration_validation"]).T.reset_index(names="method")),
        "behaviour": markdown_table(findings.behaviour[["test", "value", "limit", "passed"]]) if len(findings.behaviour)
        else "None declared.",
    }
    labelled = pd.concat([train_split, validation_split])[spec.target_column]
    return render("model_card.md.j2", s=summary, card=config.model_card, spec=spec, config=config, tables=rendered,
                  limits=known_limits(summary, findings.slices, config), positive_rate=float(labelled.mean()),
                  rows={"train": len(train_split), "validation": len(validation_split)})
