"""The typed monitoring configuration: the shipped files parse, bad values fail naming the key."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ml_lifecycle.pipelines.monitoring.config import MonitoringConfig, PerformanceTest
from ml_lifecycle.spec import ProblemSpec
from tests.conftest import env_parameters

from .tiny_monitoring import headerless_spec, tiny_config


@pytest.mark.parametrize("env", ["adult", "test"])
def test_the_shipped_configuration_parses_and_fits_the_shipped_problem(env: str):
    parameters = env_parameters(env)
    config = MonitoringConfig.model_validate(parameters["monitoring"])
    config.check_against(ProblemSpec.model_validate(parameters["problem"]))
    kinds = [scenario.kind for scenario in config.simulation.scenarios]
    assert kinds.count("clean") >= 3
    assert {"covariate_shift", "missing_spike", "unit_change", "unseen_category", "prior_shift", "concept_drift"} <= set(kinds)


def test_an_unknown_scenario_kind_is_rejected():
    with pytest.raises(ValidationError, match="kind"):
        tiny_config(simulation={"scenarios": [{"kind": "earthquake"}]})


def test_a_p_value_drift_method_is_rejected():
    with pytest.raises(ValidationError, match="numeric_method"):
        tiny_config(drift={"numeric_method": "ks"})


def test_a_numbers_only_method_for_categories_is_rejected():
    with pytest.raises(ValidationError, match="works on numbers only"):
        tiny_config(drift={"categorical_method": "wasserstein"})


@pytest.mark.parametrize(("changes", "message"), [
    ({"simulation": {"scenarios": [{"kind": "unit_change", "column": "work_class", "factor": 2}]}},
     r"scenarios\[0\]\.column: 'work_class' is not a numeric feature"),
    ({"simulation": {"scenarios": [{"kind": "unseen_category", "column": "age", "value": "x", "share": 0.1}]}},
     r"scenarios\[0\]\.column: 'age' is not a categorical feature"),
    ({"drift": {"per_column_threshold": {"salary": 0.2}}}, r"monitoring\.drift\.per_column_threshold names \['salary'\]"),
    ({"slices": ["salary"]}, r"monitoring\.slices names \['salary'\]"),
])
def test_columns_the_problem_does_not_have_fail_naming_the_key(changes: dict, message: str):
    with pytest.raises(ValueError, match=message):
        tiny_config(**changes).check_against(headerless_spec())


def test_simulating_without_a_test_file_is_allowed_because_batches_come_from_the_held_out_split():
    spec = headerless_spec()
    tiny_config().check_against(spec.model_copy(update={"raw": spec.raw.model_copy(update={"test_file": None})}))


def test_the_roc_auc_limit_follows_the_release_and_the_batch_size():
    relative = PerformanceTest(max_drop=0.05, confidence=0.95)
    small, large = relative.limit(0.9, 30, 120), relative.limit(0.9, 3000, 12000)
    # Hanley-McNeil: with A = 0.9, 30 positives and 120 negatives, SE = 0.0387; one-sided 95% bound 1.645 * SE
    assert small == pytest.approx(0.9 - 0.05 - 1.6449 * 0.0387, abs=2e-4)
    assert small < large < 0.85
    assert relative.limit(0.9, 0, 50) == pytest.approx(0.85)
    assert PerformanceTest(min=0.8).limit(0.95, 30, 120) == 0.8
    with pytest.raises(ValueError, match="set monitoring.tests.roc_auc.min instead"):
        relative.limit(None, 30, 120)
