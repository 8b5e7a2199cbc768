"""No training-serving skew: the same rows get identical probabilities from the batch pipeline, the service and the model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from ml_lifecycle import rows
from ml_lifecycle.bundle import InputLimits, InputSchema, ModelBundle, Recipe
from ml_lifecycle.deployment import DeployedModel
from ml_lifecycle.registry import ModelRegistry
from ml_lifecycle.spec import ProblemSpec
from tests.conftest import project_catalog, run_kedro

from .conftest import as_records


@pytest.fixture
def flagging_spec(spec: ProblemSpec) -> ProblemSpec:
    """The default spec with one numeric column flagged as well as filled, so the flag path is covered too."""
    return ProblemSpec.model_validate(spec.model_dump() | {"missing_values": {"hours_per_week": "flag_and_median"}})


def preparer(spec: ProblemSpec) -> DeployedModel:
    """A deployed model with hand-set fills and known categories (preparation needs no fitted model)."""
    fills = {c: 40.0 + i for i, c in enumerate(spec.numeric_features)} | {c: spec.missing_category for c in spec.categorical_features}
    categories = {c: frozenset({"Private", "Male", "White", "United-States", spec.missing_category}) for c in spec.categorical_features}
    recipe = Recipe(schema=InputSchema.of(spec, InputLimits()), fills=fills, categories=categories, sample_rows=pd.DataFrame())
    return DeployedModel(version="t", bundle=ModelBundle(recipe=recipe, model=None), manifest=None, promotion=None)


CORPUS: list[dict[str, Any]] = [
    {"age": 39.0, "workclass": "Private", "education_num": 13.0, "marital_status": "Never-married", "occupation": "Sales",
     "relationship": "Own-child", "race": "White", "sex": "Male", "capital_gain": 0.0, "capital_loss": 0.0,
     "hours_per_week": 40.0, "native_country": "United-States"},
    {"age": None, "workclass": "  Private ", "education_num": 1.0, "marital_status": "?", "occupation": "",
     "relationship": None, "race": " ? ", "sex": "Female", "capital_gain": 99999.0, "capital_loss": None,
     "hours_per_week": None, "native_country": "Atlantis"},
    {"age": 0.0, "workclass": None, "education_num": None, "marital_status": "Married-civ-spouse", "occupation": "Tech-support",
     "relationship": "Husband", "race": "Black", "sex": " Male", "capital_gain": 2174.5, "capital_loss": 1902.0,
     "hours_per_week": 99.0, "native_country": "?"},
]


def test_the_service_prepares_json_records_exactly_as_training_prepares_raw_rows(flagging_spec: ProblemSpec):
    deployed = preparer(flagging_spec)
    typed = rows.cast_features(rows.clean_text(pd.DataFrame(CORPUS), flagging_spec), flagging_spec)
    training_path = rows.apply_missing_value_fills(typed, deployed.fills, flagging_spec)
    service_path, unseen = deployed.model_rows_from_records(CORPUS, flagging_spec)
    assert "hours_per_week_missing" in service_path.columns
    pd.testing.assert_frame_equal(service_path, training_path)
    batch_flags = deployed.unseen_categories(typed, flagging_spec)
    assert ["; ".join(f"{k}={v}" for k, v in flags.items()) for flags in unseen] == batch_flags.tolist()
    assert unseen[1] == {"sex": "Female", "native_country": "Atlantis"}


def test_batch_pipeline_service_and_in_memory_model_give_identical_probabilities(
        service: httpx.Client, deployed_project: Path, new_rows: pd.DataFrame, spec: ProblemSpec, tmp_path: Path):
    raw = new_rows.iloc[:300]
    input_path, output_path = tmp_path / "new_rows.csv", tmp_path / "scored.csv"
    raw.to_csv(input_path, header=False, index=False)
    run_kedro(deployed_project, ["inference"], runtime_params={"input_path": str(input_path), "output_path": str(output_path)})
    batch = pd.read_csv(output_path, float_precision="round_trip")
    assert batch["input_row"].tolist() == list(range(300))

    served = service.post("/predict", json=as_records(raw, spec)).json()

    champion = ModelRegistry(deployed_project / "data/test/06_models/model_registry").load()
    fills = project_catalog(deployed_project).load("missing_value_fills")
    assert champion.bundle.recipe.fills == fills  # released on the current splits: the bundle carries their fills
    typed = rows.cast_features(rows.standardise(raw, spec, "test rows", label_optional=True), spec)
    in_memory = champion.bundle.model.predict_proba(rows.apply_missing_value_fills(typed, fills, spec))[:, 1]

    assert served["model_version"] == champion.version == batch["model_version"].iloc[0]
    np.testing.assert_array_equal(batch["probability"].to_numpy(), in_memory)
    np.testing.assert_array_equal(np.array([p["probability"] for p in served["predictions"]]), in_memory)
    assert batch["decision"].tolist() == [p["decision"] for p in served["predictions"]]
