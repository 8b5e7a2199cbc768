"""Champion-challenger retraining: train on train + labelled recent rows, compare on held-out recent rows; the release gate decides."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field
from sklearn.base import BaseEstimator

from ml_lifecycle.artifacts import ChampionSelection
from ml_lifecycle.deployment import DeployedModel
from ml_lifecycle.estimators import ScoringModel
from ml_lifecycle.metrics import METRICS, MetricName, score_all, threshold_metrics
from ml_lifecycle.model_recipe import fit_blueprint, refit_rows
from ml_lifecycle.modeling_config import ModelingConfig
from ml_lifecycle.registry import RegistryEvent, ReleaseContext
from ml_lifecycle.report_index import IndexSection
from ml_lifecycle.rows import DataValidationError
from ml_lifecycle.spec import ProblemSpec, StrictModel

RECEIVED_AT = "received_at"


class RetrainingConfig(StrictModel):
    """When a challenger replaces the champion (`parameters_deployment.yml`, key `retraining`)."""

    primary_metric: MetricName = Field(default="log_loss", description="Compared on the held-out recent rows.")
    min_improvement: float = Field(default=0.005, ge=0, description="The challenger must be better by at least this.")
    holdout_share: float = Field(default=0.5, gt=0, lt=1, description="Latest share of labelled recent rows held out.")
    min_labelled_rows: int = Field(default=400, gt=1, description="Fewer labelled recent rows: no retraining.")
    min_holdout_rows: int = Field(default=200, gt=0, description="Fewer held-out rows: no promotion.")



def collect_labelled_recent_rows(request_log: pd.DataFrame, incumbent: DeployedModel, spec: ProblemSpec,
                                 config: RetrainingConfig) -> pd.DataFrame:
    """Return the logged requests that feedback labelled, as model rows (prepared like training) with target and time."""
    labelled = request_log[request_log["label"].notna()]
    if len(labelled) < config.min_labelled_rows:
        raise DataValidationError(
            f"request log: {len(labelled)} labelled row(s), retraining needs at least {config.min_labelled_rows} "
            "(retraining.min_labelled_rows); send true labels with POST /feedback first"
        )
    features = labelled[spec.features]
    records = features.astype(object).where(features.notna(), None).to_dict("records")
    model_rows, _ = incumbent.model_rows_from_records(records, spec)
    model_rows[spec.target_column] = (labelled["label"].to_numpy() == spec.target.positive_label).astype("int8")
    model_rows[RECEIVED_AT] = labelled[RECEIVED_AT].to_numpy()
    return model_rows


def hold_out_latest_rows(recent: pd.DataFrame, config: RetrainingConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the earlier labelled rows (to train on) and the latest ones (held out): the test looks forward in time."""
    ordered = recent.sort_values(RECEIVED_AT, kind="stable").reset_index(drop=True)
    held_out = int(np.ceil(len(ordered) * config.holdout_share))
    return ordered.iloc[: len(ordered) - held_out], ordered.iloc[len(ordered) - held_out :].reset_index(drop=True)


def combine_training_rows(train_split: pd.DataFrame, recent_training_rows: pd.DataFrame) -> pd.DataFrame:
    """Return the train split followed by the recent labelled rows (same model columns and target)."""
    return pd.concat([train_split, recent_training_rows[list(train_split.columns.intersection(recent_training_rows.columns))]],
                     ignore_index=True)


def _scores(y: np.ndarray, probabilities: np.ndarray, threshold: float) -> dict[str, float]:
    """Return the probability metrics and the decision metrics at the model's own threshold."""
    decisions = {f"{k}_at_threshold": v for k, v in threshold_metrics(y, probabilities, threshold).items()
                 if k in ("accuracy", "precision", "recall", "f1")}
    return {k: round(v, 6) for k, v in (score_all(y, probabilities) | decisions).items()}


