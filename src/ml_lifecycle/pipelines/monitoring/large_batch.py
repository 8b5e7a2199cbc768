"""Monitoring a batch larger than memory: per-column statistics and drift scores from counts computed with Dask,
and the Evidently report on a declared, seeded sample of the batch.

The scored batch (`inference_partitioned`'s Parquet predictions) is read as a Dask dataframe. Each
partition is reduced to counts: missing values, category frequencies, and for a number a histogram
(count and sum of the values per bin) on bins cut between the reference's distinct values, or at
its quantiles when it has more than `large_batch.histogram_bins` of them; the partitions' counts
are added up. The drift scores are the monitoring pipeline's Evidently measures computed from those
counts: the Jensen-Shannon distance of category frequencies is exact; the Wasserstein distance
(in reference standard deviations) takes each bin's batch values at their mean, so it is exact
when every bin holds one distinct value and otherwise off by at most a bin's spread. Limits are
calibrated on the reference as for every batch (calibration.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from typing import Any

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
from evidently.presets import DataDriftPreset, DataSummaryPreset
from kedro.pipeline import Node, Pipeline
from scipy import stats
from scipy.spatial import distance

from ml_lifecycle import evidently_glue, rows
from ml_lifecycle.compute import ComputeConfig, dask_client
from ml_lifecycle.evidently_glue import PREDICTION, PROBABILITY
from ml_lifecycle.pipelines.monitoring import checks
from ml_lifecycle.pipelines.monitoring.calibration import (
    SHARE,
    calibrate_for_size,
    calibration_rows,
    drift_methods,
)
from ml_lifecycle.pipelines.monitoring.checks import DriftLimits, drift_options
from ml_lifecycle.pipelines.monitoring.config import MonitoringConfig
from ml_lifecycle.spec import ProblemSpec

# The scored batch's own names for the champion's probability and decision (batch_scoring.score_new_rows).
SCORED_PROBABILITY, SCORED_DECISION = "probability", "decision"
# Measures that counts can give exactly as Evidently computes them on rows, by column kind (numeric or not).
FROM_COUNTS = {True: "wasserstein", False: "jensenshannon"}
# A batch far larger than the reference is judged against the reference's own noise: clean scores at ten
# times the reference's size spread within 5% of an endless batch's (noise ~ sqrt(1/rows + 1/reference rows)),
# and calibrating there costs a fixed time whatever the batch size.
CALIBRATION_FACTOR = 10
QUANTILES = {"p05": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95}


@dataclass(frozen=True)
class NumericCounts:
    """One number column of a batch as counts: missing values, moments, and per bin the rows and their sum."""

    missing: int
    rows: int
    mean: float
    squares: float  # the sum of squared deviations from the mean (merged with Chan's formula: no cancellation)
    low: float
    high: float
    counts: np.ndarray
    sums: np.ndarray

    def __add__(self, other: NumericCounts) -> NumericCounts:
        rows_ = self.rows + other.rows
        delta = other.mean - self.mean
        mean = self.mean + delta * other.rows / rows_ if rows_ else 0.0
        squares = self.squares + other.squares + delta**2 * self.rows * other.rows / rows_ if rows_ else 0.0
        return NumericCounts(self.missing + other.missing, rows_, mean, squares, min(self.low, other.low),
                             max(self.high, other.high), self.counts + other.counts, self.sums + other.sums)


@dataclass(frozen=True)
class BatchCounts:
    """A whole batch as counts: rows per partition, and per column its numeric counts or category frequencies."""

    partition_rows: tuple[int, ...]
    numeric: dict[str, NumericCounts]
    categories: dict[str, pd.Series]  # value -> rows; missing values under no key
    missing: dict[str, int]

    @property
    def rows(self) -> int:
        return sum(self.partition_rows)

    def __add__(self, other: BatchCounts) -> BatchCounts:
        return BatchCounts(
            self.partition_rows + other.partition_rows,
            {c: self.numeric[c] + other.numeric[c] for c in self.numeric},
            {c: self.categories[c].add(other.categories[c], fill_value=0).astype("int64") for c in self.categories},
            {c: self.missing[c] + other.missing[c] for c in self.missing})


def judged_columns(config: MonitoringConfig, spec: ProblemSpec) -> dict[str, bool]:
    """Return each judged column (features and the probability) and whether it is numeric; raise for a measure counts cannot give."""
    methods = drift_methods(config, spec)
    unsupported = [f"{column}: {method}" for column, (numeric, method) in methods.items() if method != FROM_COUNTS[numeric]]
    if unsupported:
        raise ValueError(f"monitoring.drift sets measures a large batch cannot compute from counts ({', '.join(unsupported)}); "
                         f"large batches support {FROM_COUNTS[True]} for numbers and {FROM_COUNTS[False]} for categories")
    return {column: numeric for column, (numeric, _) in methods.items()}


def bin_points(reference: pd.Series, bins: int) -> np.ndarray:
    """Return the histogram's bin centres: the reference's distinct values, or `bins` of its quantiles when it has more."""
    values = reference.dropna().to_numpy(dtype="float64")
    distinct = np.unique(values)
    return distinct if len(distinct) <= bins else np.unique(np.quantile(values, np.linspace(0, 1, bins)))


def _edges(points: np.ndarray) -> np.ndarray:
    """Return the edges between consecutive bin centres (the outer bins are open)."""
    return (points[1:] + points[:-1]) / 2


def _numeric_counts(values: np.ndarray, edges: np.ndarray) -> NumericCounts:
    """Return one partition's counts of a number column (NaN is missing)."""
    present = values[~np.isnan(values)]
    where = np.searchsorted(edges, present, side="right")
    mean = float(present.mean()) if len(present) else 0.0
    return NumericCounts(
        missing=int(len(values) - len(present)), rows=len(present), mean=mean,
        squares=float(((present - mean) ** 2).sum()), low=float(present.min()) if len(present) else np.inf,
        high=float(present.max()) if len(present) else -np.inf,
        counts=np.bincount(where, minlength=len(edges) + 1), sums=np.bincount(where, weights=present, minlength=len(edges) + 1))


