"""Project commands added to `kedro`: `kedro champion status | history | promote | rollback | compare` (docs/serving.md)
and `kedro problem init` (docs/bring_your_own_data.md).

Kedro adds this module's `cli` group to its own commands. Registry operations go through the
catalog's `model_registry` entry, so they act on the registry the pipelines and the service use.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import click
from kedro.framework.cli.project import (
    run,  # `python -m ml_lifecycle` looks for `run` here
)
from kedro.framework.cli.utils import env_option
from kedro.framework.startup import ProjectMetadata

from ml_lifecycle.bundle import BundleError
from ml_lifecycle.gate import (
    GateVerdict,
    ReleaseConfig,
    comparison_result,
    paired_bootstrap_gain,
)
from ml_lifecycle.problem_init import ProblemInitError, init_problem
from ml_lifecycle.project import project_context
from ml_lifecycle.registry import LoadedBundle, Manifest, ModelRegistry, RegistryEvent
from ml_lifecycle.serving.access import TOKEN_VARIABLE
from ml_lifecycle.spec import ProblemSpec

__all__ = ["cli", "run"]


def _registry(metadata: ProjectMetadata, env: str | None) -> tuple[ModelRegistry, Any]:
    """Return the project's model registry and its context."""
    context = project_context(Path(metadata.project_path), env)
    return context.catalog["model_registry"].registry, context


