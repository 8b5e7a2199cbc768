"""Fixtures of the tiny deployment (tiny_deployment.py) for the inference node tests."""

from __future__ import annotations

import pytest

from ml_lifecycle.deployment import DeployedModel
from ml_lifecycle.spec import ProblemSpec

from .tiny_deployment import headerless_spec, tiny_deployed


@pytest.fixture
def spec() -> ProblemSpec:
    """The tiny problem, read from header-less files."""
    return headerless_spec()


@pytest.fixture
def deployed() -> DeployedModel:
    """The tiny champion ready to score."""
    return tiny_deployed()
