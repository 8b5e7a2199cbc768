"""Project commands added to `kedro`: `kedro champion status | promote | rollback | compare` (docs/serving.md).

Kedro adds this module's `cli` group to its own commands. Registry operations go through the
catalog's `champion` entry, so they act on the registry the pipelines and the service use.
"""

from __future__ import annotations

import json
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

from ml_lifecycle.project import project_context
from ml_lifecycle.registry import ModelRegistry

__all__ = ["cli", "run"]


def _registry(metadata: ProjectMetadata, env: str | None) -> tuple[ModelRegistry, Any]:
    """Return the project's model registry and its context."""
    context = project_context(Path(metadata.project_path), env)
    return context.catalog["champion"].registry, context


def _reload(url: str | None) -> None:
    """Ask a running service to pick up the new champion, if a URL is given."""
    if url is None:
        click.echo("A running service picks this up on restart, or at once with: curl -X POST <service>/admin/reload")
        return
    request = urllib.request.Request(f"{url.rstrip('/')}/admin/reload", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            click.echo(f"service reloaded: {json.loads(response.read())}")
    except urllib.error.HTTPError as error:
        raise click.ClickException(f"the service refused to reload ({error.code}): {error.read().decode()}") from None
    except urllib.error.URLError as error:
        raise click.ClickException(f"no service answered at {url}: {error.reason}") from None


def _headline(entry: dict[str, Any]) -> str:
    """Return a version's key figures in one line."""
    metrics = entry.get("test_metrics") or entry.get("cv_metrics") or {}
    retraining = entry.get("retraining", {}).get("challenger_metrics", {})
    figures = {**metrics, **retraining}
    shown = ", ".join(f"{k} {figures[k]:.4f}" for k in ("log_loss", "roc_auc") if k in figures)
    return f"{entry.get('model', '?')} [{entry.get('stage', '?')}] threshold {entry.get('threshold', '?')}; {shown}"


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
    """Show the champion, every registered version and the latest registry events."""
    registry, _ = _registry(metadata, env)
    record = registry.record()
    click.echo(f"champion: {record['champion']}")
    for version, entry in record["versions"].items():
        marker = "*" if version == record["champion"] else " "
        click.echo(f" {marker} {version}  {entry['registered_at'][:19]}  {_headline(entry)}")
    click.echo("history (latest last):")
    for event in record["history"][-history:]:
        click.echo(f"   {event['at'][:19]}  {event['event']:<11} {event['version']}  {event['reason']}")


@champion.command()
@click.argument("version")
@click.option("--reason", required=True, help="Why: recorded in the registry's history.")
@click.option("--reload-url", default=None, help="Also reload a running service, e.g. http://127.0.0.1:8000")
@env_option
@click.pass_obj
def promote(metadata: ProjectMetadata, version: str, reason: str, reload_url: str | None, env: str | None) -> None:
    """Make VERSION the champion; the previous champion stays ready for rollback."""
    registry, _ = _registry(metadata, env)
    try:
        registry.promote(version, reason)
    except KeyError as error:
        raise click.ClickException(str(error.args[0])) from None
    click.echo(f"champion is now {version}")
    _reload(reload_url)


@champion.command()
@click.option("--to", "version", default=None, help="Version to restore; default: the champion before the current one.")
@click.option("--reason", default="rollback", show_default=True, help="Why: recorded in the registry's history.")
@click.option("--reload-url", default=None, help="Also reload a running service, e.g. http://127.0.0.1:8000")
@env_option
@click.pass_obj
def rollback(metadata: ProjectMetadata, version: str | None, reason: str, reload_url: str | None, env: str | None) -> None:
    """Make an earlier version the champion again (default: the previous champion)."""
    registry, _ = _registry(metadata, env)
    try:
        restored = registry.rollback(version, reason)
    except (KeyError, ValueError) as error:
        raise click.ClickException(str(error.args[0])) from None
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