def _reload(url: str | None) -> None:
    """Ask a running service to pick up the new champion, if a URL is given."""
    if url is None:
        click.echo("A running service picks this up on restart, or at once with: "
                   "curl -X POST -H 'Authorization: Bearer <token>' <service>/admin/reload")
        return
    token = os.environ.get(TOKEN_VARIABLE)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(f"{url.rstrip('/')}/admin/reload", method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            click.echo(f"service reloaded: {json.loads(response.read())}")
    except urllib.error.HTTPError as error:
        raise click.ClickException(f"the service refused to reload ({error.code}): {error.read().decode()}") from None
    except urllib.error.URLError as error:
        raise click.ClickException(f"no service answered at {url}: {error.reason}") from None


def _headline(manifest: Manifest) -> str:
    """Return a version's key figures in one line."""
    shown = ", ".join(f"{k} {manifest.metrics[k]:.4f}" for k in ("log_loss", "roc_auc") if k in manifest.metrics)
    return f"{manifest.model} [{manifest.stage}] threshold {manifest.threshold:g}; {shown} ({manifest.metrics_source})"


def _event_line(event: RegistryEvent) -> str:
    """Return one history event in one line."""
    forced = " FORCED" if event.forced else ""
    verdict = f" [gate {event.verdict.summary()}]" if event.verdict and event.event != "registered" else ""
    return f"   {event.at[:19]}  {event.event:<11} {event.version}{forced}  {event.reason}{verdict}"


def _verdict_lines(verdict: GateVerdict) -> list[str]:
    """Return a gate verdict, one rule per line."""
    return [f"     {'ok  ' if r.passed else 'FAIL'} {r.rule} ({r.severity}): {r.detail}" for r in verdict.rules]


def _gate_for_manual_promotion(registry: ModelRegistry, candidate: LoadedBundle, context: Any) -> GateVerdict:
    """Return `version`'s gate verdict for a promotion now: its release's checks, compared again with today's champion.

    The leak, behavioural, fairness, sanity and calibration checks belong to the version and are
    taken from its release; the comparison is redone on the frozen holdout when the champion has
    changed since.
    """
    snapshot, version = registry.snapshot(), candidate.version
    verdict = snapshot.verdict_of(version)
    if verdict is None:
        raise click.ClickException(f"{version} was never judged by the release gate (stage {snapshot.versions[version].stage}); "
                                   "release it (kedro run --pipeline=evaluation), or promote with --force --reason \"...\"")
    if snapshot.champion in (None, verdict.incumbent, version):
        return verdict
    spec = ProblemSpec.model_validate(context.params["problem"])
    rule = ReleaseConfig.model_validate(context.params["release"]).gate.beats_incumbent
    holdout = context.catalog.load("frozen_holdout")
    bundle, incumbent = candidate.bundle, registry.load(snapshot.champion).bundle
    y = holdout[spec.target_column].to_numpy(dtype=int)
    gain = paired_bootstrap_gain(y, bundle.probabilities(bundle.model_rows(holdout, spec)),
                                 incumbent.probabilities(incumbent.model_rows(holdout, spec)), rule, spec.seed)
    compared = comparison_result("beats the incumbent", rule, {snapshot.champion: gain})
    return verdict.model_copy(update={"incumbent": snapshot.champion,
                                      "rules": [compared, *(r for r in verdict.rules if not r.rule.startswith("beats"))]})


@click.group(name="ml_lifecycle")
def cli() -> None:
    """ML Lifecycle project commands."""


@cli.group()
def champion() -> None:
    """Model registry operations: which version is served, promotion, rollback."""


@champion.command()
@env_option
@click.option("--history", default=10, show_default=True, help="How many registry events to show.")
@click.pass_obj
def status(metadata: ProjectMetadata, env: str | None, history: int) -> None:
    """Show the champion and its gate verdict, every registered version and the latest registry events."""
    registry, _ = _registry(metadata, env)
    snapshot = registry.snapshot()
    click.echo(f"champion: {snapshot.champion}")
    verdict = snapshot.verdict_of(snapshot.champion) if snapshot.champion else None
    if verdict is not None:
        click.echo(f"   gate verdict at its release: {verdict.summary()}")
        click.echo("\n".join(_verdict_lines(verdict)))
    for version, manifest in snapshot.versions.items():
        marker = "*" if version == snapshot.champion else " "
        click.echo(f" {marker} {version}  {manifest.registered_at[:19]}  {_headline(manifest)}")
    click.echo("history (latest last):")
    for event in snapshot.history[-history:]:
        click.echo(_event_line(event))


@champion.command(name="history")
@env_option
@click.pass_obj
def show_history(metadata: ProjectMetadata, env: str | None) -> None:
    """Show every registry event, oldest first, with the gate verdict of each release decision."""
    registry, _ = _registry(metadata, env)
    for event in registry.history():
        click.echo(_event_line(event))
        if event.verdict is not None and event.event != "registered":
            click.echo("\n".join(_verdict_lines(event.verdict)))


@champion.command()
@click.argument("version")
@click.option("--reason", required=True, help="Why: recorded in the registry's history.")
@click.option("--force", is_flag=True, help="Promote even if the gate blocks it (recorded as forced).")
@click.option("--reload-url", default=None, help="Also reload a running service, e.g. http://127.0.0.1:8000 (sends $SERVING_TOKEN)")
@env_option
@click.pass_obj
def promote(metadata: ProjectMetadata, version: str, reason: str, force: bool, reload_url: str | None, env: str | None) -> None:
    """Make VERSION the champion if the release gate passes it (or with --force); the previous one stays for rollback."""
    registry, context = _registry(metadata, env)
    if version not in registry.snapshot().versions:
        raise click.ClickException(f"unknown model version {version!r}; known: {sorted(registry.snapshot().versions)}")
    try:
        candidate = registry.load(version)  # a version that cannot be served is never made champion, forced or not
    except (BundleError, OSError) as error:
        raise click.ClickException(str(error)) from None
    verdict = None if force else _gate_for_manual_promotion(registry, candidate, context)
    if verdict is not None and not verdict.passed:
        click.echo("\n".join(_verdict_lines(verdict)))
        raise click.ClickException(f"the release gate blocks {version}: {verdict.summary()}; "
                                   "promote anyway with --force --reason \"...\" (recorded as forced)")
    registry.record(version, "promoted", f"manual: {reason}", verdict=verdict, forced=force)
    click.echo(f"champion is now {version}" + (" (forced)" if force else f" (gate {verdict.summary()})"))
    _reload(reload_url)


@champion.command()
@click.option("--to", "version", default=None, help="Version to restore; default: the champion before the current one.")
@click.option("--reason", default="rollback", show_default=True, help="Why: recorded in the registry's history.")
@click.option("--reload-url", default=None, help="Also reload a running service, e.g. http://127.0.0.1:8000 (sends $SERVING_TOKEN)")
@env_option
@click.pass_obj
def rollback(metadata: ProjectMetadata, version: str | None, reason: str, reload_url: str | None, env: str | None) -> None:
    """Make an earlier version the champion again (default: the previous champion)."""
    registry, _ = _registry(metadata, env)
    try:
        restored = registry.rollback(version, reason)
    except (KeyError, ValueError, OSError) as error:
        raise click.ClickException(str(error.args[0]) if isinstance(error, KeyError) else str(error)) from None
    click.echo(f"champion is now {restored}")
    _reload(reload_url)


@champion.command()
@click.argument("challenger")
@env_option
@click.pass_obj
def compare(metadata: ProjectMetadata, challenger: str, env: str | None) -> None:
    """Compare CHALLENGER with the model it was logged beside, on the service's logged traffic."""
    from ml_lifecycle.serving.request_log import RequestLog, compare_models  # noqa: PLC0415  (imports sklearn: not on every kedro command)

    _, context = _registry(metadata, env)
    log = RequestLog(context.catalog["request_log"].filepath)
    try:
        result = compare_models(log.paired_scores(challenger), context.params["problem"]["target"]["positive_label"])
    finally:
        log.close()
    click.echo(json.dumps({"challenger": challenger, **result}, indent=2))


@cli.group()
def problem() -> None:
    """Bring your own data: `kedro problem init NAME --data FILE` writes conf/NAME/ (docs/bring_your_own_data.md)."""


@problem.command(name="init")
@click.argument("name")
@click.option("--data", "data", required=True, type=click.Path(path_type=Path), help="The CSV to learn from.")
@click.option("--target", default=None, help="The label column; default: a two-valued column named like an outcome, else the last one.")
@click.option("--positive-label", default=None, help="The label meaning 'yes'; default: the minority class.")
@click.option("--test-data", default=None, type=click.Path(path_type=Path), help="A held-out file in the same format.")
@click.option("--overwrite", is_flag=True, help="Replace an existing conf/NAME/.")
@click.pass_obj
def init(metadata: ProjectMetadata, name: str, data: Path, target: str | None, positive_label: str | None,
         test_data: Path | None, overwrite: bool) -> None:
    """Read the CSV, propose a problem spec with the reason for each choice, and write conf/NAME/ for review."""
    try:
        proposal, env = init_problem(Path(metadata.project_path), name, data.resolve(), target, positive_label,
                                     test_data.resolve() if test_data else None, overwrite)
    except ProblemInitError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{proposal.rows:,} rows; target {proposal.target_column!r}, positive label {proposal.positive_label!r}")
    click.echo(f"numeric: {', '.join(proposal.numeric_features) or 'none'}")
    click.echo(f"categorical: {', '.join(proposal.categorical_features) or 'none'}")
    for decision in proposal.decisions:
        click.echo(f"- {decision.subject}: {decision.choice} ({decision.reason})")
    written = env.relative_to(Path(metadata.project_path))
    click.echo(f"Wrote {written}/ and copied the data to {proposal.raw_folder}/. "
               f"Review {written}/parameters.yml, then: kedro run --env {name}")
