"""Monitoring: production batches -> champion scores -> Evidently reports and explicit tests -> alerts.

Batch sources (simulated scenarios, files dropped into the production folder, the prediction
service's request log) each yield *standardised rows*: snake_case columns holding
the features and, optionally, the raw label, plus `batch`, `source`, `scenario`,
`scenario_detail` and `batch_time`. Every source then goes through the same `rows` steps that
training data went through, so a production batch is prepared exactly like a training row.
"""

from __future__ import annotations

import datetime as dt
import html
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from evidently.metrics import (
    Accuracy,
    DriftedColumnsCount,
    MissingValueCount,
    OutListValueCount,
    OutRangeValueCount,
    Precision,
    Recall,
    RocAuc,
    RowCount,
    ValueDrift,
)
from evidently.presets import ClassificationPreset, DataDriftPreset, DataSummaryPreset
from evidently.tests import gte, lte
from kedro.io import DatasetError
from plotly.subplots import make_subplots

from ml_lifecycle import evidently_glue, rows
from ml_lifecycle.deployment import DeployedModel
from ml_lifecycle.evidently_glue import PREDICTION, PROBABILITY
from ml_lifecycle.pipelines.monitoring.config import (
    ConceptDrift,
    CovariateShift,
    MaxTest,
    MinTest,
    MissingSpike,
    MonitoringConfig,
    PriorShift,
    UnitChange,
    UnseenCategory,
)
from ml_lifecycle.spec import ProblemSpec

BATCH, SOURCE, SCENARIO, DETAIL, BATCH_TIME, LABELLED = (
    "batch", "source", "scenario", "scenario_detail", "batch_time", "labelled")
BATCH_COLUMNS = [BATCH, SOURCE, SCENARIO, DETAIL, BATCH_TIME]
ERROR_COLUMNS = [BATCH, SOURCE, SCENARIO, DETAIL, "reason"]
TEST_COLUMNS = [BATCH, "test", "kind", "column", "value", "threshold", "passed", "severity", "description"]


# ---------- batch sources ----------

def _query(frame: pd.DataFrame, query: str, key: str) -> pd.Series:
    """Return the rows a declared pandas query picks, or raise naming the config key."""
    try:
        picked = frame.eval(query)
    except Exception as error:  # pandas raises many types for a bad expression; all mean a bad query
        raise ValueError(f"{key}: query {query!r} cannot be evaluated on the features: {error}") from None
    return pd.Series(picked, index=frame.index).fillna(False).astype(bool)


def _resample(frame: pd.DataFrame, picked: pd.Series, share: float, rng: np.random.Generator, key: str) -> pd.DataFrame:
    """Return as many rows as `frame`, `share` of them drawn (with replacement) from the picked rows."""
    if picked.all() or not picked.any():
        raise ValueError(f"{key}: the subpopulation holds {int(picked.sum())} of {len(frame)} rows; "
                         "resampling needs rows inside and outside it")
    inside = round(len(frame) * share)
    chosen = np.concatenate([rng.choice(np.flatnonzero(picked), inside),
                             rng.choice(np.flatnonzero(~picked), len(frame) - inside)])
    return frame.iloc[rng.permutation(chosen)].reset_index(drop=True)


def _random_rows(frame: pd.DataFrame, share: float, rng: np.random.Generator) -> pd.Index:
    """Return the index of a random `share` of the rows."""
    return frame.index[rng.choice(len(frame), round(len(frame) * share), replace=False)]


def apply_scenario(batch: pd.DataFrame, scenario: Any, spec: ProblemSpec, rng: np.random.Generator, key: str) -> pd.DataFrame:
    """Return a copy of typed batch rows with the scenario's change applied."""
    target = spec.target_column
    changed = batch.copy()
    if isinstance(scenario, CovariateShift):
        changed = _resample(batch, _query(batch, scenario.toward, key), scenario.share, rng, key)
    elif isinstance(scenario, PriorShift):
        changed = _resample(batch, batch[target] == 1, scenario.positive_share, rng, key)
    elif isinstance(scenario, MissingSpike):
        changed.loc[_random_rows(batch, scenario.share, rng), scenario.column] = np.nan
    elif isinstance(scenario, UnitChange):
        changed[scenario.column] = batch[scenario.column] * scenario.factor
    elif isinstance(scenario, UnseenCategory):
        changed.loc[_random_rows(batch, scenario.share, rng), scenario.column] = scenario.value
    elif isinstance(scenario, ConceptDrift):
        flipped = _query(batch, scenario.subgroup, key)
        changed.loc[flipped, target] = 1 - batch.loc[flipped, target]
    return changed


