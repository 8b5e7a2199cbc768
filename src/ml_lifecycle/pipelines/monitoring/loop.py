"""The closed loop's monitoring side: a shadow challenger scored on new batches and judged once enough of them are
labelled (promoted or retired), and a watch window after a promotion that rolls a failing champion back.

Batch times, not wall-clock times, say what came after a decision: each decision records the newest
batch time it saw (`data_time`), so the loop works alike on simulated weeks and on the request log.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ml_lifecycle.deployment import DeployedModel, deploy
from ml_lifecycle.evidently_glue import PROBABILITY
from ml_lifecycle.gate import (
    GateVerdict,
    ReleaseConfig,
    comparison_result,
    paired_bootstrap_gain,
)
from ml_lifecycle.pipelines.monitoring.columns import BATCH, BATCH_TIME
from ml_lifecycle.pipelines.monitoring.config import MonitoringConfig
from ml_lifecycle.registry import (
    LoadedBundle,
    PromotionDecision,
    RegistryEvent,
    RegistrySnapshot,
)
from ml_lifecycle.report_index import IndexSection
from ml_lifecycle.spec import ProblemSpec

SHADOW_COLUMNS = [BATCH, "predicted_at", "label", "champion_probability", "challenger_probability"]
BEATS = "beats the champion in shadow"


def _start(event: RegistryEvent) -> pd.Timestamp:
    """Return when a decision took effect on the data: the newest batch it saw, else its own time."""
    moment = pd.Timestamp(event.data_time or event.at)
    return moment.tz_convert(None) if moment.tzinfo else moment  # batch times are naive UTC


def score_shadow(scored_batches: pd.DataFrame, shadow: LoadedBundle | None, registry: RegistrySnapshot,
                 spec: ProblemSpec) -> pd.DataFrame:
    """Return the shadow challenger's probability beside the champion's for every row of the batches after it entered shadow."""
    event = registry.shadow()
    if shadow is None or event is None:
        return pd.DataFrame(columns=SHADOW_COLUMNS)
    when = pd.to_datetime(scored_batches[BATCH_TIME])
    after = scored_batches[when > _start(event)]
    challenger: DeployedModel = deploy(shadow, spec)
    return pd.DataFrame({BATCH: after[BATCH].to_numpy(), "predicted_at": when[after.index].to_numpy(),
                         "label": after[spec.target_column].to_numpy(),
                         "champion_probability": after[PROBABILITY].to_numpy(),
                         "challenger_probability": challenger.probabilities(challenger.bundle.model_rows(after, spec))},
                        columns=SHADOW_COLUMNS)


def review_shadow(shadow_scores: pd.DataFrame, registry: RegistrySnapshot, release: ReleaseConfig, config: MonitoringConfig,
                  spec: ProblemSpec) -> tuple[dict[str, Any], list[PromotionDecision]]:
    """Return the shadow review and, once enough shadow rows are labelled, the decision: promoted when the challenger
    beats the champion on them by the release gate's comparison rule, else retired."""
    event = registry.shadow()
    if event is None:
        return {"status": "no challenger in shadow"}, []
    labelled = shadow_scores[shadow_scores["label"].notna()]
    needed = config.loop.shadow_labelled_rows
    review: dict[str, Any] = {"challenger": event.version, "champion": registry.champion, "in_shadow_since": event.data_time,
                              "shadow_rows": len(shadow_scores), "labelled_shadow_rows": len(labelled), "needed": needed}
    if len(labelled) < needed or labelled["label"].nunique() < 2:
        return review | {"status": f"waiting: {len(labelled)} of {needed} labelled shadow rows (monitoring.loop)"}, []
    y = labelled["label"].astype(int).to_numpy()
    rule = release.gate.beats_incumbent
    gain = paired_bootstrap_gain(y, labelled["challenger_probability"].to_numpy(), labelled["champion_probability"].to_numpy(),
                                 rule, spec.seed)
    result = comparison_result(BEATS, rule, {registry.champion: gain}, f"{len(labelled)} labelled shadow rows")
    verdict = GateVerdict(candidate=event.version, incumbent=registry.champion, rules=[result])
    promoted = result.passed
    reason = f"shadow review of the batches after {event.data_time}: {'promoted' if promoted else 'retired'}: {result.detail}"
    decision = PromotionDecision(version=event.version, event="promoted" if promoted else "retired", reason=reason,
                                 verdict=verdict, data_time=str(labelled["predicted_at"].max()))
    return review | {"status": decision.event, "detail": result.detail}, [decision]


def watch_champion(summary: pd.DataFrame, registry: RegistrySnapshot, config: MonitoringConfig) -> tuple[dict[str, Any], list[PromotionDecision]]:
    """Return the watch over a newly promoted champion and, when it alerts on performance within its first batches,
    the automatic rollback to the champion before it."""
    event = registry.champion_event()
    if event is None or event.event != "promoted" or event.previous_champion is None:
        return {"status": "nothing to watch: the champion was not promoted over another"}, []
    window = config.loop.watch_batches
    predicted = pd.to_datetime(summary["predicted_at"])
    after = summary[predicted > _start(event)].assign(predicted_at=predicted).sort_values("predicted_at").head(window)
    failing = after[(after["performance"] == "fail") | (after["estimated_performance"] == "fail")]
    watch = {"champion": event.version, "promoted_at": event.at, "since": event.data_time, "window_batches": window,
             "batches_seen": after[BATCH].tolist(), "previous_champion": event.previous_champion}
    if failing.empty:
        done = len(after) >= window
        return watch | {"status": "passed the watch" if done else f"watching: {len(after)} of {window} batches seen"}, []
    reasons = "; ".join(f"{row[BATCH]}: {row['reason']}" for row in failing.to_dict("records"))
    decision = PromotionDecision(
        version=event.previous_champion, event="rolled back",
        reason=f"automatic rollback: {event.version} alerted on performance within its {window}-batch watch window ({reasons})",
        data_time=str(failing["predicted_at"].max()))
    return watch | {"status": f"rolled back to {event.previous_champion}", "failing_batches": failing[BATCH].tolist()}, [decision]


def combine_decisions(*decisions: list[PromotionDecision]) -> list[PromotionDecision]:
    """Return the run's decisions in order; a rollback wins over a promotion taken in the same run."""
    flat = [d for group in decisions for d in group]
    return [d for d in flat if d.event == "rolled back"] or flat


def build_loop_index_section(registry: RegistrySnapshot, shadow_review: dict[str, Any], watch: dict[str, Any],
                             decisions: list[RegistryEvent]) -> IndexSection:
    """Return the closed-loop section of the index page: the registry's story step by step, and this run's decisions."""
    steps = [f"{e.at[:19]} — {e.version} {e.event}: {e.reason}" for e in registry.history if e.event != "registered"]
    return IndexSection(
        title="Closed loop (release, shadow, promotion, watch, rollback)",
        updated=pd.Timestamp.now("UTC").strftime("%Y-%m-%d %H:%M UTC"),
        headline={"champion": registry.champion or "none", "shadow": shadow_review.get("challenger", "none"),
                  "shadow review": shadow_review["status"], "watch": watch["status"],
                  "decided this run": ", ".join(f"{e.version} {e.event}" for e in decisions) or "nothing"},
        notes=steps[-12:],
    )
