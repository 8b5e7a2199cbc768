"""Champion-challenger retraining: train on train + the labelled production rows monitoring saw, compare on the latest
of them held out; the release gate decides whether the challenger goes into shadow."""

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
from ml_lifecycle.model_recipe import fit_blueprint
from ml_lifecycle.modeling_config import ModelingConfig
from ml_lifecycle.registry import RegistryEvent, ReleaseContext
from ml_lifecycle.report_index import IndexSection
from ml_lifecycle.rows import DataValidationError
from ml_lifecycle.spec import ProblemSpec, StrictModel

PREDICTED_AT, LABEL_SOURCE = "predicted_at", "label_source"
# Columns of monitoring's scored batches this step reads (monitoring/columns.py names them).
BATCH, BATCH_TIME, BATCH_SOURCE = "batch", "batch_time", "source"


class RetrainingConfig(StrictModel):
    """What retraining learns from and when a challenger replaces the champion (`parameters_deployment.yml`, key `retraining`)."""

    primary_metric: MetricName = Field(default="log_loss", description="Compared on the held-out recent rows.")
    min_improvement: float = Field(default=0.005, ge=0, description="The challenger must be better by at least this.")
    holdout_share: float = Field(default=0.25, gt=0, lt=1, description="Latest share of labelled recent rows held out.")
    calibration_share: float = Field(default=0.25, gt=0, lt=1,
                                     description="The share before it: the challenger's calibration and threshold.")
    min_labelled_rows: int = Field(default=400, gt=1, description="Fewer labelled recent rows: no retraining.")
    min_holdout_rows: int = Field(default=200, gt=0, description="Fewer held-out rows: no promotion.")
    window_days: int = Field(default=90, gt=0, description="Labelled rows predicted within this many days of the newest batch.")
    max_source_share: float = Field(default=1.0, gt=0, le=1,
                                    description="Most of the labelled rows one label source may give; more: refused.")


def _broken_batches(test_results: pd.DataFrame) -> set[str]:
    """Return the batches whose data broke a critical quality test: their labels would teach the model the fault."""
    failed = test_results[~test_results["passed"].astype(bool) & (test_results["severity"] == "critical")
                          & (test_results["kind"] == "quality")]
    return set(failed[BATCH])


def collect_labelled_recent_rows(scored_batches: pd.DataFrame, test_results: pd.DataFrame, recommendation: dict[str, Any],
                                 incumbent: DeployedModel, spec: ProblemSpec, config: RetrainingConfig) -> pd.DataFrame:
    """Return every labelled production row of the window (batches whose labels came, dropped-in labels, service
    feedback) from monitoring's latest run, typed like the frozen holdout, with when it was predicted and its label source.

    Refuses, saying why, when the recommendation says the feed is broken, when too few rows are
    labelled, or when one label source gives more than its declared share.
    """
    if recommendation.get("action") == "fix the data feed":
        raise DataValidationError(f"retrain_recommendation says fix the data feed, not retrain: {' '.join(recommendation['notes'])}")
    target = spec.target_column
    broken = _broken_batches(test_results)
    scored_batches = scored_batches.reset_index(drop=True)
    labelled = scored_batches[scored_batches[target].notna() & ~scored_batches[BATCH].isin(broken)]
    when = pd.to_datetime(labelled[BATCH_TIME])
    # Batches without a time (dropped-in files) are taken whole; the window counts back from the newest dated batch.
    newest = when.max()
    if pd.notna(newest):
        labelled = labelled[when.isna() | (when >= newest - pd.Timedelta(days=config.window_days))]
    if len(labelled) < config.min_labelled_rows:
        raise DataValidationError(
            f"monitoring's latest scored batches: {len(labelled)} labelled row(s) within {config.window_days} days "
            f"(retraining.window_days) outside broken batches {sorted(broken)}; retraining needs at least "
            f"{config.min_labelled_rows} (retraining.min_labelled_rows): let labels arrive (label files, POST /feedback) "
            "and run monitoring first")
    shares = labelled[LABEL_SOURCE].fillna("unknown").value_counts(normalize=True)
    if shares.iloc[0] > config.max_source_share:
        raise DataValidationError(
            f"{shares.index[0]!r} gave {shares.iloc[0]:.0%} of the {len(labelled)} labelled rows; retraining.max_source_share "
            f"allows {config.max_source_share:.0%} from one source: a single sender must not decide what the model learns")
    recent = labelled[[*spec.features, *spec.banded_columns]].reset_index(drop=True)
    recent[target] = labelled[target].astype("int8").to_numpy()
    recent[PREDICTED_AT] = when.loc[labelled.index].fillna(newest).to_numpy()
    recent[LABEL_SOURCE] = labelled[LABEL_SOURCE].fillna("unknown").to_numpy()
    recent[BATCH_SOURCE] = labelled[BATCH_SOURCE].to_numpy()
    return recent


