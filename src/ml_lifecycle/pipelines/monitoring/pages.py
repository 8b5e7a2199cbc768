"""What people open: the monitoring chart, the overview page (template `monitoring_overview.html.j2`) and the index section."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from markupsafe import Markup
from plotly.subplots import make_subplots

from ml_lifecycle.pages import html_table, render
from ml_lifecycle.pipelines.monitoring.columns import (
    BATCH,
    SCENARIO,
    SOURCE,
)
from ml_lifecycle.report_index import IndexSection, Link


def plot_monitoring_summary(summary: pd.DataFrame) -> go.Figure:
    """Return the batches over time: drift share, prediction drift and ROC AUC against each batch's limits, alerts in red."""
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.12,
                           subplot_titles=("Drift (each batch's limits: grey marks)", "ROC AUC, labelled batches (limit: grey marks)"))
    colours = summary["alert"].map({True: "crimson", False: "seagreen"}).tolist()
    hover = summary[BATCH] + " (" + summary[SCENARIO].fillna(summary[SOURCE]) + "): " + summary["reason"]
    # Limits follow each batch's size (drift, calibrated on the reference) and class balance (ROC AUC).
    for column, row in (("drift_share", 1), ("prediction_drift", 1), ("roc_auc", 2)):
        figure.add_trace(go.Scatter(x=summary[BATCH], y=summary[column], name=column, mode="lines+markers",
                                    marker={"color": colours, "size": 10}, hovertext=hover), row=row, col=1)
        figure.add_trace(go.Scatter(x=summary[BATCH], y=summary[f"{column}_limit"], name=f"{column} limit", mode="markers",
                                    marker={"symbol": "line-ew-open", "size": 16, "color": "grey"}), row=row, col=1)
    # Estimated beside realised: the estimate covers unlabelled batches too (CBPE, estimation.py).
    figure.add_trace(go.Scatter(x=summary[BATCH], y=summary["estimated_roc_auc"], name="estimated roc_auc (no labels needed)",
                                mode="lines+markers", line={"dash": "dot"}, marker={"symbol": "diamond-open", "size": 9}),
                     row=2, col=1)
    figure.update_layout(title="Monitoring: one point per batch (red = alert)", height=600, hovermode="x unified")
    return figure


def render_monitoring_overview(summary: pd.DataFrame, chart: go.Figure, recommendation: dict[str, Any],
                               drift_calibration: pd.DataFrame) -> str:
    """Return the monitoring overview page: recommendation, chart, one linked row per batch and the drift limits used."""
    columns = [BATCH, SCENARIO, "rows", "predicted_at", "labelled_at", "judged_on", "low_confidence_share", "drift_share",
               "prediction_drift", "roc_auc", "estimated_roc_auc", "data_quality", "alert_level", "reason"]
    return render("monitoring_overview.html.j2", recommendation=recommendation, columns=columns, batch_column=BATCH,
                  rows=summary.to_dict("records"), chart=Markup(chart.to_html(full_html=False, include_plotlyjs=True)),
                  calibration=html_table(drift_calibration, 4))


def build_monitoring_index_section(summary: pd.DataFrame, recommendation: dict[str, Any]) -> IndexSection:
    """Return the monitoring section of the report index: headline numbers and links to the overview and every batch report."""
    reported = summary[summary["data_quality"] != "error"]
    links = [Link(label="Monitoring overview (chart, table, recommendation)", href="monitoring/overview.html")]
    links += [Link(label=f"Batch {row[BATCH]} ({row[SCENARIO] if pd.notna(row[SCENARIO]) else row[SOURCE]}): {row['alert_level']}",
                   href=f"monitoring/batches/{row[BATCH]}.html") for row in reported.to_dict("records")]
    return IndexSection(
        title="Monitoring",
        updated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        headline={"batches": len(summary), "alerts": int(summary["alert"].astype(bool).sum()),
                  "recommendation": recommendation["action"]},
        links=links,
        notes=[recommendation["reason"], *recommendation["notes"]],
    )
