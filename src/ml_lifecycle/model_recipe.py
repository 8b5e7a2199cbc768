"""The model recipe: how a configured model, and the selected champion, are built and fitted.

Modeling selects with it, and every release (evaluation's and retraining's) refits with it, so
a model is built the same way wherever it is trained.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
from typing import Any

import pandas as pd
from sklearn.base import BaseEstimator

from ml_lifecycle.artifacts import ChampionSelection
from ml_lifecycle.estimators import (
    ColumnSubsetClassifier,
    SoftVotingEnsemble,
    build_model,
    resolve_estimator_class,
)
from ml_lifecycle.modeling_config import ModelConfig, ModelingConfig
from ml_lifecycle.spec import ProblemSpec

logger = logging.getLogger(__name__)


def _seeded_params(config: ModelConfig, params: dict[str, Any], seed: int) -> dict[str, Any]:
    """Return `params` with the project seed set on whichever seed argument the estimator has."""
    accepted = inspect.signature(resolve_estimator_class(config.estimator).__init__).parameters
    seed_arg = next((a for a in ("random_seed", "random_state") if a in accepted), None)
    return params if seed_arg is None or seed_arg in params else params | {seed_arg: seed}


def configured_model(config: ModelConfig, spec: ProblemSpec, params: dict[str, Any] | None = None) -> BaseEstimator:
    """Return the unfitted model for a config, with tuned params when given, seeded."""
    chosen = config.params | (params or {})
    return build_model(config.estimator, _seeded_params(config, chosen, spec.seed), config.encoding, spec)


def champion_blueprint(selection: ChampionSelection, tuned: dict[str, Any], config: ModelingConfig,
                       spec: ProblemSpec) -> BaseEstimator:
    """Return the selected champion unfitted: its recipe with the tuned settings, or the ensemble of its members,
    on the feature subset the selection applies."""
    subset = selection.feature_subset
    return blueprint_on_features(selection, tuned, config, spec, None if subset is None else subset.kept)


def blueprint_on_features(selection: ChampionSelection, tuned: dict[str, Any], config: ModelingConfig,
                          spec: ProblemSpec, kept: list[str] | None) -> BaseEstimator:
    """Return the selected model unfitted, learning from the `kept` features only (None: all) yet taking every model column."""
    models = config.models()
    narrowed = spec if kept is None else spec.model_copy(update={
        "numeric_features": [c for c in spec.numeric_features if c in kept],
        "categorical_features": [c for c in spec.categorical_features if c in kept]})

    def tuned_model(name: str) -> BaseEstimator:
        return configured_model(models[name][1], narrowed, tuned.get(name, {}).get("best_params"))

    if selection.champion == "ensemble":
        blueprint = SoftVotingEnsemble([(m, tuned_model(m)) for m in selection.ensemble_members])
    else:
        blueprint = tuned_model(selection.champion)
    if kept is None:
        return blueprint
    return ColumnSubsetClassifier(blueprint, columns=narrowed.model_columns(), input_columns=spec.model_columns())


def refit_rows(train_rows: pd.DataFrame, validation_split: pd.DataFrame, config: ModelingConfig) -> pd.DataFrame:
    """Return the rows the champion is refitted on: train, plus validation when `champion.refit_on` says so."""
    if config.champion.refit_on == "train_and_validation":
        return pd.concat([train_rows, validation_split])
    return train_rows


def fit_blueprint(rows: pd.DataFrame, selection: ChampionSelection, tuned: dict[str, Any], config: ModelingConfig,
                  spec: ProblemSpec) -> BaseEstimator:
    """Return the selected champion fitted on `rows` (preprocessing inside; early-stopped models keep their iterations)."""
    logger.info("Fitting %s on %d rows", selection.champion, len(rows))
    return champion_blueprint(selection, tuned, config, spec).fit(rows, rows[spec.target_column])


def fingerprint_data(train_split: pd.DataFrame, validation_split: pd.DataFrame) -> str:
    """Return a SHA-256 of the rows the models learned from (train and validation splits)."""
    digest = hashlib.sha256()
    for frame in (train_split, validation_split):
        digest.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
        digest.update(",".join(frame.columns).encode())
    return digest.hexdigest()