def split_by_time(recent: pd.DataFrame, config: RetrainingConfig, spec: ProblemSpec) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Return the labelled recent rows in time order as the earliest (trained on), the next (the challenger's calibration
    and threshold: the current concept's, not the old validation split's) and the latest (held out for the gate)."""
    if config.holdout_share + config.calibration_share >= 1:
        raise ValueError("retraining.holdout_share + retraining.calibration_share must leave rows to train on")
    ordered = recent.sort_values(PREDICTED_AT, kind="stable").reset_index(drop=True)
    held_out = int(np.ceil(len(ordered) * config.holdout_share))
    calibration = int(np.ceil(len(ordered) * config.calibration_share))
    first, second = len(ordered) - held_out - calibration, len(ordered) - held_out
    parts = (ordered.iloc[:first], ordered.iloc[first:second].reset_index(drop=True), ordered.iloc[second:].reset_index(drop=True))
    for name, part in (("calibration", parts[1]), ("held-out", parts[2])):
        if part[spec.target_column].nunique() < 2:
            raise DataValidationError(f"the {len(part)} {name} rows (the latest labelled rows, in time order) hold one class "
                                      "only: a challenger cannot be calibrated or judged on them; let labels of both classes "
                                      "arrive first")
    return parts


def prepare_like_training(typed: pd.DataFrame, incumbent: DeployedModel, spec: ProblemSpec) -> pd.DataFrame:
    """Return typed rows prepared like the splits: the champion's fills and flags, the target and the banded columns."""
    prepared = incumbent.bundle.model_rows(typed, spec)
    prepared[spec.target_column] = typed[spec.target_column].to_numpy()
    return prepared.join(typed[list(spec.banded_columns)])


def combine_training_rows(train_split: pd.DataFrame, recent_training_rows: pd.DataFrame, incumbent: DeployedModel,
                          spec: ProblemSpec) -> pd.DataFrame:
    """Return the train split followed by the recent labelled rows, prepared like it (the champion's fills and flags)."""
    prepared = prepare_like_training(recent_training_rows, incumbent, spec)
    return pd.concat([train_split, prepared[list(train_split.columns.intersection(prepared.columns))]], ignore_index=True)


def _scores(y: np.ndarray, probabilities: np.ndarray, threshold: float) -> dict[str, float]:
    """Return the probability metrics and the decision metrics at the model's own threshold."""
    decisions = {f"{k}_at_threshold": v for k, v in threshold_metrics(y, probabilities, threshold).items()
                 if k in ("accuracy", "precision", "recall", "f1")}
    return {k: round(v, 6) for k, v in (score_all(y, probabilities) | decisions).items()}


def compare_on_recent_holdout(incumbent: DeployedModel, challenger: ScoringModel, holdout: pd.DataFrame,
                              recent_training_rows: pd.DataFrame, labelled_recent_rows: pd.DataFrame, spec: ProblemSpec,
                              config: RetrainingConfig) -> dict[str, Any]:
    """Return both models' metrics on the same held-out recent rows and whether the challenger wins by the margin.

    Recorded with the challenger; whether it is promoted is the release gate's decision on the frozen holdout.
    """
    y = holdout[spec.target_column].to_numpy()
    prepared = incumbent.bundle.model_rows(holdout, spec)  # the challenger's recipe keeps the champion's fills
    champion_scores = _scores(y, incumbent.probabilities(prepared), incumbent.threshold)
    challenger_scores = _scores(y, challenger.predict_proba(prepared)[:, 1], challenger.threshold)
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
        "holdout_from": str(holdout[PREDICTED_AT].min()),
        "holdout_to": str(holdout[PREDICTED_AT].max()),
        "recent_training_rows": len(recent_training_rows),
        "calibration_rows": len(labelled_recent_rows) - len(recent_training_rows) - len(holdout),
        "label_provenance": _provenance(labelled_recent_rows),
        "champion_metrics": champion_scores,
        "challenger_metrics": challenger_scores,
        "challenger_threshold": challenger.threshold,
    }


def _provenance(labelled: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Return how many labelled rows came from which label source, per batch source."""
    counts = labelled.groupby([BATCH_SOURCE, LABEL_SOURCE]).size()
    return {str(source): {str(label): int(n) for label, n in group.droplevel(0).items()}
            for source, group in counts.groupby(level=0)}


def fit_challenger(retraining_rows: pd.DataFrame, selection: ChampionSelection, tuned: dict[str, Any], modeling: ModelingConfig,
                   spec: ProblemSpec) -> BaseEstimator:
    """Return the champion's recipe refitted on train + the earlier recent rows.

    Not on the validation split, whatever `champion.refit_on` says: the challenger is calibrated on
    newer rows, and a model refitted on more rows than the one its calibration was learned on
    scores differently from it.
    """
    return fit_blueprint(retraining_rows, selection, tuned, modeling, spec)


def describe_challenger_release(recent_training_rows: pd.DataFrame, labelled_recent_rows: pd.DataFrame,
                                incumbent: DeployedModel) -> ReleaseContext:
    """Return why retraining releases the challenger, for the registry's record; its shadow starts after the newest row."""
    return ReleaseContext(stage="retrained",
                          reason=f"retraining: challenger of {incumbent.version}, refitted with {len(recent_training_rows)} "
                                 "labelled recent rows",
                          details={"incumbent": incumbent.version, "recent_training_rows": len(recent_training_rows),
                                   "judged_on": "the latest labelled production rows (held out)",
                                   "data_time": pd.Timestamp(labelled_recent_rows[PREDICTED_AT].max()).isoformat()})


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
