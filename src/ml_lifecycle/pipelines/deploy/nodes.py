"""Deploy the registry's champion: its verified bundle, checked against the problem spec."""

from __future__ import annotations

from ml_lifecycle.deployment import DeployedModel, deploy
from ml_lifecycle.registry import LoadedBundle, RegistryEvent
from ml_lifecycle.spec import ProblemSpec


def deploy_champion(champion_bundle: LoadedBundle, release_promotion: RegistryEvent, spec: ProblemSpec) -> DeployedModel:
    """Return the champion ready to score (the latest release decision is an input so a run deploys after it)."""
    return deploy(champion_bundle, spec)
