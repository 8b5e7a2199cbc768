"""Evaluation charts: plotly figures saved as catalog entries (kedro-viz previews them) and embedded in the report."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from sklearn.metrics import precision_recall_curve, roc_curve

from ml_lifecycle.artifacts import ThresholdChoice
from ml_lifecycle.evaluation_config import EvaluationConfig
from ml_lifecycle.model_checks import RELEASED, probability_column
from ml_lifecycle.spec import ProblemSpec


def plot_roc_pr_curves(test_predictions: pd.DataFrame, test_metrics: pd.DataFrame, spec: ProblemSpec) -> go.Figure:
    """Return the ROC and precision-recall curves on test of every model, the released model's operating point marked."""
    y = test_predictions[spec.target_column].to_numpy()
    figure = make_subplots(rows=1, cols=2, subplot_titles=["ROC curve (test)", "Precision-recall curve (test)"])
    for row in test_metrics.itertuples():
        proba = test_predictions[probability_column(row.model)].to_numpy()
        fpr, tpr, _ = roc_curve(y, proba)
        precision, recall, _ = precision_recall_curve(y, proba)
        width = 3 if row.model == RELEASED else 1.5
        figure.add_trace(go.Scatter(x=fpr, y=tpr, mode="lines", name=f"{row.model} (AUC {row.roc_auc:.3f})",
                                    legendgroup=row.model, line={"width": width}), row=1, col=1)
        figure.add_trace(go.Scatter(x=recall, y=precision, mode="lines", name=f"{row.model} (AP {row.pr_auc:.3f})",
                                    legendgroup=row.model, showlegend=False, line={"width": width}), row=1, col=2)
    released = test_metrics.set_index("model").loc[RELEASED]
    fpr_at = released["fp"] / max(released["fp"] + released["tn"], 1)
    figure.add_trace(go.Scatter(x=[fpr_at], y=[released["recall"]], mode="markers", marker={"size": 12, "symbol": "x"},
                                name=f"released at threshold {released['threshold']:g}"), row=1, col=1)
    figure.add_trace(go.Scatter(x=[released["recall"]], y=[released["precision"]], mode="markers", showlegend=False,
                                marker={"size": 12, "symbol": "x"}), row=1, col=2)
    figure.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": "grey"}, name="chance"),
                     row=1, col=1)
    figure.update_xaxes(title_text="false positive rate", row=1, col=1)
    figure.update_yaxes(title_text="true positive rate", row=1, col=1)
    figure.update_xaxes(title_text="recall", row=1, col=2)
    figure.update_yaxes(title_text="precision", row=1, col=2)
    return figure


def plot_threshold_tradeoff(threshold_curve: pd.DataFrame, threshold_choice: ThresholdChoice) -> go.Figure:
    """Return precision, recall, F-beta, positive rate and expected cost against the threshold (validation split)."""
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    for column in ("precision", "recall", "fbeta", "positive_rate"):
        name = f"F-beta (beta {threshold_choice.beta:g})" if column == "fbeta" else column.replace("_", " ")
        figure.add_trace(go.Scatter(x=threshold_curve["threshold"], y=threshold_curve[column], mode="lines", name=name))
    figure.add_trace(go.Scatter(x=threshold_curve["threshold"], y=threshold_curve["expected_cost"], mode="lines",
                                name="expected cost per row", line={"dash": "dash"}), secondary_y=True)
    figure.add_vline(x=threshold_choice.threshold, line_dash="dot",
                     annotation_text=f"chosen {threshold_choice.threshold:g}")
    figure.update_layout(title=f"Threshold trade-off on the validation split (objective: {threshold_choice.objective})")
    figure.update_xaxes(title_text="threshold")
    figure.update_yaxes(title_text="rate", secondary_y=False)
    figure.update_yaxes(title_text="expected cost", secondary_y=True)
    return figure


def plot_reliability(reliability: pd.DataFrame) -> go.Figure:
    """Return the reliability diagram on test: observed positive rate against mean predicted probability per bin."""
    figure = go.Figure(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": "grey"},
                                  name="perfectly calibrated"))
    for model, bins in reliability.groupby("model", sort=False):
        figure.add_trace(go.Scatter(x=bins["mean_probability"], y=bins["observed_rate"], mode="lines+markers", name=model,
                                    text=[f"{r} rows" for r in bins["rows"]],
                                    marker={"size": np.clip(np.sqrt(bins["rows"]), 5, 25)}))
    figure.update_layout(title="Reliability diagram (test split; marker size ~ rows in bin)",
                         xaxis_title="mean predicted probability", yaxis_title="observed positive rate")
    return figure