def compare_on_recent_holdout(incumbent: DeployedModel, challenger: ScoringModel, holdout: pd.DataFrame,
                              recent_training_rows: pd.DataFrame, spec: ProblemSpec, config: RetrainingConfig) -> dict[str, Any]:
    """Return both models' metrics on the same held-out recent rows and whether the challenger wins by the margin.

    Recorded with the challenger; whether it is promoted is the release gate's decision on the frozen holdout.
    """
    y = holdout[spec.target_column].to_numpy()
    champion_scores = _scores(y, incumbent.probabilities(holdout), incumbent.threshold)
    challenger_scores = _scores(y, challenger.predict_proba(holdout)[:, 1], challenger.threshold)
    metric = METRICS[config.primary_metric]
    champion_value, challenger_value = champion_scores[metric.name], challenger_scores[metric.name]
    gain = (challenger_value - champion_value) if metric.greater_is_better else (champion_value - challenger_value)
    enough = len(holdout) >= config.min_holdout_rows and len(np.unique(y)) == 2
    wins = bool(enough and gain > 0 and gain >= config.min_improvement)
    if not enough:
        why = f"only {len(holdout)} held-out row(s) or one class; at least {config.min_holdout_rows} with both classes are needed"
    else:
        verdict = "wins" if wins else "does not win"
        why = (f"challenger {metric.name} {challenger_value:.4f} vs champion {incumbent.version} {champion_value:.4f} on "
               f"{len(holdout)} held-out recent rows: {verdict} (gain {gain:+.4f}, margin {config.min_improvement})")
    return {
        "decided_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "champion_version": incumbent.version,
        "primary_metric": metric.name,
        "min_improvement": config.min_improvement,
        "gain": round(float(gain), 6),
        "wins_on_recent_rows": wins,
        "reason": why,
        "holdout_rows": len(holdout),
        "holdout_from": str(holdout[RECEIVED_AT].min()),
        "holdout_to": str(holdout[RECEIVED_AT].max()),
        "recent_training_rows": len(recent_training_rows),
        "champion_metrics": champion_scores,
        "challenger_metrics": challenger_scores,
        "challenger_threshold": challenger.threshold,
    }


def fit_challenger(retraining_rows: pd.DataFrame, validation_split: pd.DataFrame, selection: ChampionSelection,
                   tuned: dict[str, Any], modeling: ModelingConfig, spec: ProblemSpec) -> BaseEstimator:
    """Return the champion's recipe refitted on train + recent labelled rows (+ validation when `refit_on` says so)."""
    return fit_blueprint(refit_rows(retraining_rows, validation_split, modeling), selection, tuned, modeling, spec)


def describe_challenger_release(recent_training_rows: pd.DataFrame, incumbent: DeployedModel) -> ReleaseContext:
    """Return why retraining releases the challenger, for the registry's record."""
    return ReleaseContext(stage="retrained",
                          reason=f"retraining: challenger of {incumbent.version}, refitted with {len(recent_training_rows)} "
                                 "labelled recent rows",
                          details={"incumbent": incumbent.version, "recent_training_rows": len(recent_training_rows)})


def build_index_section(decision: dict[str, Any], promotion: RegistryEvent) -> IndexSection:
    """Return the retraining section of `data/08_reporting/index.html`: the last champion-challenger decision."""
    metric = decision["primary_metric"]
    verdict = promotion.verdict.summary() if promotion.verdict else "no verdict"
    return IndexSection(
        title="Retraining (champion vs challenger)",
        updated=decision["decided_at"],
        headline={
            "decision": f"{promotion.version} {promotion.event}",
            "gate": verdict,
            f"champion {metric} (recent rows)": f"{decision['champion_metrics'][metric]:.4f}",
            f"challenger {metric} (recent rows)": f"{decision['challenger_metrics'][metric]:.4f}",
            "held-out recent rows": decision["holdout_rows"],
        },
        notes=[decision["reason"], f"Release gate on the frozen holdout: {verdict}."],
    )
