"""The closed loop's monitoring side on hand-made registry histories and shadow scores."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml_lifecycle.gate import ReleaseConfig
from ml_lifecycle.pipelines.monitoring import loop
from ml_lifecycle.registry import RegistryEvent, RegistrySnapshot

from .tiny_monitoring import headerless_spec, tiny_config


def event(version: str, kind: str, data_time: str | None = None, previous: str | None = None) -> RegistryEvent:
    return RegistryEvent(at="2026-12-01T10:00:00+00:00", event=kind, version=version, reason="test", data_time=data_time,
                         previous_champion=previous)


def snapshot(*events: RegistryEvent) -> RegistrySnapshot:
    champions = [e.version for e in events if e.event in ("promoted", "rolled back")]
    return RegistrySnapshot(versions={}, champion=champions[-1] if champions else None, history=list(events))


def test_a_shadow_ends_when_the_challenger_is_promoted_retired_or_another_champion_takes_over():
    assert snapshot(event("v1", "promoted"), event("v2", "shadow")).shadow().version == "v2"
    assert snapshot(event("v1", "promoted"), event("v2", "shadow"), event("v2", "retired")).shadow() is None
    assert snapshot(event("v1", "promoted"), event("v2", "shadow"), event("v2", "promoted")).shadow() is None
    assert snapshot(event("v1", "promoted"), event("v2", "shadow"), event("v3", "promoted")).shadow() is None


def shadow_scores(n: int, challenger_better: bool, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    truth = rng.random(n)
    label = (rng.random(n) < truth).astype(int)
    good, poor = truth, np.full(n, 0.5)
    return pd.DataFrame({"batch": "week_05", "predicted_at": pd.Timestamp("2026-02-02"), "label": label,
                         "champion_probability": poor if challenger_better else good,
                         "challenger_probability": good if challenger_better else poor})


HISTORY = snapshot(event("v1", "promoted"), event("v2", "shadow", data_time="2026-01-26T00:00:00"))


def test_the_shadow_review_waits_for_enough_labelled_rows():
    review, decisions = loop.review_shadow(shadow_scores(50, True), HISTORY, ReleaseConfig(),
                                           tiny_config(loop={"shadow_labelled_rows": 100}), headerless_spec())
    assert decisions == [] and review["status"].startswith("waiting: 50 of 100")


def test_a_challenger_that_wins_in_shadow_is_promoted_and_one_that_loses_is_retired():
    config = tiny_config(loop={"shadow_labelled_rows": 100})
    _, (won,) = loop.review_shadow(shadow_scores(400, True), HISTORY, ReleaseConfig(), config, headerless_spec())
    _, (lost,) = loop.review_shadow(shadow_scores(400, False), HISTORY, ReleaseConfig(), config, headerless_spec())
    assert (won.version, won.event, lost.event) == ("v2", "promoted", "retired")
    assert won.verdict.rules[0].rule == "beats the champion in shadow" and won.data_time.startswith("2026-02-02")


def summary(*rows: tuple[str, str, str, str]) -> pd.DataFrame:
    return pd.DataFrame([{"batch": b, "predicted_at": pd.Timestamp(t), "performance": perf, "estimated_performance": est,
                          "reason": f"{b} reason"} for b, t, perf, est in rows])


PROMOTED = snapshot(event("v1", "promoted"), event("v2", "promoted", data_time="2026-02-02T00:00:00", previous="v1"))


def test_a_new_champion_failing_on_performance_in_its_watch_window_is_rolled_back_to_the_previous_one():
    batches = summary(("week_05", "2026-02-02", "fail", "pass"), ("week_06", "2026-02-09", "pass", "fail"),
                      ("week_07", "2026-02-16", "fail", "pass"))
    watch, (rollback,) = loop.watch_champion(batches, PROMOTED, tiny_config(loop={"watch_batches": 1}))
    # week_05 came before the promotion; week_07 after the one-batch window: only week_06 counts
    assert watch["failing_batches"] == ["week_06"] and (rollback.version, rollback.event) == ("v1", "rolled back")
    assert "v2 alerted on performance within its 1-batch watch window (week_06: week_06 reason)" in rollback.reason


def test_a_new_champion_that_passes_its_window_stays_and_a_first_champion_is_not_watched():
    batches = summary(("week_06", "2026-02-09", "pass", "pass"), ("week_07", "2026-02-16", "not run", "pass"))
    watch, decisions = loop.watch_champion(batches, PROMOTED, tiny_config(loop={"watch_batches": 2}))
    assert decisions == [] and watch["status"] == "passed the watch"
    first, none = loop.watch_champion(batches, snapshot(event("v1", "promoted")), tiny_config())
    assert none == [] and first["status"].startswith("nothing to watch")
