"""Release step 4: the gate verdict on the evidence, the registration and the promotion record."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml_lifecycle.artifacts import ChampionSelection, ThresholdChoice
from ml_lifecycle.bundle import ModelBundle
from ml_lifecycle.evaluation_config import EvaluationConfig
from ml_lifecycle.gate import (
    GateVerdict,
    ReleaseConfig,
    calibration_result,
    comparison_result,
    count_result,
    incomparable_result,
    limit_result,
    paired_bootstrap_gain,
)
from ml_lifecycle.metrics import METRICS
from ml_lifecycle.model_checks import (
    RELEASED,
    probability_column,
)
from ml_lifecycle.pipelines.release.checks import INCUMBENT
from ml_lifecycle.registry import (
    LoadedBundle,
    Manifest,
    PromotionDecision,
    ReleaseCandidate,
    ReleaseContext,
    ReleaseInfo,
)
from ml_lifecycle.spec import ProblemSpec, StrictModel


class ReleaseEvidence(StrictModel):
    """What failed in the checks the gate reads besides the holdout scores (each list names the failures)."""

    candidate: str
    possible_leaks: list[str]
    behavioural_failures: list[str]
    largest_fairness_gap: float
    sanity_failures: list[str]


def collect_evidence(leak_checks: pd.DataFrame, behavioural_checks: pd.DataFrame, fairness: pd.DataFrame,
                     sanity_checks: pd.DataFrame, selection: ChampionSelection) -> ReleaseEvidence:
    """Return the failures among the leak, behavioural, fairness and sanity checks of the released model."""
    members = selection.ensemble_members or [selection.champion]
    sanity = sanity_checks[sanity_checks["model"].isin(members)]
    return ReleaseEvidence(
        candidate=selection.champion,
        possible_leaks=leak_checks.loc[leak_checks["possible_leak"], "feature"].tolist(),
        behavioural_failures=behavioural_checks.loc[~behavioural_checks["passed"].astype(bool), "test"].tolist(),
        largest_fairness_gap=float(fairness["largest_gap"].max()) if fairness["largest_gap"].notna().any() else 0.0,
        sanity_failures=sanity.loc[~sanity["sanity_passed"].astype(bool), "model"].tolist(),
    )


def judge_release(holdout_predictions: pd.DataFrame, evidence: ReleaseEvidence, incumbent: LoadedBundle | None,
                  context: ReleaseContext, release: ReleaseConfig, config: EvaluationConfig, spec: ProblemSpec) -> GateVerdict:
    """Return the gate's verdict: every declared rule with its value, limit and whether it passed."""
    gate, y = release.gate, holdout_predictions[spec.target_column].to_numpy()
    rows = context.details.get("judged_on", "the frozen holdout")
    candidate = holdout_predictions[probability_column(RELEASED)].to_numpy()
    if incumbent is not None and probability_column(INCUMBENT) not in holdout_predictions:
        comparison = incomparable_result("beats the incumbent", gate.beats_incumbent,
                                         f"the incumbent {incumbent.version} prepares other input columns than params:problem "
                                         f"({'; '.join(incumbent.bundle.recipe.schema.differences(spec))}), so it cannot be "
                                         "scored on these rows; review and force-promote, or roll back first")
    else:
        # A baseline that won model selection is the candidate itself: it is not a yardstick for itself.
        references = [INCUMBENT] if incumbent is not None else [
            c.removeprefix("proba_") for c in holdout_predictions.columns
            if c.startswith("proba_") and c not in (probability_column(RELEASED), probability_column(evidence.candidate))]
        gains = {(incumbent.version if name == INCUMBENT else name): paired_bootstrap_gain(
            y, candidate, holdout_predictions[probability_column(name)].to_numpy(), gate.beats_incumbent, spec.seed)
            for name in references}
        comparison = comparison_result("beats the incumbent" if incumbent is not None else "beats every baseline (no incumbent)",
                                       gate.beats_incumbent, gains, rows)
    return GateVerdict(candidate=evidence.candidate,
                       incumbent=None if incumbent is None else incumbent.version, rules=[
        comparison,
        count_result("no leak", gate.no_leak, evidence.possible_leaks, "possible leaks"),
        count_result("behavioural tests", gate.behavioural_tests, evidence.behavioural_failures, "failed tests"),
        limit_result("fairness gaps", gate.fairness_gaps, evidence.largest_fairness_gap, config.slices.max_fairness_gap,
                     "largest gap between groups of a protected attribute"),
        count_result("sanity check", gate.sanity_check, evidence.sanity_failures, "models that failed the small-batch check"),
        calibration_result("calibration error", gate.calibration_error, y, candidate, config.calibration.bins, spec.seed, rows),
    ])


def build_release_candidate(bundle: ModelBundle, threshold_choice: ThresholdChoice, holdout_predictions: pd.DataFrame,
                            context: ReleaseContext, fingerprint: str, spec: ProblemSpec) -> ReleaseCandidate:
    """Return the bundle with what the registry records about it: its figures on the frozen holdout and why it was made."""
    y = holdout_predictions[spec.target_column].to_numpy()
    proba = holdout_predictions[probability_column(RELEASED)].to_numpy()
    return ReleaseCandidate(bundle=bundle, info=ReleaseInfo(
        problem=spec.name, model=bundle.model.description.split(";")[0], stage=context.stage,
        description=bundle.model.description, data_fingerprint=fingerprint, calibration=threshold_choice.calibration,
        metrics={name: value for name in ("roc_auc", "log_loss", "brier", "pr_auc")
                 if np.isfinite(value := METRICS[name](y, proba))},  # ROC AUC is undefined on rows of one class
        metrics_source=f"{context.details.get('judged_on', 'the frozen holdout')} ({len(y)} rows)",
        details={"reason": context.reason, **context.details}))


def decide_promotion(registration: Manifest, verdict: GateVerdict) -> PromotionDecision:
    """Return the release decision: blocked when the gate fails; else promoted, or for a retrained challenger, shadow.

    A retrained challenger is judged on the frozen holdout, which the world may have left behind:
    it runs in shadow until enough new labelled rows judge it against the champion (monitoring).
    """
    passed = "shadow" if registration.stage == "retrained" else "promoted"
    return PromotionDecision(version=registration.version, event=passed if verdict.passed else "blocked", verdict=verdict,
                             data_time=registration.details.get("data_time"),
                             reason=registration.details.get("reason", registration.description))
