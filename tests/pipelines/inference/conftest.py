"""Fixtures of the tiny deployment (tiny_deployment.py) for the inference node tests."""

from __future__ import annotations

import pandas as pd
import pytest

from ml_lifecycle.deployment import DeployedModel
from ml_lifecycle.spec import ProblemSpec

from .tiny_deployment import headerless_spec, tiny_champion, tiny_deployed, tiny_splits


@pytest.fixture
def spec() -> ProblemSpec:
    """The tiny problem, read from header-less files."""
    return headerless_spec()


@pytest.fixture
def splits() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train and validation splits of the tiny problem."""
    return tiny_splits()


@pytest.fixture
def champion() -> dict:
    """The tiny registry champion as ChampionModelDataset loads it."""
    return tiny_champion()


@pytest.fixture
def deployed() -> DeployedModel:
    """The tiny champion ready to score."""
    return tiny_deployed()
