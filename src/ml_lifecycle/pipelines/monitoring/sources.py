"""Batch sources other than simulation: files dropped into the production folder and the service's request log; every source prepared like training rows."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from ml_lifecycle import rows
from ml_lifecycle.pipelines.monitoring.columns import (
    BATCH,
    BATCH_COLUMNS,
    BATCH_TIME,
    DETAIL,
    ERROR_COLUMNS,
    LABELLED,
    SCENARIO,
    SOURCE,
    empty_source,
)
from ml_lifecycle.spec import ProblemSpec


def read_dropped_in_batches(production_files: dict[str, Callable[[], bytes]], production_folder: str,
                            spec: ProblemSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the dropped-in files' standardised rows (one batch per file) and the files that cannot be read."""
    frames, errors = [], []
    for name in sorted(production_files):
        file = f"{production_folder}/{name}.csv"
        try:
            frame = rows.standardise(rows.read_raw_table(production_files[name](), file, spec), spec, file, label_optional=True)
        except rows.DataValidationError as error:
            errors.append({BATCH: name, SOURCE: "dropped_in", SCENARIO: pd.NA, DETAIL: file, "reason": str(error)})
            continue
        frame = frame.drop(columns=rows.SOURCE_COLUMN)
        # A header-less file one column short is read as the training format without the label column.
        detail = file if spec.target_column in frame else f"{file}, {frame.shape[1]} columns: read without the label column"
        frame[BATCH], frame[SOURCE], frame[SCENARIO], frame[DETAIL], frame[BATCH_TIME] = name, "dropped_in", pd.NA, detail, pd.NaT
        frames.append(frame)
    batches = pd.concat(frames, ignore_index=True) if frames else empty_source(spec)
    return batches, pd.DataFrame(errors, columns=ERROR_COLUMNS)


def request_log_batches(request_log: pd.DataFrame, spec: ProblemSpec) -> pd.DataFrame:
    """Return the prediction service's logged rows as standardised rows, one batch per UTC day (`requests_YYYY-MM-DD`)."""
    if request_log.empty:
        return empty_source(spec)
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