def _empty_source(spec: ProblemSpec) -> pd.DataFrame:
    """Return a batch source with no rows."""
    return pd.DataFrame(columns=[*spec.features, spec.target_column, *BATCH_COLUMNS])


def _as_source_rows(batch: pd.DataFrame, name: str, scenario: Any, when: dt.date, spec: ProblemSpec) -> pd.DataFrame:
    """Return simulated typed rows as a batch source gives them: features, the raw label (if labelled), batch columns."""
    target = spec.target_column
    source_rows = batch[spec.features].copy()
    labels = pd.Series(np.where(batch[target] == 1, spec.target.positive_label, spec.target.negative_label),
                       index=batch.index, dtype="str")
    source_rows[target] = labels if scenario.labelled else pd.Series(pd.NA, index=batch.index, dtype="str")
    source_rows[BATCH], source_rows[SOURCE], source_rows[SCENARIO] = name, "simulated", scenario.kind
    source_rows[DETAIL], source_rows[BATCH_TIME] = scenario.describe(), pd.Timestamp(when)
    return source_rows


def simulate_production_batches(validated_rows: pd.DataFrame, config: MonitoringConfig, spec: ProblemSpec) -> pd.DataFrame:
    """Return the demo's production batches: the test file's rows cut into one batch per declared scenario."""
    simulation = config.simulation
    if not simulation.enabled or not simulation.scenarios:
        return _empty_source(spec)
    target = spec.target_column
    in_test_file = validated_rows[rows.SOURCE_COLUMN] == f"{spec.raw.folder}/{spec.raw.test_file}"
    # Rows before missing-value filling: missing values look as they will in production and in the reference.
    pool = validated_rows.loc[in_test_file & validated_rows[target].notna(), spec.features + list(spec.banded_columns) + [target]]
    pool = pool.sample(frac=1, random_state=spec.seed).astype({target: int})
    cuts = np.array_split(np.arange(len(pool)), len(simulation.scenarios))
    frames = []
    for index, (scenario, positions) in enumerate(zip(simulation.scenarios, cuts, strict=True)):
        batch = apply_scenario(pool.iloc[positions].reset_index(drop=True), scenario, spec,
                               np.random.default_rng(spec.seed + index), f"monitoring.simulation.scenarios[{index}]")
        when = simulation.start + dt.timedelta(days=simulation.period_days * index)
        frames.append(_as_source_rows(batch, f"{simulation.batch_prefix}_{index + 1:02d}", scenario, when, spec))
    return pd.concat(frames, ignore_index=True)


def _read_error(error: DatasetError, file: str) -> str:
    """Return why a file could not be read as CSV, without Kedro's wrapper text."""
    cause = error.__cause__
    if isinstance(cause, pd.errors.EmptyDataError):
        return f"{file}: the file is empty (rule: non-empty)"
    return f"{file}: cannot be read as CSV ({cause or error})"


