"""Simulated production batches: scenarios cut from the held-out test split (covariate shift, prior shift, concept drift, missing spikes, unit changes, unseen categories)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from ml_lifecycle.pipelines.monitoring.columns import (
    BATCH,
    BATCH_TIME,
    DETAIL,
    LABEL_SOURCE,
    LABELLED_AT,
    ROW_KEY,
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
    Scenario,
    SimulationConfig,
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


def _as_source_rows(batch: pd.DataFrame, name: str, scenario: Any, when: dt.date, labels_due: dt.date | None,
                    spec: ProblemSpec) -> pd.DataFrame:
    """Return simulated typed rows as a batch source gives them: features, the raw label once arrived, batch columns.

    `labels_due` is when the labels arrive, None when they have not by the simulated today.
    """
    target = spec.target_column
    source_rows = batch[spec.features].copy()
    labels = pd.Series(np.where(batch[target] == 1, spec.target.positive_label, spec.target.negative_label),
                       index=batch.index, dtype="str")
    arrived = scenario.labelled and labels_due is not None
    source_rows[target] = labels if arrived else pd.Series(pd.NA, index=batch.index, dtype="str")
    source_rows[BATCH], source_rows[SOURCE], source_rows[SCENARIO] = name, "simulated", scenario.kind
    source_rows[DETAIL], source_rows[BATCH_TIME] = scenario.describe(), pd.Timestamp(when)
    source_rows[ROW_KEY] = [f"{name}:{row}" for row in range(len(batch))]
    source_rows[LABELLED_AT] = pd.Timestamp(labels_due) if arrived else pd.NaT
    source_rows[LABEL_SOURCE] = "simulation" if arrived else pd.NA
    return source_rows


def _predictive_order(pool: pd.DataFrame, columns: list[str], target: str) -> list[str]:
    """Return columns by how well each alone ranks the held-out labels (ROC AUC away from 0.5), strongest first."""
    def strength(column: str) -> float:
        values = pool[column]
        if values.dtype.kind not in "fi":  # a category scores by its positive rate
            values = values.map(pool.groupby(values, dropna=False)[target].mean())
        score = roc_auc_score(pool[target], values.fillna(values.median()))
        return abs(score - 0.5)
    return sorted(columns, key=strength, reverse=True) if pool[target].nunique() == 2 else list(columns)


def _upper_part(values: pd.Series, column: str) -> str:
    """Return a query picking the upper part of a numeric column: a quarter of the rows where its values allow."""
    for quantile in (0.75, 0.9, 0.5, 0.25):
        cut = float(values.quantile(quantile))
        for query, picked in ((f"{column} >= {cut:.6g}", values >= cut), (f"{column} > {cut:.6g}", values > cut)):
            if 0.05 <= picked.mean() <= 0.6:
                return query
    return f"{column} > {float(values.median()):.6g}"


def generated_scenarios(pool: pd.DataFrame, spec: ProblemSpec) -> list[Scenario]:
    """Return the default demo for a problem that declares none: clean batches and one of each fault kind.

    Faults fall on the features that matter most, judged by how well each alone ranks the held-out
    labels: a covariate shift and a unit change on the strongest numeric feature, a missing-value
    spike and an unseen category on the strongest categorical one, a prior shift, and concept drift
    (labels flipped) in the strongest numeric feature's upper part.
    """
    target = spec.target_column
    numeric = _predictive_order(pool, spec.numeric_features, target)
    categorical = _predictive_order(pool, spec.categorical_features, target)
    positive_rate = float(pool[target].mean())
    clean = {"kind": "clean"}
    declared: list[dict[str, Any]] = [clean, clean]
    if numeric:
        declared.append({"kind": "covariate_shift", "toward": _upper_part(pool[numeric[0]], numeric[0]), "share": 0.8})
    declared.append(clean)
    declared.append({"kind": "missing_spike", "column": (categorical or numeric)[0], "share": 0.4})
    if numeric:
        declared.append({"kind": "unit_change", "column": numeric[0], "factor": 100})
    if categorical:
        declared.append({"kind": "unseen_category", "column": categorical[0], "value": "(never seen)", "share": 0.2})
    declared.append({"kind": "prior_shift", "positive_share": 0.6 if positive_rate < 0.35 else round(positive_rate / 2, 2)})
    if numeric:
        declared.append({"kind": "concept_drift", "subgroup": _upper_part(pool[numeric[0]], numeric[0])})
    declared.append(clean)  # the latest batch: with a label delay, its labels are still due
    return SimulationConfig(scenarios=declared).scenarios


def simulate_production_batches(frozen_holdout: pd.DataFrame, config: MonitoringConfig, spec: ProblemSpec) -> pd.DataFrame:
    """Return the demo's production batches up to the simulated today: the held-out test rows cut into one batch per
    scenario (declared or generated), each labelled `label_delay` periods after it if that is not later than today."""
    simulation = config.simulation
    if not simulation.enabled:
        return empty_source(spec)
    target = spec.target_column
    # Rows before missing-value filling: missing values look as they will in production and in the reference.
    pool = frozen_holdout[spec.features + list(spec.banded_columns) + [target]]
    pool = pool.sample(frac=1, random_state=spec.seed).astype({target: int})
    declared = simulation.scenarios if simulation.scenarios is not None else generated_scenarios(pool, spec)
    if not declared:
        return empty_source(spec)
    cuts = np.array_split(np.arange(len(pool)), len(declared))
    period = dt.timedelta(days=simulation.period_days)
    today = simulation.as_of or simulation.start + period * (len(declared) - 1)
    frames = []
    for index, (scenario, positions) in enumerate(zip(declared, cuts, strict=True)):
        when = simulation.start + period * index
        if when > today:
            break  # not produced yet
        batch = apply_scenario(pool.iloc[positions].reset_index(drop=True), scenario, spec,
                               np.random.default_rng(spec.seed + index), f"monitoring.simulation.scenarios[{index}]")
        due = when + period * simulation.label_delay
        frames.append(_as_source_rows(batch, f"{simulation.batch_prefix}_{index + 1:02d}", scenario, when,
                                      due if due <= today else None, spec))
    return pd.concat(frames, ignore_index=True) if frames else empty_source(spec)
