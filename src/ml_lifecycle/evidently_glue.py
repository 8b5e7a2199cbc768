"""The Evidently glue: data definitions from the problem spec, report runs and their outputs.

Every pipeline that builds an Evidently report goes through this module (Evidently 0.7 API).
"""

from __future__ import annotations

import html
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from evidently import BinaryClassification, DataDefinition, Dataset, Report
from evidently.sdk.models import PanelMetric
from evidently.sdk.panels import bar_plot_panel, line_plot_panel
from evidently.ui.workspace import Workspace
from kedro.io import AbstractDataset

from ml_lifecycle.spec import ProblemSpec

PREDICTION = "prediction"
PROBABILITY = "prediction_proba"


def data_definition(spec: ProblemSpec, with_target: bool, with_prediction: bool) -> DataDefinition:
    """Return the DataDefinition of spec-shaped rows; always explicit, never guessed.

    Without a target (a batch whose labels have not arrived) there is no classification task:
    the predictions are then described as plain columns, so their drift can still be measured.
    """
    classification = None
    if with_target:
        classification = [BinaryClassification(
            target=spec.target_column,
            prediction_labels=PREDICTION if with_prediction else None,
            prediction_probas=PROBABILITY if with_prediction else None,
            pos_label=1,
        )]
    numeric = spec.numeric_features + ([PROBABILITY] if with_prediction else [])
    categorical = spec.categorical_features + list(spec.banded_columns)
    if with_prediction and not with_target:
        categorical.append(PREDICTION)
    return DataDefinition(numerical_columns=numeric, categorical_columns=categorical, classification=classification)


def as_dataset(rows: pd.DataFrame, spec: ProblemSpec, with_target: bool, with_prediction: bool) -> Dataset:
    """Return rows as an Evidently Dataset with the spec's definition."""
    definition = data_definition(spec, with_target, with_prediction)
    return Dataset.from_pandas(rows, data_definition=definition)


def run_report(metrics: list[Any], current: pd.DataFrame, spec: ProblemSpec, reference: pd.DataFrame | None = None,
               with_target: bool = True, with_prediction: bool = True, include_tests: bool = False,
               name: str | None = None, timestamp: datetime | None = None, tags: list[str] | None = None) -> Any:
    """Run an Evidently report of `current` (against `reference` when given) and return the snapshot.

    `name`, `timestamp` (default: now) and `tags` label the snapshot in an Evidently workspace.
    """
    report = Report(metrics, include_tests=include_tests)
    reference_data = None if reference is None else as_dataset(reference, spec, with_target, with_prediction)
    return report.run(as_dataset(current, spec, with_target, with_prediction), reference_data,
                      name=name, timestamp=timestamp, tags=tags)


def snapshot_html(snapshot: Any, note: str | None = None) -> str:
    """Return the snapshot as a standalone HTML page, with `note` (escaped) as a paragraph above the report when given."""
    page = snapshot.get_html_str(as_iframe=False)
    if note is None:
        return page
    return page.replace("<body>", f'<body><p style="font-family: sans-serif; margin: 1em">{html.escape(note)}</p>', 1)


def snapshot_json(snapshot: Any) -> dict[str, Any]:
    """Return the snapshot's results as a JSON-ready dict."""
    return json.loads(snapshot.json())


def outcomes_by_metric(snapshot: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Return, per metric id, the outcome of the test set on that metric in a snapshot's JSON.

    Each outcome has `status` (SUCCESS, FAIL, WARNING for a failed non-critical test, ERROR),
    `value` (the metric's value; the share for tests on a count's share) and `description`.
    """
    values = {metric["id"]: metric["value"] for metric in snapshot["metrics"]}
    outcomes = {}
    for test in snapshot.get("tests", []):
        metric_id = test["metric_config"]["metric_id"]
        value = values.get(metric_id)
        if isinstance(value, dict):  # count metrics: {count, share}; tests here are on the share or the count
            value = value["count" if test.get("bound_test", {}).get("is_count", False) else "share"]
        outcomes[metric_id] = {"status": test["status"], "value": value, "description": test["description"]}
    return outcomes


class EvidentlyWorkspaceDataset(AbstractDataset[list[dict[str, Any]], list[str]]):
    """An Evidently workspace folder holding one project whose dashboard shows runs over time.

    Save takes `[{"name", "snapshot"}]`: each snapshot is added as a run of the project, replacing
    an earlier run of the same name, so re-processing a batch never duplicates its point on the
    dashboard. The project and its panels are created on first save. Open the workspace with
    `evidently ui --workspace <folder>`. Load returns the names of the project's runs.
    """

    def __init__(self, path: str, project: str, description: str = "",
                 panels: list[dict[str, Any]] | None = None, metadata: dict[str, Any] | None = None) -> None:
        # `path` (not `folder`): Kedro makes catalog keys named path/filepath absolute under the project.
        self._folder = Path(path)
        self._project = project
        self._description = description
        self._panels = panels or []
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"folder": str(self._folder), "project": self._project}

    def _workspace(self) -> Workspace:
        return Workspace(str(self._folder))

    def _find_project(self, workspace: Workspace) -> Any:
        found = workspace.search_project(self._project)
        return found[0] if found else None

    def _exists(self) -> bool:
        return self._folder.exists() and self._find_project(self._workspace()) is not None

    def _run_names(self, workspace: Workspace, project_id: Any) -> dict[str, Any]:
        runs = {}
        for run_id in workspace.list_runs(project_id):
            run = workspace.get_run(project_id, run_id)
            if run is not None:
                runs[run.name] = run_id
        return runs

    def _load(self) -> list[str]:
        if not self._folder.exists():  # opening a Workspace would create the folder
            return []
        workspace = self._workspace()
        project = self._find_project(workspace)
        return [] if project is None else sorted(self._run_names(workspace, project.id))

    def _save(self, runs: list[dict[str, Any]]) -> None:
        self._folder.mkdir(parents=True, exist_ok=True)
        workspace = self._workspace()
        project = self._find_project(workspace) or workspace.create_project(self._project, self._description)
        existing_titles = {panel.title for panel in project.dashboard.model().panels}
        for panel in self._panels:
            if panel["title"] not in existing_titles:
                project.dashboard.add_panel(_panel(panel), tab=panel.get("tab"))
        previous = self._run_names(workspace, project.id)
        for run in runs:
            # The new run first, then the old one goes: a failure in between never loses a batch.
            workspace.add_run(project.id, run["snapshot"], name=run["name"])
            if run["name"] in previous:
                workspace.delete_run(project.id, previous[run["name"]])


def _panel(declared: dict[str, Any]) -> Any:
    """Return a dashboard panel from its catalog declaration {title, metric, labels, legend, plot, size}."""
    value = PanelMetric(legend=declared.get("legend", declared["title"]), metric=declared["metric"],
                        metric_labels=declared.get("labels", {}))
    plot = {"line": line_plot_panel, "bar": bar_plot_panel}[declared.get("plot", "line")]
    return plot(title=declared["title"], values=[value], size=declared.get("size", "half"))
