"""What people open: the monitoring chart, the overview page (template `monitoring_overview.html.j2`) and the index section."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from markupsafe import Markup
from plotly.subplots import make_subplots

from ml_lifecycle.pages import render
from ml_lifecycle.pipelines.monitoring.columns import (
    BATCH,
    SCENARIO,
    SOURCE,
)
from ml_lifecycle.pipelines.monitoring.config import (
    MonitoringConfig,
)
from ml_lifecycle.report_index import IndexSection, Link


def plot_monitoring_summary(summary: pd.DataFrame, config: MonitoringConfig) -> go.Figure:
    """Return the batches over time: drift share, prediction drift and ROC AUC against their limits, alerts in red."""
    tests = config.tests
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.12,
                           subplot_titles=("Drift (limits dashed)", "ROC AUC, labelled batches (limit dashed)"))
    colours = summary["alert"].map({True: "crimson", False: "seagreen"}).tolist()
    hover = summary[BATCH] + " (" + summary[SCENARIO].fillna(summary[SOURCE]) + "): " + summary["reason"]
    for column, limit, row in (("drift_share", tests.drifted_columns_share.max, 1),
                               ("prediction_drift", tests.prediction_drift.max, 1), ("roc_auc", None, 2)):
        figure.add_trace(go.Scatter(x=summary[BATCH], y=summary[column], name=column, mode="lines+markers",
                                    marker={"color": colours, "size": 10}, hovertext=hover), row=row, col=1)
        if limit is not None:
            figure.add_hline(y=limit, line_dash="dash", line_color="grey", row=row, col=1)
    # The ROC AUC limit follows each batch's size and class balance (monitoring.tests.roc_auc).
    figure.add_trace(go.Scatter(x=summary[BATCH], y=summary["roc_auc_limit"], name="roc_auc limit", mode="markers",
                                marker={"symbol": "line-ew-open", "size": 16, "color": "grey"}), row=2, col=1)
    figure.update_layout(title="Monitoring: one point per batch (red = alert)", height=600, hovermode="x unified")
    return figure


def render_monitoring_overview(summary: pd.DataFrame, chart: go.Figure, recommendation: dict[str, Any]) -> str:
    """Return the monitoring overview page: recommendation, chart and one linked row per batch."""
    columns = [BATCH, SCENARIO, "rows", "drift_share", "prediction_drift", "roc_auc", "data_quality", "alert_level", "reason"]
    return render("monitoring_overview.html.j2", recommendation=recommendation, columns=columns, batch_column=BATCH,
                  rows=summary.to_dict("records"), chart=Markup(chart.to_html(full_html=False, include_plotlyjs=True)))


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
