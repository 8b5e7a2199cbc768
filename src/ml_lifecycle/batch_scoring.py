"""Batch inference, shared by the `inference` and `inference_partitioned` pipelines: score a file of new raw rows with the champion's bundle; unusable rows go to rejects with their reasons:
a malformed record (another number of fields, a control character) or a value outside the bundle's input limits."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from pydantic import Field

from ml_lifecycle import rows
from ml_lifecycle.deployment import DeployedModel
from ml_lifecycle.report_index import IndexSection
from ml_lifecycle.spec import ProblemSpec, StrictModel

INPUT_ROW = "input_row"


class InferenceConfig(StrictModel):
    """Where the batch comes from and goes (`parameters_deployment.yml`, key `inference`; set by runtime params)."""

    input_path: str
    output_path: str
    rejects_path: str
    max_reject_share: float = Field(default=0.5, ge=0, le=1,
                                    description="More of the rows rejected: the run fails and earlier outputs stay.")


def _label(decisions: pd.Series, spec: ProblemSpec) -> pd.Series:
    return decisions.map({1: spec.target.positive_label, 0: spec.target.negative_label})


def _refuse_mostly_rejected(reasons: pd.Series, rows_read: int, config: InferenceConfig) -> None:
    """Raise with the counts and the commonest reasons when more than the declared share of the rows is rejected."""
    share = len(reasons) / rows_read
    if share > config.max_reject_share:
        common = "; ".join(f"{reason} ({count} rows)" for reason, count in reasons.value_counts().head(3).items())
        raise rows.DataValidationError(
            f"{config.input_path}: {len(reasons)} of {rows_read} rows rejected ({share:.0%}; inference.max_reject_share "
            f"allows {config.max_reject_share:.0%}), e.g. {common}; nothing was written, earlier outputs stay")


def parquet_records(frame: pd.DataFrame) -> rows.RawTable:
    """Return rows read from Parquet as a raw file's records: values as text (missing kept missing), rows numbered from 1.

    A typed column's values become the text a CSV file would hold (39 -> '39'), so the rows go
    through the same checks and parsing as raw text and score the same.
    """
    texts = frame.astype("string").reset_index(drop=True)
    return rows.RawTable(frame=texts, lines=pd.Series(range(1, len(texts) + 1), dtype="int64"),
                         problems=pd.Series("", index=texts.index, dtype="str"))


def score_new_rows(inference_input: bytes | pd.DataFrame, deployed: DeployedModel, spec: ProblemSpec,
                   config: InferenceConfig) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Return the scored rows, the rejected rows with their reasons, and a summary of the batch (raw bytes or Parquet rows)."""
    started = time.perf_counter()
    scored_at = datetime.now(UTC).isoformat(timespec="seconds")
    table = (parquet_records(inference_input) if isinstance(inference_input, pd.DataFrame)
             else rows.read_records(inference_input, config.input_path, spec))
    raw = table.frame
    standardised = rows.standardise(raw, spec, config.input_path, label_optional=True, columns=spec.features)
    typed = rows.cast_features(standardised, spec)
    values = rows.unless_malformed(rows.row_problems(standardised, typed, spec, deployed.limits), table.problems)
    problems = rows.joined_problems(table.problems, values)
    usable = problems == ""
    _refuse_mostly_rejected(problems[~usable], len(raw), config)
    every_row_usable = bool(usable.all())  # the usual batch: no row to drop, so no copy of the table
    typed = typed if every_row_usable else typed[usable]
    model_rows = deployed.bundle.model_rows(typed, spec)
    probability = deployed.probabilities(model_rows) if len(model_rows) else []
    decision = (pd.Series(probability, index=typed.index) >= deployed.threshold).astype("int8")
    predictions = pd.concat(
        [
            pd.Series(typed.index, index=typed.index, name=INPUT_ROW),
            standardised[spec.features] if every_row_usable else standardised.loc[usable, spec.features],
            pd.DataFrame(
                {
                    "probability": probability,
                    "decision": decision,
                    "predicted_label": _label(decision, spec),
                    "low_confidence": deployed.low_confidence(probability),
                    "unseen_categories": deployed.unseen_categories(typed, spec),
                    "model_version": deployed.version,
                    "threshold": deployed.threshold,
                    "scored_at": scored_at,
                },
                index=typed.index,
            ),
        ],
        axis=1,
    )
    rejects = raw[~usable].copy()
    rejects.columns = rows.column_names(raw, spec, config.input_path, label_optional=True)
    rejects.insert(0, INPUT_ROW, rejects.index)
    rejects.insert(1, rows.LINE_COLUMN, table.lines[~usable])
    rejects["reasons"] = problems[~usable]
    seconds = time.perf_counter() - started
    summary = {
        "input": config.input_path,
        "output": config.output_path,
        "rejects": config.rejects_path,
        "rows": len(raw),
        "scored": int(usable.sum()),
        "rejected": int((~usable).sum()),
        "rows_with_unseen_categories": int((predictions["unseen_categories"] != "").sum()),
        "positive_share": round(float(decision.mean()), 4) if len(decision) else None,
        "low_confidence_share": round(float(predictions["low_confidence"].mean()), 4) if len(decision) else None,
        "model_version": deployed.version,
        "threshold": deployed.threshold,
        "scored_at": scored_at,
        "seconds": round(seconds, 3),
        "rows_per_second": round(len(raw) / seconds) if seconds else None,
    }
    return predictions.reset_index(drop=True), rejects.reset_index(drop=True), summary


def build_index_section(summary: dict[str, Any]) -> IndexSection:
    """Return the deployment section of `data/08_reporting/index.html`: the last batch scored and by which model."""
    return IndexSection(
        title="Deployment (batch inference)",
        updated=summary["scored_at"],
        headline={
            "champion": summary["model_version"],
            "threshold": f"{summary['threshold']:g}",
            "rows scored": summary["scored"],
            "rows rejected": summary["rejected"],
            "positive share": "n/a" if summary["positive_share"] is None else f"{summary['positive_share']:.3f}",
        },
        notes=[f"Last batch: {summary['input']} -> {summary['output']} (rejects: {summary['rejects']})."],
    )