def typed_batch(part: pd.DataFrame, spec: ProblemSpec) -> pd.DataFrame:
    """Return scored rows as the reference holds them: typed features, the probability and the decision under Evidently's names."""
    typed = rows.cast_features(part, spec)
    typed[PROBABILITY] = part[SCORED_PROBABILITY].to_numpy(dtype="float64")
    typed[PREDICTION] = part[SCORED_DECISION].to_numpy(dtype="int64")
    return typed


def _partition_counts(part: pd.DataFrame, edges: dict[str, np.ndarray], spec: ProblemSpec) -> BatchCounts:
    """Return one partition of the scored batch as counts."""
    typed = typed_batch(part, spec)
    categorical = [c for c in typed.columns if c not in edges and c != PREDICTION]
    return BatchCounts(
        partition_rows=(len(typed),),
        numeric={c: _numeric_counts(typed[c].to_numpy(dtype="float64"), e) for c, e in edges.items()},
        categories={c: typed[c].value_counts(dropna=True).astype("int64") for c in categorical},
        missing={c: int(typed[c].isna().sum()) for c in categorical})


def count_large_batch(scored_batch: dd.DataFrame, scored_reference: pd.DataFrame, config: MonitoringConfig, spec: ProblemSpec,
                      compute: ComputeConfig) -> BatchCounts:
    """Return the scored batch (a Dask dataframe of any size) as counts, one pass over its partitions on Dask."""
    numeric = [c for c, is_number in judged_columns(config, spec).items() if is_number]
    edges = {c: _edges(bin_points(scored_reference[c], config.large_batch.histogram_bins)) for c in numeric}
    parts = [dask.delayed(_partition_counts)(part, edges, spec) for part in scored_batch.to_delayed()]
    with dask_client(compute):
        counted = dask.compute(*parts)
    return reduce(BatchCounts.__add__, counted)


