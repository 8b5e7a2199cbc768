"""Batch inference of inputs larger than memory: the raw input in blocks, each scored by the pandas path's own node.

Each block goes through `nodes.score_new_rows` unchanged, so its predictions are those of the
pandas path; only the row numbers are shifted to count across the whole batch.
"""

from __future__ import annotations

import uuid
from typing import Any

import dask
import pandas as pd
from dask.delayed import Delayed

from ml_lifecycle import rows
from ml_lifecycle.batch_scoring import (
    INPUT_ROW,
    InferenceConfig,
    score_new_rows,
)
from ml_lifecycle.compute import ComputeConfig, dask_client
from ml_lifecycle.deployment import DeployedModel
from ml_lifecycle.partitions import RawBlock
from ml_lifecycle.spec import ProblemSpec


def _prepends_header(block: RawBlock, spec: ProblemSpec) -> bool:
    """Return whether the block needs its file's first line: a later text block of a file whose first row names the columns."""
    return not block.parquet and not block.starts_file and spec.raw.column_names is None


def _whole_rows(block: RawBlock, spec: ProblemSpec) -> Delayed:
    """Return the block's bytes as a file of its own (with its file's header line when it needs one)."""
    if _prepends_header(block, spec):
        return dask.delayed(bytes.__add__, pure=True)(block.first_line, block.content)
    return block.content


def _shape(content: bytes, file: str, spec: ProblemSpec) -> tuple[int, int]:
    """Return how many records and line ends a block holds (no records: a block of blank lines)."""
    records = len(rows.read_records(content, file, spec).frame) if content.strip() else 0
    return records, content.count(b"\n")


def _score_block(content: bytes | pd.DataFrame, first_row: int, lines_before: int, deployed: DeployedModel, spec: ProblemSpec,
                 config: InferenceConfig) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Return one block scored by the pandas path, rows numbered across the batch and lines within the file."""
    predictions, rejects, summary = score_new_rows(content, deployed, spec, config)
    return (predictions.assign(**{INPUT_ROW: predictions[INPUT_ROW] + first_row}),
            rejects.assign(**{INPUT_ROW: rejects[INPUT_ROW] + first_row,
                              rows.LINE_COLUMN: rejects[rows.LINE_COLUMN] + lines_before}), summary)


def score_partitions(blocks: list[RawBlock], deployed: DeployedModel, spec: ProblemSpec, config: InferenceConfig,
                     compute: ComputeConfig) -> list[Delayed]:
    """Return every non-empty block's scoring, lazily: (predictions, rejects, summary) numbered across the batch.

    Text blocks are first parsed without the model, to learn where each block's rows and lines start
    (a Parquet block's rows are known; its "lines" are its rows); `inference.max_reject_share` applies to each block.
    """
    contents = [_whole_rows(block, spec) for block in blocks]
    text = [number for number, block in enumerate(blocks) if not block.parquet]  # a Parquet footer gives its rows
    with dask_client(compute):
        counted = dict(zip(text, dask.compute(*[dask.delayed(_shape)(contents[n], blocks[n].file, spec) for n in text]),
                           strict=True))
    shapes = [counted.get(number, (block.rows, block.rows)) for number, block in enumerate(blocks)]
    model = dask.delayed(deployed, name=f"deployed-model-{uuid.uuid4().hex}")  # one copy in the graph, not one per block
    scored, first_row, lines_in_file = [], 0, 0
    for content, block, (records, line_ends) in zip(contents, blocks, shapes, strict=True):
        lines_in_file = 0 if block.starts_file else lines_in_file
        header = _prepends_header(block, spec)
        if records:
            scored.append(dask.delayed(_score_block)(content, first_row, lines_in_file - header, model, spec,
                                                     config.model_copy(update={"input_path": block.file})))
        first_row += records
        lines_in_file += line_ends - header
    if not scored:
        raise rows.DataValidationError(f"{config.input_path}: no data rows in any file (rule: non-empty)")
    return scored


def summarise_partitions(block_summaries: list[dict[str, Any]], config: InferenceConfig) -> dict[str, Any]:
    """Return the batch summary from its blocks' summaries: the pandas path's keys, shares weighted by scored rows."""
    table = pd.DataFrame(block_summaries)
    scored = int(table["scored"].sum())

    def weighted(share: str) -> float | None:
        return round(float((table[share].fillna(0) * table["scored"]).sum() / scored), 4) if scored else None

    return {
        "input": config.input_path,
        "output": table["output"].iloc[0].rsplit("/", 1)[0],
        "rejects": table["rejects"].iloc[0].rsplit("/", 1)[0],
        "rows": int(table["rows"].sum()),
        "scored": scored,
        "rejected": int(table["rejected"].sum()),
        "rows_with_unseen_categories": int(table["rows_with_unseen_categories"].sum()),
        "positive_share": weighted("positive_share"),
        "low_confidence_share": weighted("low_confidence_share"),
        "model_version": table["model_version"].iloc[0],
        "threshold": float(table["threshold"].iloc[0]),
        "scored_at": table["scored_at"].min(),
        "partitions": len(table),
        "task_seconds": round(float(table["seconds"].sum()), 3),
    }
