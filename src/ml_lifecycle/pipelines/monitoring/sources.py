"""Batch sources other than simulation: files dropped into the production folder and the service's request log; late
labels from the labels folder; every source prepared like training rows."""

from __future__ import annotations

import io
from collections.abc import Callable

import pandas as pd

from ml_lifecycle import rows
from ml_lifecycle.pipelines.monitoring.columns import (
    BATCH,
    BATCH_COLUMNS,
    BATCH_TIME,
    DETAIL,
    ERROR_COLUMNS,
    LABEL_SOURCE,
    LABELLED,
    LABELLED_AT,
    ROW_KEY,
    SCENARIO,
    SOURCE,
    empty_source,
)
from ml_lifecycle.pipelines.monitoring.config import LabelsConfig
from ml_lifecycle.pipelines.monitoring.service import day_batch_names
from ml_lifecycle.spec import ProblemSpec, snake_case

LABEL_FILE = "label_file"
ARRIVAL_COLUMNS = [ROW_KEY, "label", LABELLED_AT, LABEL_FILE]
ARRIVAL_REPORT_COLUMNS = [LABEL_FILE, "rows", "matched", "already_known", "conflicting", "unmatched", "error"]


def read_dropped_in_batches(production_files: dict[str, Callable[[], bytes]], production_folder: str, labels: LabelsConfig,
                            spec: ProblemSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the dropped-in files' standardised rows (one batch per file) and the files that cannot be read."""
    frames, errors = [], []
    for name in sorted(production_files):
        file = f"{production_folder}/{name}.csv"
        try:
            frame = rows.standardise(rows.read_raw_table(production_files[name](), file, spec), spec, file, label_optional=True)
            keys = _row_keys(frame, name, labels.id_column, file)
        except rows.DataValidationError as error:
            errors.append({BATCH: name, SOURCE: "dropped_in", SCENARIO: pd.NA, DETAIL: file, "reason": str(error)})
            continue
        frame = frame.drop(columns=[rows.SOURCE_COLUMN, *([labels.id_column] if labels.id_column else [])])
        # A header-less file one column short is read as the training format without the label column.
        detail = file if spec.target_column in frame else f"{file}, {frame.shape[1]} columns: read without the label column"
        frame[BATCH], frame[SOURCE], frame[SCENARIO], frame[DETAIL], frame[BATCH_TIME] = name, "dropped_in", pd.NA, detail, pd.NaT
        frame[ROW_KEY] = keys
        frame[LABELLED_AT] = pd.NaT
        has_label = frame[spec.target_column].notna() if spec.target_column in frame else pd.Series(False, index=frame.index)
        frame[LABEL_SOURCE] = pd.Series(f"file {file}", index=frame.index).where(has_label)
        frames.append(frame)
    batches = pd.concat(frames, ignore_index=True) if frames else empty_source(spec)
    return batches, pd.DataFrame(errors, columns=ERROR_COLUMNS)


def _row_keys(frame: pd.DataFrame, batch: str, id_column: str | None, file: str) -> list[str]:
    """Return each dropped-in row's key for late labels: `<id column>=<value>` when declared, else `<batch>:<row>`."""
    if id_column is None:
        return [f"{batch}:{row}" for row in range(len(frame))]
    if id_column not in frame:
        raise rows.DataValidationError(f"{file}: no column {id_column!r} (monitoring.labels.id_column) to key late labels by")
    ids = frame[id_column].astype("string")
    if ids.isna().any() or ids.duplicated().any():
        raise rows.DataValidationError(f"{file}: column {id_column!r} (monitoring.labels.id_column) must identify every row "
                                       "once; it has missing or repeated values")
    return (f"{id_column}=" + ids).tolist()


def request_log_batches(request_log: pd.DataFrame, spec: ProblemSpec) -> pd.DataFrame:
    """Return the prediction service's logged rows as standardised rows, one batch per UTC day (`requests_YYYY-MM-DD`)."""
    if request_log.empty:
        return empty_source(spec)
    received = pd.to_datetime(request_log["received_at"], utc=True).dt.tz_localize(None)
    source_rows = rows.clean_text(request_log[[c for c in request_log.columns if c in spec.features]], spec)
    source_rows[spec.target_column] = request_log["label"]  # the true label, once POST /feedback brought it
    source_rows[BATCH] = day_batch_names(request_log["received_at"])
    source_rows[SOURCE], source_rows[SCENARIO], source_rows[DETAIL] = "request_log", pd.NA, "prediction service request log"
    source_rows[BATCH_TIME] = received.dt.floor("D")
    source_rows[ROW_KEY] = request_log["request_id"].astype(str) + ":" + request_log["row"].astype(str)
    source_rows[LABELLED_AT] = pd.to_datetime(request_log["labelled_at"], utc=True, format="ISO8601").dt.tz_localize(None)
    senders = request_log["label_sender"] if "label_sender" in request_log else pd.Series("unknown", index=request_log.index)
    source_rows[LABEL_SOURCE] = ("feedback from " + senders.astype(str)).where(request_log["label"].notna())
    return source_rows


def read_label_file(content: bytes, file: str, labels: LabelsConfig, spec: ProblemSpec) -> pd.DataFrame:
    """Return one label file's labels keyed like the rows they label (`ARRIVAL_COLUMNS`), or raise naming the file."""
    try:
        table = pd.read_csv(io.BytesIO(content), dtype=str, encoding=spec.raw.encoding, skipinitialspace=True)
    except (ValueError, UnicodeDecodeError) as error:
        raise rows.DataValidationError(f"{file}: not a CSV file with a header ({error})") from None
    table = table.set_axis([snake_case(str(c)) for c in table.columns], axis=1)
    target = spec.target_column
    if target not in table:
        raise rows.DataValidationError(f"{file}: no label column {target!r}; found {list(table.columns)}")
    if "request_id" in table:
        keys = table["request_id"].str.strip() + ":" + (table["row"].str.strip() if "row" in table else "0")
    elif labels.id_column is not None and labels.id_column in table:
        keys = f"{labels.id_column}=" + table[labels.id_column].str.strip()
    elif {"batch", "row"} <= set(table.columns):
        keys = table["batch"].str.strip() + ":" + table["row"].str.strip()
    else:
        known = "request_id [row]" + (f", {labels.id_column}" if labels.id_column else "") + " or batch and row"
        raise rows.DataValidationError(f"{file}: no key column: a label file names its rows by {known}; "
                                       f"found {list(table.columns)}")
    line_of_row = pd.Series([f"{file} line {i + 2}" for i in range(len(table))], index=table.index)
    rows.raise_if_any(rows.label_problems(table[target], spec), line_of_row, "label is a declared label")
    rows.raise_if_any(keys.isna().map({True: "a key field is empty", False: ""}).astype("string"), line_of_row, "every row keyed")
    when = pd.Series(pd.NaT, index=table.index, dtype="datetime64[ns]")
    if LABELLED_AT in table:
        when = pd.to_datetime(table[LABELLED_AT], utc=True, errors="coerce", format="ISO8601").dt.tz_localize(None)
        bad = table[LABELLED_AT].notna() & when.isna()
        rows.raise_if_any(bad.map({True: f"{LABELLED_AT} is not a date-time", False: ""}).astype("string"), line_of_row,
                          f"{LABELLED_AT} is an ISO date-time")
    return pd.DataFrame({ROW_KEY: keys.to_numpy(), "label": table[target].to_numpy(), LABELLED_AT: when.to_numpy(),
                         LABEL_FILE: file}, columns=ARRIVAL_COLUMNS)


def read_label_files(label_files: dict[str, Callable[[], bytes]], labels: LabelsConfig,
                     spec: ProblemSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return every readable label file's labels, and one report row per file that cannot be read."""
    arrivals, errors = [], []
    for name in sorted(label_files):
        file = f"{labels.folder}/{name}.csv"
        try:
            arrivals.append(read_label_file(label_files[name](), file, labels, spec))
        except rows.DataValidationError as error:
            errors.append({LABEL_FILE: file, "error": str(error)})
    found = pd.concat(arrivals, ignore_index=True) if arrivals else pd.DataFrame(columns=ARRIVAL_COLUMNS)
    return found, pd.DataFrame(errors, columns=ARRIVAL_REPORT_COLUMNS)


def join_late_labels(source_rows: pd.DataFrame, arrivals: pd.DataFrame, spec: ProblemSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the rows with late labels filled in where they had none, and per label file what it matched.

    A row whose labels disagree (two files, or a file and the label it already had) gets no label:
    a conflict is never settled by whichever came last.
    """
    target, normalise = spec.target_column, spec.target.normalise
    if arrivals.empty:
        return source_rows, pd.DataFrame(columns=ARRIVAL_REPORT_COLUMNS)
    arrivals = arrivals.assign(normalised=arrivals["label"].map(normalise))
    per_key = arrivals.groupby(ROW_KEY).agg(label=("label", "first"), labels=("normalised", "nunique"),
                                            labelled_at=(LABELLED_AT, "max"), label_file=(LABEL_FILE, "first"))
    known = source_rows.set_index(ROW_KEY)[target].map(normalise, na_action="ignore")
    had = known.reindex(per_key.index)
    conflicting = (per_key["labels"] > 1) | (had.notna() & (had != per_key["label"].map(normalise)))
    joined = source_rows.copy()
    key = joined[ROW_KEY]
    fill = key.map(per_key["label"].where(~conflicting)).where(joined[target].isna())
    joined[target] = joined[target].astype("object").where(fill.isna(), fill)
    joined[LABELLED_AT] = joined[LABELLED_AT].where(fill.isna(), key.map(per_key[LABELLED_AT]))
    joined[LABEL_SOURCE] = joined[LABEL_SOURCE].where(fill.isna(), "label file " + key.map(per_key[LABEL_FILE]))
    joined.loc[key.isin(conflicting[conflicting].index), [target, LABEL_SOURCE]] = pd.NA
    report = []
    for file, own in arrivals.groupby(LABEL_FILE, sort=True):
        matched = own[ROW_KEY].isin(known.index)
        clash = own[ROW_KEY].map(conflicting).fillna(False).astype(bool)
        before = own[ROW_KEY].map(had).notna() & ~clash
        report.append({LABEL_FILE: file, "rows": len(own), "matched": int((matched & ~clash & ~before).sum()),
                       "already_known": int(before.sum()), "conflicting": int((matched & clash).sum()),
                       "unmatched": int((~matched).sum()), "error": pd.NA})
    return joined, pd.DataFrame(report, columns=ARRIVAL_REPORT_COLUMNS)


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


def prepare_production_batches(unreadable: pd.DataFrame, arrivals: pd.DataFrame, unreadable_labels: pd.DataFrame,
                               spec: ProblemSpec, *sources: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Return every source's batches with late labels joined, typed like training rows; one error entry per batch that
    breaks a rule; and what each label file matched.

    `sources` are standardised rows with the batch columns; a new batch source (e.g. the
    prediction service's request log) is one more input of this node.
    """
    named = [s for s in sources if len(s)]
    every_row = pd.concat(named, ignore_index=True) if named else empty_source(spec)
    every_row, arrival_report = join_late_labels(every_row, arrivals, spec)
    errors = [unreadable] if len(unreadable) else []
    prepared, seen = [], set(unreadable[BATCH])
    for (_, name), frame in every_row.groupby([SOURCE, BATCH], sort=False):  # by source too: a name used twice is refused
        info = frame[ERROR_COLUMNS[:-1]].iloc[0]
        label = f"{info[SOURCE]} batch {name!r}" + (f" ({info[DETAIL]})" if info[SOURCE] == "dropped_in" else "")
        try:
            if name in seen:
                raise rows.DataValidationError(f"{label}: another batch already has this name; rename it")
            typed = _typed_batch(frame.drop(columns=BATCH_COLUMNS), spec, label)
        except rows.DataValidationError as error:
            errors.append(pd.DataFrame([{**info.to_dict(), "reason": str(error)}]))
            continue
        finally:
            seen.add(name)
        typed[BATCH_COLUMNS] = frame[BATCH_COLUMNS]
        typed[LABELLED] = bool(typed[spec.target_column].notna().all())
        prepared.append(typed.reset_index(drop=True))
    columns = [*spec.features, spec.target_column, *spec.banded_columns, *BATCH_COLUMNS, LABELLED]
    batches = pd.concat(prepared, ignore_index=True) if prepared else pd.DataFrame(columns=columns)
    batch_errors = pd.concat(errors, ignore_index=True) if errors else pd.DataFrame(columns=ERROR_COLUMNS)
    reports = [r for r in (arrival_report, unreadable_labels) if len(r)]
    return batches, batch_errors, pd.concat(reports, ignore_index=True) if reports else arrival_report