def read_dropped_in_batches(production_files: dict[str, Callable[[], pd.DataFrame]], production_folder: str,
                            spec: ProblemSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the dropped-in files' standardised rows (one batch per file) and the files that cannot be read."""
    frames, errors = [], []
    for name in sorted(production_files):
        file = f"{production_folder}/{name}.csv"
        try:
            frame = rows.standardise(production_files[name](), spec, file, label_optional=True)
        except DatasetError as error:
            errors.append({BATCH: name, SOURCE: "dropped_in", SCENARIO: pd.NA, DETAIL: file, "reason": _read_error(error, file)})
            continue
        except rows.DataValidationError as error:
            errors.append({BATCH: name, SOURCE: "dropped_in", SCENARIO: pd.NA, DETAIL: file, "reason": str(error)})
            continue
        frame = frame.drop(columns=rows.SOURCE_COLUMN)
        # A header-less file one column short is read as the training format without the label column.
        detail = file if spec.target_column in frame else f"{file}, {frame.shape[1]} columns: read without the label column"
        frame[BATCH], frame[SOURCE], frame[SCENARIO], frame[DETAIL], frame[BATCH_TIME] = name, "dropped_in", pd.NA, detail, pd.NaT
        frames.append(frame)
    batches = pd.concat(frames, ignore_index=True) if frames else _empty_source(spec)
    return batches, pd.DataFrame(errors, columns=ERROR_COLUMNS)


def request_log_batches(request_log: pd.DataFrame, spec: ProblemSpec) -> pd.DataFrame:
    """Return the prediction service's logged rows as standardised rows, one batch per UTC day (`requests_YYYY-MM-DD`)."""
    if request_log.empty:
        return _empty_source(spec)
    received = pd.to_datetime(request_log["received_at"], utc=True).dt.tz_localize(None)
    source_rows = rows.clean_text(request_log[[c for c in request_log.columns if c in spec.features]], spec)
    source_rows[spec.target_column] = request_log["label"]  # the true label, once POST /feedback brought it
    source_rows[BATCH] = "requests_" + received.dt.strftime("%Y-%m-%d")
    source_rows[SOURCE], source_rows[SCENARIO], source_rows[DETAIL] = "request_log", pd.NA, "prediction service request log"
    source_rows[BATCH_TIME] = received.dt.floor("D")
    return source_rows


def _typed_batch(frame: pd.DataFrame, spec: ProblemSpec, label: str) -> pd.DataFrame:
    """Return one batch's rows typed as training rows were, or raise naming the batch and the broken rule."""
    rows.require_columns(frame, spec.features, label)
    file_of_row = pd.Series(label, index=frame.index)
    rows.raise_if_any(rows.numeric_problems(frame, spec), file_of_row, "numeric features hold numbers")
    target = spec.target_column
    labels = frame[target] if target in frame else pd.Series(pd.NA, index=frame.index, dtype="string")
    rows.raise_if_any(rows.label_problems(labels, spec), file_of_row, "label is a declared label")
    typed = rows.cast_features(frame, spec)
    typed[target] = rows.encode_labels(labels, spec)
    return typed.join(rows.add_slice_columns(typed, spec))


def prepare_production_batches(unreadable: pd.DataFrame, spec: ProblemSpec, *sources: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return every source's batches typed like training rows, and one error entry per batch that breaks a rule.

    `sources` are standardised rows with the batch columns; a new batch source (e.g. the
    prediction service's request log) is one more input of this node.
    """
    errors = [unreadable] if len(unreadable) else []
    prepared, seen = [], set(unreadable[BATCH])
    for source in sources:
        for name, frame in source.groupby(BATCH, sort=False):
            info = frame[BATCH_COLUMNS].iloc[0]
            label = f"{info[SOURCE]} batch {name!r}" + (f" ({info[DETAIL]})" if info[SOURCE] == "dropped_in" else "")
            try:
                if name in seen:
                    raise rows.DataValidationError(f"{label}: another batch already has this name; rename it")
                typed = _typed_batch(frame.drop(columns=BATCH_COLUMNS), spec, label)
            except rows.DataValidationError as error:
                errors.append(pd.DataFrame([{**info.drop(BATCH_TIME).to_dict(), "reason": str(error)}]))
                continue
            finally:
                seen.add(name)
            typed[BATCH_COLUMNS] = frame[BATCH_COLUMNS]
            typed[LABELLED] = bool(typed[spec.target_column].notna().all())
            prepared.append(typed.reset_index(drop=True))
    columns = [*spec.features, spec.target_column, *spec.banded_columns, *BATCH_COLUMNS, LABELLED]
    batches = pd.concat(prepared, ignore_index=True) if prepared else pd.DataFrame(columns=columns)
    batch_errors = pd.concat(errors, ignore_index=True) if errors else pd.DataFrame(columns=ERROR_COLUMNS)
    return batches, batch_errors


# ---------- scoring ----------

def _scored(typed: pd.DataFrame, champion: DeployedModel, spec: ProblemSpec) -> pd.DataFrame:
    """Return typed rows with the deployed champion's probability and its decision at the deployed threshold."""
    proba = champion.probabilities(rows.apply_missing_value_fills(typed, champion.fills, spec))
    scored = typed.copy()
    scored[PROBABILITY] = proba
    scored[PREDICTION] = (proba >= champion.threshold).astype(int)
    return scored


def score_reference(reference: pd.DataFrame, champion: DeployedModel, spec: ProblemSpec) -> pd.DataFrame:
    """Return the reference rows scored by the champion, so prediction drift compares like with like."""
    return _scored(reference, champion, spec)


def score_production_batches(batches: pd.DataFrame, champion: DeployedModel, spec: ProblemSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return every batch scored as deployed, and the scoring's software metrics per batch."""
    scored, metrics = [], []
    for name, batch in batches.groupby(BATCH, sort=False):
        start = time.perf_counter()
        scored.append(_scored(batch, champion, spec))
        seconds = time.perf_counter() - start
        # Peak memory in a second, traced pass: tracing slows Python allocations, so it stays out of the timing.
        tracemalloc.start()
        _scored(batch, champion, spec)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        info = batch[[SOURCE, SCENARIO, DETAIL, LABELLED]].iloc[0].to_dict()
        metrics.append({BATCH: name, **info, "rows": len(batch), "model_version": champion.version,
                        "scoring_seconds": seconds, "latency_ms_per_row": 1000 * seconds / len(batch),
                        "rows_per_second": len(batch) / seconds, "peak_memory_mb": peak / 2**20})
    columns = [BATCH, SOURCE, SCENARIO, DETAIL, LABELLED, "rows", "model_version", "scoring_seconds",
               "latency_ms_per_row", "rows_per_second", "peak_memory_mb"]
    scored_batches = pd.concat(scored, ignore_index=True) if scored else batches.assign(**{PROBABILITY: [], PREDICTION: []})
    return scored_batches, pd.DataFrame(metrics, columns=columns)


# ---------- reports and tests ----------

def _drift_options(config: MonitoringConfig, spec: ProblemSpec) -> dict[str, Any]:
    """Return the declared drift methods and thresholds as Evidently drift arguments."""
    drift = config.drift
    return {"columns": spec.features, "num_method": drift.numeric_method, "num_threshold": drift.numeric_threshold,
            "cat_method": drift.categorical_method, "cat_threshold": drift.categorical_threshold,
            "per_column_method": drift.per_column_method or None,
            "per_column_threshold": drift.per_column_threshold or None,
            "drift_share": config.tests.drifted_columns_share.max}


def _bound(test: MaxTest | MinTest) -> Any:
    """Return the Evidently test for a declared threshold; a warning-level test fails as WARNING."""
    critical = test.severity == "critical"
    return lte(test.max, is_critical=critical) if isinstance(test, MaxTest) else gte(test.min, is_critical=critical)


def declared_tests(reference: pd.DataFrame, champion: DeployedModel, labelled: bool, config: MonitoringConfig,
                   spec: ProblemSpec) -> list[dict[str, Any]]:
    """Return each enabled explicit test as {test, kind, column, threshold, severity, metric} (an Evidently metric with the test set)."""
    tests = config.tests
    declared: list[tuple[str, str, str | None, MaxTest | MinTest, Callable[[Any], Any]]] = [
        ("drifted_columns_share", "drift", None, tests.drifted_columns_share,
         lambda t: DriftedColumnsCount(**_drift_options(config, spec), share_tests=[t])),
        ("prediction_drift", "drift", PROBABILITY, tests.prediction_drift,
         lambda t: ValueDrift(column=PROBABILITY, method=config.drift.prediction_method,
                              threshold=tests.prediction_drift.max, tests=[t])),
        ("row_count", "quality", None, tests.row_count, lambda t: RowCount(tests=[t])),
    ]
    for column in spec.features:
        declared.append(("missing_share", "quality", column, tests.missing_share,
                         lambda t, c=column: MissingValueCount(column=c, share_tests=[t])))
    for column in spec.categorical_features:
        known = sorted(champion.categories[column])  # never seen in training, not merely absent from the reference
        declared.append(("new_category_share", "quality", column, tests.new_category_share,
                         lambda t, c=column, k=known: OutListValueCount(column=c, values=k, share_tests=[t])))
    for column in spec.numeric_features:
        low, high = float(reference[column].min()), float(reference[column].max())
        declared.append(("out_of_range_share", "quality", column, tests.out_of_range_share,
                         lambda t, c=column, lo=low, hi=high: OutRangeValueCount(column=c, left=lo, right=hi, share_tests=[t])))
    if labelled:
        declared.append(("roc_auc", "performance", None, tests.roc_auc, lambda t: RocAuc(tests=[t])))
    return [
        {"test": name, "kind": kind, "column": column, "severity": test.severity,
         "threshold": test.max if isinstance(test, MaxTest) else test.min, "metric": make(_bound(test))}
        for name, kind, column, test, make in declared if test.enabled
    ]


def _batch_report(batch: pd.DataFrame, reference: pd.DataFrame, champion: DeployedModel, config: MonitoringConfig,
                  spec: ProblemSpec) -> tuple[Any, list[dict[str, Any]]]:
    """Return one batch's Evidently snapshot (drift, quality, prediction drift, classification) and its declared tests."""
    info = batch.iloc[0]
    labelled = bool(info[LABELLED])
    tests = declared_tests(reference, champion, labelled, config, spec)
    # The report runs without Evidently's automatic tests (run_report: include_tests=False), so the
    # presets add none; only the declared tests below are evaluated. (Passing include_tests=False to
    # DataSummaryPreset itself breaks its rendering in Evidently 0.7.23.)
    metrics: list[Any] = [DataDriftPreset(**_drift_options(config, spec))]
    if config.data_summary:
        metrics.append(DataSummaryPreset())
    if labelled:
        metrics.append(ClassificationPreset())
    metrics += [test["metric"] for test in tests]
    current = batch.drop(columns=BATCH_COLUMNS + [LABELLED])
    # Evidently's classification metrics need plain integer labels, not pandas' nullable Int8.
    current = current.astype({spec.target_column: "int64"}) if labelled else current.drop(columns=spec.target_column)
    when = info[BATCH_TIME]
    snapshot = evidently_glue.run_report(
        metrics, current, spec, reference, with_target=labelled, name=str(info[BATCH]),
        timestamp=None if pd.isna(when) else pd.Timestamp(when).to_pydatetime(),
        tags=[str(info[SOURCE])] + ([] if pd.isna(info[SCENARIO]) else [str(info[SCENARIO])]))
    return snapshot, tests


def build_batch_reports(scored_batches: pd.DataFrame, scored_reference: pd.DataFrame, champion: DeployedModel,
                        config: MonitoringConfig, spec: ProblemSpec) -> tuple[dict[str, str], dict[str, dict], pd.DataFrame, list[dict[str, Any]]]:
    """Return per batch the Evidently report as HTML (people) and JSON (machines), the explicit tests' results, and the workspace runs."""
    pages, documents, results, runs = {}, {}, [], []
    for name, batch in scored_batches.groupby(BATCH, sort=False):
        snapshot, tests = _batch_report(batch, scored_reference, champion, config, spec)
        document = evidently_glue.snapshot_json(snapshot)
        outcomes = evidently_glue.outcomes_by_metric(document)
        for test in tests:
            outcome = outcomes[test["metric"].get_metric_id()]
            results.append({BATCH: name, **{k: test[k] for k in ("test", "kind", "column", "threshold", "severity")},
                            "value": outcome["value"], "passed": outcome["status"] == "SUCCESS",
                            "description": outcome["description"]})
        pages[name] = evidently_glue.snapshot_html(snapshot)
        documents[name] = document
        runs.append({"name": name, "snapshot": snapshot})
    return pages, documents, pd.DataFrame(results, columns=TEST_COLUMNS), runs


SLICE_METRICS = {"recall": Recall, "precision": Precision, "accuracy": Accuracy}


def _slice_metrics(rows_: pd.DataFrame, spec: ProblemSpec) -> dict[str, float]:
    """Return recall, precision and accuracy (at the deployed threshold) of one slice's rows, from one small report."""
    # One report per slice value: Evidently 0.7.23's GroupBy returns the overall value for classification metrics.
    snapshot = evidently_glue.run_report([metric() for metric in SLICE_METRICS.values()], rows_.reset_index(drop=True), spec)
    values = [metric["value"] for metric in evidently_glue.snapshot_json(snapshot)["metrics"]]
    return {name: float(value) for name, value in zip(SLICE_METRICS, values, strict=True)}


def build_slice_metrics(scored_batches: pd.DataFrame, config: MonitoringConfig, spec: ProblemSpec) -> pd.DataFrame:
    """Return classification metrics per labelled batch and slice value with enough positives to compare."""
    target, minimum = spec.target_column, config.tests.slice_recall_gap.min_positives
    found = []
    labelled = scored_batches[scored_batches[LABELLED].astype(bool)]
    for name, batch in labelled.groupby(BATCH, sort=False):
        typed = batch.drop(columns=BATCH_COLUMNS + [LABELLED]).astype({target: "int64"})
        for column in config.slice_columns(spec):
            for value, rows_ in typed.groupby(column, sort=True):
                positives = int(rows_[target].sum())
                entry = {BATCH: name, "slice_column": column, "slice_value": str(value),
                         "rows": len(rows_), "positives": positives, "compared": positives >= minimum}
                if positives >= minimum:
                    entry |= _slice_metrics(rows_, spec)
                found.append(entry)
    return pd.DataFrame(found, columns=[BATCH, "slice_column", "slice_value", "rows", "positives", "compared",
                                        *SLICE_METRICS])


def check_slice_recall_gaps(slice_metrics: pd.DataFrame, config: MonitoringConfig) -> pd.DataFrame:
    """Return the per-slice recall-gap test per labelled batch and slice column (largest minus smallest recall)."""
    test = config.tests.slice_recall_gap
    results = []
    if test.enabled:
        compared = slice_metrics[slice_metrics["compared"].astype(bool)]
        for (name, column), group in compared.groupby([BATCH, "slice_column"], sort=False):
            if len(group) < 2:
                continue
            gap = float(group["recall"].max() - group["recall"].min())
            worst, best = group.loc[group["recall"].idxmin(), "slice_value"], group.loc[group["recall"].idxmax(), "slice_value"]
            results.append({BATCH: name, "test": "slice_recall_gap", "kind": "performance", "column": column,
                            "value": gap, "threshold": test.max, "passed": gap <= test.max, "severity": test.severity,
                            "description": f"recall {best} - {worst} = {gap:.3f} (max {test.max})"})
    return pd.DataFrame(results, columns=TEST_COLUMNS)


# ---------- summary, alerts and recommendation ----------

def _failure_text(failed: pd.DataFrame) -> str:
    """Return failed tests as `test[column]=value (limit)` phrases."""
    return "; ".join(
        f"{row.test}{'' if pd.isna(row.column) else f'[{row.column}]'}={row.value:.3g} "
        f"({'min' if row.test in ('roc_auc', 'row_count') else 'max'} {row.threshold:g})"
        for row in failed.itertuples()
    )


def _batch_verdict(tests: pd.DataFrame) -> dict[str, Any]:
    """Return a batch's results by kind, its alert level and the reason."""
    failed = tests[~tests["passed"].astype(bool)]
    level = "ok"
    if len(failed):
        level = "critical" if (failed["severity"] == "critical").any() else "warning"

    def outcome(kind: str) -> str:
        of_kind = tests[tests["kind"] == kind]
        if of_kind.empty:
            return "not run"
        return "pass" if of_kind["passed"].astype(bool).all() else "fail"

    return {"drift": outcome("drift"), "data_quality": outcome("quality"), "performance": outcome("performance"),
            "tests_failed": len(failed), "alert_level": level, "alert": level == "critical",
            "reason": _failure_text(failed) if len(failed) else "all tests pass"}


def _value(tests: pd.DataFrame, test: str) -> float:
    """Return a batch-level test's measured value (NaN when the test did not run)."""
    found = tests.loc[tests["test"] == test, "value"]
    return float(found.iloc[0]) if len(found) else float("nan")


def summarise_batches(scoring_metrics: pd.DataFrame, test_results: pd.DataFrame, slice_tests: pd.DataFrame,
                      batch_errors: pd.DataFrame) -> pd.DataFrame:
    """Return one row per batch: what it is, its drift, quality and performance results, its alert and the scoring cost."""
    tests = pd.concat([test_results, slice_tests], ignore_index=True)
    summary = []
    for metrics in scoring_metrics.to_dict("records"):
        own = tests[tests[BATCH] == metrics[BATCH]]
        summary.append({
            **{k: metrics[k] for k in (BATCH, SOURCE, SCENARIO, DETAIL, LABELLED, "rows", "model_version")},
            "drift_share": _value(own, "drifted_columns_share"), "prediction_drift": _value(own, "prediction_drift"),
            "roc_auc": _value(own, "roc_auc"), **_batch_verdict(own),
            **{k: metrics[k] for k in ("scoring_seconds", "latency_ms_per_row", "rows_per_second", "peak_memory_mb")},
        })
    for error in batch_errors.to_dict("records"):
        summary.append({**{k: error[k] for k in (BATCH, SOURCE, SCENARIO, DETAIL)}, "drift": "not run",
                        "data_quality": "error", "performance": "not run", "alert_level": "critical", "alert": True,
                        "reason": f"batch rejected: {error['reason']}"})
    columns = [BATCH, SOURCE, SCENARIO, DETAIL, LABELLED, "rows", "model_version", "drift_share", "prediction_drift",
               "roc_auc", "drift", "data_quality", "performance", "tests_failed", "alert_level", "alert", "reason",
               "scoring_seconds", "latency_ms_per_row", "rows_per_second", "peak_memory_mb"]
    return pd.DataFrame(summary, columns=columns).astype({"rows": "Int64", "tests_failed": "Int64", LABELLED: "boolean"})


def plot_monitoring_summary(summary: pd.DataFrame, config: MonitoringConfig) -> go.Figure:
    """Return the batches over time: drift share, prediction drift and ROC AUC against their limits, alerts in red."""
    tests = config.tests
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.12,
                           subplot_titles=("Drift (limits dashed)", "ROC AUC, labelled batches (limit dashed)"))
    colours = summary["alert"].map({True: "crimson", False: "seagreen"}).tolist()
    hover = summary[BATCH] + " (" + summary[SCENARIO].fillna(summary[SOURCE]) + "): " + summary["reason"]
    for column, limit, row in (("drift_share", tests.drifted_columns_share.max, 1),
                               ("prediction_drift", tests.prediction_drift.max, 1), ("roc_auc", tests.roc_auc.min, 2)):
        figure.add_trace(go.Scatter(x=summary[BATCH], y=summary[column], name=column, mode="lines+markers",
                                    marker={"color": colours, "size": 10}, hovertext=hover), row=row, col=1)
        figure.add_hline(y=limit, line_dash="dash", line_color="grey", row=row, col=1)
    figure.update_layout(title="Monitoring: one point per batch (red = alert)", height=600, hovermode="x unified")
    return figure


def recommend_retraining(summary: pd.DataFrame, test_results: pd.DataFrame, slice_tests: pd.DataFrame,
                         config: MonitoringConfig) -> dict[str, Any]:
    """Return whether to retrain, and why: performance failures or repeated drift say retrain; broken data says fix the feed."""
    policy, reasons = config.retrain, []
    tests = pd.concat([test_results, slice_tests], ignore_index=True)
    failed = tests[~tests["passed"].astype(bool) & (tests["severity"] == "critical")]
    broken = set(failed.loc[failed["kind"] == "quality", BATCH]) | set(summary.loc[summary["data_quality"] == "error", BATCH])
    # A batch with broken data says nothing about the model: its drift and performance are the fault's.
    model_evidence = failed[~failed[BATCH].isin(broken)]
    performance = model_evidence[model_evidence["kind"] == "performance"]
    degraded = list(dict.fromkeys(performance[BATCH]))
    if policy.on_performance_failure and degraded:
        reasons.append(f"performance below its limits on labelled batch(es) {', '.join(degraded)}: {_failure_text(performance)}")
    latest = summary.loc[(summary["drift"] != "not run") & ~summary[BATCH].isin(broken), BATCH].tail(policy.window)
    drifted = [b for b in latest if b in set(model_evidence.loc[model_evidence["kind"] == "drift", BATCH])]
    if len(drifted) >= policy.drifted_batches:
        reasons.append(f"drift in {len(drifted)} of the latest {len(latest)} batches with sound data ({', '.join(drifted)}): "
                       "the population differs from the one the model was trained on")
    broken = sorted(broken, key=summary[BATCH].tolist().index)
    retrain = bool(reasons)
    action = "retrain" if retrain else ("fix the data feed" if broken else "no action")
    notes = [f"data-quality faults or rejected batches ({', '.join(broken)}): fix the feed first; "
             "retraining on broken data would teach the model the fault"] if broken else []
    return {"retrain": retrain, "action": action,
            "reason": " | ".join(reasons) if reasons else ("no batch shows degraded performance or repeated drift"),
            "notes": notes, "batches": int(len(summary)), "alerts": int(summary["alert"].astype(bool).sum()),
            "alerting_batches": summary.loc[summary["alert"].astype(bool), BATCH].tolist()}


def render_monitoring_overview(summary: pd.DataFrame, chart: go.Figure, recommendation: dict[str, Any]) -> str:
    """Return the monitoring overview page: recommendation, chart and one linked row per batch."""
    columns = [BATCH, SCENARIO, "rows", "drift_share", "prediction_drift", "roc_auc", "data_quality", "alert_level", "reason"]
    body = []
    for row in summary.to_dict("records"):
        cells = []
        for column in columns:
            value = row[column]
            text = "" if pd.isna(value) else (f"{value:.3f}" if isinstance(value, float) else str(value))
            if column == BATCH and row["data_quality"] != "error":
                text = f'<a href="batches/{html.escape(text)}.html">{html.escape(text)}</a>'
            else:
                text = html.escape(text)
            cells.append(f"<td>{text}</td>")
        body.append(f'<tr class="{row["alert_level"]}">{"".join(cells)}</tr>')
    header = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    notes = "".join(f"<p>{html.escape(n)}</p>" for n in recommendation["notes"])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Monitoring overview</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ddd;padding:0.3rem 0.5rem;font-size:0.9rem}} tr.critical{{background:#fde2e2}}
tr.warning{{background:#fff4d6}}</style></head><body>
<h1>Monitoring overview</h1>
<p><strong>Recommendation: {html.escape(recommendation["action"])}</strong> — {html.escape(recommendation["reason"])}</p>{notes}
{chart.to_html(full_html=False, include_plotlyjs=True)}
<table><tr>{header}</tr>{"".join(body)}</table>
<p>Each batch links to its Evidently report. The history across runs is in the Evidently workspace
(see docs/monitoring.md: <code>evidently ui --workspace &lt;folder&gt;</code>).</p>
</body></html>
"""


def build_monitoring_index_section(summary: pd.DataFrame, recommendation: dict[str, Any]) -> dict[str, Any]:
    """Return the monitoring section of the report index: headline numbers and links to the overview and every batch report."""
    reported = summary[summary["data_quality"] != "error"]
    links = [{"label": "Monitoring overview (chart, table, recommendation)", "href": "monitoring/overview.html"}]
    links += [{"label": f"Batch {row[BATCH]} ({row[SCENARIO] if pd.notna(row[SCENARIO]) else row[SOURCE]}): {row['alert_level']}",
               "href": f"monitoring/batches/{row[BATCH]}.html"} for row in reported.to_dict("records")]
    return {
        "title": "Monitoring",
        "updated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "headline": {"batches": len(summary), "alerts": int(summary["alert"].astype(bool).sum()),
                     "recommendation": recommendation["action"]},
        "links": links,
        "notes": [recommendation["reason"], *recommendation["notes"]],
    }