def wasserstein_from_counts(reference: pd.Series, counts: NumericCounts) -> float:
    """Return Evidently's normed Wasserstein distance of the counted values against the reference's (missing left out)."""
    values = reference.dropna().to_numpy(dtype="float64")
    filled = counts.counts > 0
    centres = counts.sums[filled] / counts.counts[filled]
    norm = max(float(np.std(values)), 0.001)
    return float(stats.wasserstein_distance(values, centres, v_weights=counts.counts[filled]) / norm)


def jensenshannon_from_counts(reference: pd.Series, frequencies: pd.Series) -> float:
    """Return Evidently's Jensen-Shannon distance of category frequencies against the reference's (missing left out)."""
    known = reference.dropna().value_counts()
    keys = known.index.union(frequencies.index)
    return float(distance.jensenshannon(known.reindex(keys, fill_value=0).to_numpy(dtype="float64"),
                                        frequencies.reindex(keys, fill_value=0).to_numpy(dtype="float64")))


def _quantiles(counts: NumericCounts) -> dict[str, float]:
    """Return the quantiles of the counted values, each bin taken at its values' mean."""
    filled = counts.counts > 0
    cumulative = np.cumsum(counts.counts[filled])
    centres = counts.sums[filled] / counts.counts[filled]
    return {name: float(centres[np.searchsorted(cumulative, q * counts.rows)]) if counts.rows else np.nan
            for name, q in QUANTILES.items()}


def _column_statistics(column: str, counts: BatchCounts, reference: pd.Series) -> dict[str, Any]:
    """Return one column's statistics: rows, missing share, and moments and quantiles or categories."""
    if column in counts.numeric:
        own = counts.numeric[column]
        return {"column": column, "kind": "numeric", "missing": own.missing,
                "mean": own.mean if own.rows else np.nan, "std": float(np.sqrt(own.squares / own.rows)) if own.rows else np.nan,
                "min": own.low if own.rows else np.nan, **_quantiles(own), "max": own.high if own.rows else np.nan}
    frequencies = counts.categories[column]
    present = int(frequencies.sum())
    unseen = int(frequencies[~frequencies.index.isin(reference.dropna().unique())].sum())
    return {"column": column, "kind": "categorical", "missing": counts.missing[column], "distinct": len(frequencies),
            "top": frequencies.idxmax() if present else None,
            "top_share": frequencies.max() / present if present else np.nan,
            "unseen_share": unseen / present if present else np.nan}


def judge_large_batch(counts: BatchCounts, scored_reference: pd.DataFrame, config: MonitoringConfig,
                      spec: ProblemSpec) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Return per column its statistics and drift score against its calibrated limit, and the batch's drift verdict."""
    judged = judged_columns(config, spec)
    calibrated_at = calibration_rows(min(counts.rows, CALIBRATION_FACTOR * len(scored_reference)))
    limits = DriftLimits.for_batch(calibrate_for_size(scored_reference, calibrated_at, config, spec), calibrated_at)
    records = []
    for column, numeric in judged.items():
        reference = scored_reference[column]
        score = (wasserstein_from_counts(reference, counts.numeric[column]) if numeric
                 else jensenshannon_from_counts(reference, counts.categories[column]))
        threshold = limits.prediction if column == PROBABILITY else limits.columns[column]
        record = _column_statistics(column, counts, reference)
        records.append({**record, "rows": counts.rows, "missing_share": record["missing"] / counts.rows,
                        "method": FROM_COUNTS[numeric], "drift_score": score, "threshold": threshold,
                        "drifted": score >= threshold})
    table = pd.DataFrame(records)
    features = table[table["column"] != PROBABILITY]
    prediction = table[table["column"] == PROBABILITY].iloc[0]
    share = float(features["drifted"].mean())
    summary = {
        "rows": counts.rows, "partitions": len(counts.partition_rows), "calibrated_at_rows": calibrated_at,
        "drifted_columns": features.loc[features["drifted"], "column"].tolist(), SHARE: share,
        f"{SHARE}_limit": limits.drifted_share, "dataset_drift": share >= limits.drifted_share,
        "prediction_drift": float(prediction["drift_score"]), "prediction_drift_limit": limits.prediction,
        "prediction_drifted": bool(prediction["drifted"]),
        "sample_rows": min(config.large_batch.sample_rows, counts.rows), "sample_seed": spec.seed,
    }
    columns = ["column", "kind", "rows", "missing", "missing_share", "mean", "std", "min", *QUANTILES, "max", "distinct",
               "top", "top_share", "unseen_share", "method", "drift_score", "threshold", "drifted"]
    return table.reindex(columns=columns), summary


