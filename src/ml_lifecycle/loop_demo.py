"""`make demo-loop`: the closed loop on the simulation, step by step, each step a real Kedro run.

The story: the class balance moves for good in week 3 (the generated prior-shift scenario: the
champion's probabilities are now too low or too high); monitoring sees the drift and recommends
retraining; retraining fits a challenger on the newest labelled weeks, calibrates it on the newer of
them, and the release gate, judging on the latest, puts it in shadow; once enough shadow rows are
labelled, monitoring promotes it; then a faulty champion is injected (its probabilities inverted) and
the watch window rolls it back. The registry's history and the index page's "Closed loop" section tell
it afterwards.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from kedro.framework.project import configure_project
from kedro.framework.session import KedroSession

from ml_lifecycle.estimators import ScoringModel
from ml_lifecycle.pipelines.monitoring.config import MonitoringConfig
from ml_lifecycle.pipelines.monitoring.scenarios import generated_scenarios
from ml_lifecycle.project import project_context
from ml_lifecycle.registry import (
    ModelRegistry,
    RegistryEvent,
    ReleaseCandidate,
    ReleaseInfo,
)
from ml_lifecycle.spec import ProblemSpec

WEEKS = 10
CHANGE_WEEK = 3  # the first week of the new class balance


class InvertedModel(ScoringModel):
    """A deliberately faulty model for the demo: the wrapped model's probabilities, inverted."""

    def predict_proba(self, X: Any) -> np.ndarray:
        """Return [P(positive), P(negative)] of the wrapped model: every ranking upside down."""
        return super().predict_proba(X)[:, ::-1]


@dataclasses.dataclass(frozen=True)
class Story:
    """The demo's simulation and the settings each step runs with."""

    simulation: dict[str, Any]
    start: dt.date
    period: dt.timedelta

    def week(self, number: int) -> dt.date:
        """Return the date of week `number` (1-based)."""
        return self.start + self.period * (number - 1)

    def monitoring(self, as_of_week: int) -> dict[str, Any]:
        """Return the runtime parameters of a monitoring run on the weeks up to `as_of_week`."""
        return {"monitoring": {"simulation": {**self.simulation, "as_of": self.week(as_of_week).isoformat()}}}


def build_story(project: Path, env: str | None) -> Story:
    """Return the story for this problem: two clean weeks, then the generated prior shift for good."""
    context = project_context(project, env)
    spec = ProblemSpec.model_validate(context.params["problem"])
    simulation = MonitoringConfig.model_validate(context.params["monitoring"]).simulation
    holdout = context.catalog.load("frozen_holdout")
    pool = holdout[spec.features + list(spec.banded_columns) + [spec.target_column]].astype({spec.target_column: int})
    drift = next(s for s in generated_scenarios(pool, spec) if s.kind == "prior_shift")
    scenarios = [{"kind": "clean"}] * (CHANGE_WEEK - 1) + [drift.model_dump()] * (WEEKS - CHANGE_WEEK + 1)
    return Story(simulation={"scenarios": scenarios, "label_delay": 1}, start=simulation.start,
                 period=dt.timedelta(days=simulation.period_days))


def run(project: Path, env: str | None, pipelines: list[str] | None, params: dict[str, Any] | None = None) -> None:
    """Run pipelines as `kedro run` would, with runtime parameters."""
    with KedroSession.create(project_path=project, env=env, runtime_params=params) as session:
        session.run(pipeline_names=pipelines)


def inject_faulty_champion(registry: ModelRegistry, data_time: dt.date) -> str:
    """Register the champion's bundle with its probabilities inverted and force-promote it; return its version."""
    champion = registry.load()
    faulty = dataclasses.replace(champion.bundle, model=InvertedModel(champion.bundle.model.model, champion.bundle.threshold,
                                                                      "faulty: probabilities inverted"))
    info = ReleaseInfo(problem=champion.manifest.problem, model=champion.manifest.model, stage="candidate",
                       description=f"demo: {champion.version} with its probabilities inverted (an injected fault)",
                       data_fingerprint=champion.manifest.data_fingerprint, metrics=champion.manifest.metrics,
                       metrics_source=f"{champion.version}'s (copied: the fault is not measured before it ships)")
    version = registry.register(ReleaseCandidate(bundle=faulty, info=info)).version
    registry.record(version, "promoted", "demo: a faulty champion shipped by hand, skipping the gate", forced=True,
                    data_time=data_time.isoformat())
    return version


class Narrator:
    """Runs the story's steps and tells each one with the registry events it produced."""

    def __init__(self, project: Path, env: str | None, registry: ModelRegistry, settings: dict[str, Any],
                 say: Callable[[str], None]) -> None:
        self.project, self.env, self.registry, self.settings, self.say = project, env, registry, settings, say
        self.seen = len(registry.history())

    def step(self, title: str, pipelines: list[str], params: dict[str, Any]) -> None:
        """Run one step's pipelines and tell what the registry recorded."""
        self.say(f"\n== {title}")
        run(self.project, self.env, pipelines, _merge(self.settings, params))
        self.tell()

    def tell(self) -> None:
        """Say every registry event since the last telling."""
        history = self.registry.history()
        for event in history[self.seen:]:
            verdict = f" (gate: {event.verdict.summary()})" if event.event == "blocked" and event.verdict else ""
            self.say(f"   registry: {event.version} {event.event}: {event.reason}{verdict}")
        self.seen = len(history)


def demo(project: Path, env: str | None, settings: dict[str, Any] | None = None,
         say: Callable[[str], None] = print) -> list[RegistryEvent]:
    """Run the whole loop; return the registry events it produced. `settings` are runtime parameters of every step."""
    registry = ModelRegistry(project_context(project, env).catalog["model_registry"].registry.folder)
    if registry.snapshot().champion is None:
        say("No champion yet: running the whole lifecycle first (kedro run).")
        run(project, env, None, settings)
    story, since = build_story(project, env), len(registry.history())
    narrator = Narrator(project, env, registry, settings or {}, say)
    narrator.step(f"1. Weeks 1-5: the class balance moves in week {CHANGE_WEEK}; each week's labels arrive a week later",
                  ["monitoring"], story.monitoring(5))
    narrator.step("2. Retraining on labelled weeks 1-4: trained on weeks 1-2, calibrated on week 3, gated on week 4",
                  ["retraining"], {"retraining": {"window_days": 3 * story.period.days}})
    narrator.step("3. Weeks 6-7 scored by champion and shadow; once labelled, the shadow review decides",
                  ["monitoring"], story.monitoring(7))
    narrator.step("4. Week 8: the new champion's watch window", ["monitoring"], story.monitoring(8))
    say("\n== 5. A faulty champion is shipped by hand")
    inject_faulty_champion(registry, story.week(8))
    narrator.tell()
    narrator.step("6. Weeks 9-10 under the faulty champion: its watch window rolls it back", ["monitoring"],
                  story.monitoring(WEEKS))
    say(f"\nChampion now: {registry.snapshot().champion}. The story: data/<problem>/08_reporting/index.html "
        "(Closed loop), `kedro champion history`.")
    return registry.history()[since:]


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Return `base` with `extra` merged in key by key."""
    merged = dict(base)
    for key, value in extra.items():
        merged[key] = _merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged


def main() -> None:
    """Run the demo from the project folder: `python -m ml_lifecycle.loop_demo [--env ENV]`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default=os.environ.get("KEDRO_ENV"), help="Configuration environment (default: the problem's).")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    configure_project("ml_lifecycle")
    demo(Path.cwd(), arguments.env)


if __name__ == "__main__":
    main()
