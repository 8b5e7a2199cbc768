"""Simulated production batches: scenarios cut from the test file (covariate shift, prior shift, concept drift, missing spikes, unit changes, unseen categories)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from ml_lifecycle import rows
from ml_lifecycle.pipelines.monitoring.columns import (
    BATCH,
    BATCH_TIME,
    DETAIL,
    SCENARIO,
    SOURCE,
    empty_source,
)
from ml_lifecycle.pipelines.monitoring.config import (
    ConceptDrift,
    CovariateShift,
    MissingSpike,
    MonitoringConfig,
    PriorShift,
    UnitChange,
    UnseenCategory,
)
from ml_lifecycle.spec import ProblemSpec


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
        return empty_source(spec)
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