def plot_confidence(test_predictions: pd.DataFrame, confidence_bins: pd.DataFrame, confidence: dict[str, Any],
                    config: EvaluationConfig, spec: ProblemSpec) -> go.Figure:
    """Return the distribution of predicted probabilities by true class, accuracy per bin and the abstain band."""
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    proba = test_predictions[probability_column(RELEASED)]
    for label, rows in proba.groupby(test_predictions[spec.target_column]):
        figure.add_trace(go.Histogram(x=rows, name=f"true class {label}", opacity=0.6,
                                      xbins={"start": 0, "end": 1, "size": 1 / config.confidence.bins}))
    centres = (np.arange(config.confidence.bins) + 0.5) / config.confidence.bins
    figure.add_trace(go.Scatter(x=centres, y=confidence_bins["accuracy"], mode="lines+markers", name="accuracy in bin"),
                     secondary_y=True)
    low, high = confidence["abstain_band"]
    figure.add_vrect(x0=low, x1=high, fillcolor="orange", opacity=0.15, line_width=0,
                     annotation_text=f"low confidence: {confidence['low_confidence_share']:.1%} of rows")
    figure.update_layout(barmode="overlay", title="Predicted probabilities on test, by true class")
    figure.update_xaxes(title_text="predicted probability (released model)")
    figure.update_yaxes(title_text="rows", secondary_y=False)
    figure.update_yaxes(title_text="accuracy", range=[0, 1.05], secondary_y=True)
    return figure


def plot_importance(leak_checks: pd.DataFrame, config: EvaluationConfig) -> go.Figure:
    """Return each feature's share of importance and its single-feature ROC AUC, with the leak limit and the model's ROC AUC."""
    table = leak_checks.sort_values("permutation_share")
    shares = ["permutation_share", *[c for c in table.columns if c.startswith("native_share_")]]
    figure = make_subplots(rows=1, cols=2, shared_yaxes=True,
                           subplot_titles=["Share of importance", "ROC AUC of the feature alone"])
    for column in shares:
        figure.add_trace(go.Bar(y=table["feature"], x=table[column], orientation="h",
                                name=column.replace("_share", "").replace("_", " ")), row=1, col=1)
    figure.add_trace(go.Bar(y=table["feature"], x=table["single_feature_auc"], orientation="h", name="single-feature AUC",
                            marker_color=np.where(table["possible_leak"], "crimson", "grey")), row=1, col=2)
    figure.add_vline(x=config.leak_check.max_single_feature_auc, line_dash="dot", row=1, col=2)
    figure.add_vline(x=float(table["model_auc"].iloc[0]), line_dash="dash", line_color="green", row=1, col=2)
    figure.update_xaxes(range=[0.5, 1], row=1, col=2)
    figure.update_layout(barmode="group", title="Feature importance and leak check (dotted: leak limit; dashed: the whole model; red: flagged)",
                         height=max(400, 30 * len(table)))
    return figure


def plot_slice_errors(slice_metrics: pd.DataFrame) -> go.Figure:
    """Return the error rate of every slice against the overall rate; too-small slices drawn pale."""
    table = slice_metrics.sort_values(["slice_column", "error_rate"])
    overall = float((table["error_rate"] - table["gap_to_overall"]).iloc[0])
    labels = table["slice_column"] + " = " + table["slice_value"]
    figure = go.Figure(go.Bar(x=table["error_rate"], y=labels, orientation="h",
                              marker_color=np.where(table["too_small"], "lightgrey", "steelblue"),
                              text=[f"{r} rows" for r in table["rows"]], hovertemplate="%{y}: %{x:.3f} (%{text})"))
    figure.add_vline(x=overall, line_dash="dot", annotation_text=f"overall {overall:.3f}")
    figure.update_layout(title="Error rate per slice on test (grey: too small to judge)", xaxis_title="error rate",
                         height=max(400, 22 * len(table)))
    return figure
