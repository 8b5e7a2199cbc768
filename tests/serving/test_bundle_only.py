"""A registry version is self-contained: served with nothing else on disk, and rolled back to after the data changed."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

from ml_lifecycle.spec import ProblemSpec
from tests.conftest import add_env, project_catalog, run_kedro

from .conftest import as_records, champion_command, project_registry, running_service

REGISTRY = Path("data/test/06_models/model_registry")


def test_the_service_starts_and_answers_with_data_holding_only_the_registry(
        deployed_project: Path, tmp_path: Path, new_rows: pd.DataFrame, spec: ProblemSpec, service: httpx.Client):
    bare = tmp_path / "bare"
    bare.mkdir()
    for item in ("pyproject.toml", "conf", "src"):
        copy = shutil.copytree if (deployed_project / item).is_dir() else shutil.copyfile
        copy(deployed_project / item, bare / item)
    shutil.copytree(deployed_project / REGISTRY, bare / REGISTRY)
    assert [p.relative_to(bare).as_posix() for p in (bare / "data" / "test").iterdir()] == ["data/test/06_models"]
    records = as_records(new_rows.iloc[:25], spec)
    with running_service(bare) as bare_service:
        answer = bare_service.post("/predict", json=records).json()
        assert bare_service.get("/model").json()["version"] == answer["model_version"]
    full = service.post("/predict", json=records).json()
    assert answer["model_version"] == full["model_version"]
    assert [p["probability"] for p in answer["predictions"]] == [p["probability"] for p in full["predictions"]]


def test_rollback_after_a_data_change_serves_the_earlier_version_with_its_own_recipe(
        deployed_project: Path, tmp_path: Path, new_rows: pd.DataFrame):
    project = tmp_path / "project"
    shutil.copytree(deployed_project, project)
    registry = project_registry(project)
    earlier = registry.load()
    input_path = tmp_path / "new_rows.csv"
    new_rows.drop(columns="income").to_csv(input_path, header=False, index=False)
    before = tmp_path / "before.csv"
    run_kedro(project, ["inference"], runtime_params={"input_path": str(input_path), "output_path": str(before)})

    # Other data: another sample of the raw files, so other splits, fills and fingerprint.
    # Same data root, so the same registry and request log as the test environment.
    add_env(project, "changed", {"parameters.yml": {"problem": {"raw": {"sample_rows": 2500}}},
                                 "globals.yml": {"data_root": "data/test"}})
    run_kedro(project, ["data_processing", "modeling", "evaluation"], env="changed")
    released = project_catalog(project, "changed").load("release_registration").version
    assert project_catalog(project, "changed").load("missing_value_fills") != earlier.bundle.recipe.fills
    if registry.snapshot().champion != released:  # the gate may keep the incumbent; serve the new data's model anyway
        assert champion_command(project, "promote", released, "--force", "--reason", "test: new data").exit_code == 0
    assert registry.load().manifest.data_fingerprint != earlier.manifest.data_fingerprint

    rolled_back = champion_command(project, "rollback", "--to", earlier.version, "--reason", "test: back to the old data's model")
    assert rolled_back.exit_code == 0, rolled_back.output
    after = tmp_path / "after.csv"
    run_kedro(project, ["inference"], env="changed", runtime_params={"input_path": str(input_path), "output_path": str(after)})
    scored_before, scored_after = (pd.read_csv(p, float_precision="round_trip") for p in (before, after))
    assert set(scored_after["model_version"]) == {earlier.version}
    np.testing.assert_array_equal(scored_after["probability"].to_numpy(), scored_before["probability"].to_numpy())