def _rows_at(part: pd.DataFrame, positions: np.ndarray) -> pd.DataFrame:
    return part.iloc[positions]


def sample_large_batch(scored_batch: dd.DataFrame, counts: BatchCounts, config: MonitoringConfig, spec: ProblemSpec,
                       compute: ComputeConfig) -> pd.DataFrame:
    """Return `large_batch.sample_rows` rows of the batch drawn without replacement (seeded by the spec), in batch order.

    Rows are chosen by their place in the whole batch, so the sample does not depend on how it is partitioned.
    """
    chosen = np.sort(np.random.default_rng(spec.seed).choice(counts.rows, min(config.large_batch.sample_rows, counts.rows),
                                                             replace=False))
    starts = np.cumsum((0, *counts.partition_rows))
    picks = []
    for part, start, end in zip(scored_batch.to_delayed(), starts[:-1], starts[1:], strict=True):
        own = chosen[(chosen >= start) & (chosen < end)] - start
        if len(own):
            picks.append(dask.delayed(_rows_at)(part, own))
    with dask_client(compute):
        return typed_batch(pd.concat(dask.compute(*picks), ignore_index=True), spec)


def report_large_batch_sample(sample: pd.DataFrame, scored_reference: pd.DataFrame, summary: dict[str, Any],
                              config: MonitoringConfig, spec: ProblemSpec) -> str:
    """Return the Evidently report (drift and per-column summary) of the sample as HTML, stating the sample and batch sizes.

    Its drift limits are calibrated for the sample's size; the verdict on the whole batch is the summary's.
    """
    at = calibration_rows(len(sample))
    limits = DriftLimits.for_batch(calibrate_for_size(scored_reference, at, config, spec), at)
    snapshot = evidently_glue.run_report([DataDriftPreset(**drift_options(config, spec, limits)), DataSummaryPreset()],
                                         sample.join(rows.add_slice_columns(sample, spec)), spec, scored_reference.drop(columns=spec.target_column), with_target=False,
                                         name="large batch sample")
    verdict = "drift" if summary["dataset_drift"] else "no drift"
    note = (f"Evidently report on a seeded sample of {len(sample):,} rows (monitoring.large_batch.sample_rows, seed "
            f"{summary['sample_seed']}) of a batch of {summary['rows']:,} rows. Verdict on all {summary['rows']:,} rows, "
            f"from counts: {verdict} (drifted columns share {summary[SHARE]:.3f}, limit {summary[f'{SHARE}_limit']:.3f}; "
            f"prediction drift {summary['prediction_drift']:.4f}, limit {summary['prediction_drift_limit']:.4f}); "
            "per-column figures in large_batch_statistics.")
    return evidently_glue.snapshot_html(snapshot, note=note)


def create_pipeline(**kwargs) -> Pipeline:
    """Create the large-batch monitoring pipeline (registered as `monitoring_partitioned`)."""
    config = ["params:monitoring", "params:problem"]
    return Pipeline(
        [
            Node(checks.score_reference, ["monitoring_reference", "deployed_champion", "params:problem"],
                 "large_batch_reference", name="score_large_batch_reference"),
            Node(count_large_batch, ["partitioned_predictions", "large_batch_reference", *config, "params:compute"],
                 "large_batch_counts", name="count_large_batch"),
            Node(judge_large_batch, ["large_batch_counts", "large_batch_reference", *config],
                 ["large_batch_statistics", "large_batch_summary"], name="judge_large_batch"),
            Node(sample_large_batch, ["partitioned_predictions", "large_batch_counts", *config, "params:compute"],
                 "large_batch_sample", name="sample_large_batch"),
            Node(report_large_batch_sample, ["large_batch_sample", "large_batch_reference", "large_batch_summary", *config],
                 "large_batch_report", name="report_large_batch_sample"),
        ]
    )
