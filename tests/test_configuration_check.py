"""One check of the whole configuration before any node runs: every problem at once, each with its file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml_lifecycle.hooks import ConfigurationError
from tests.conftest import add_env, run_kedro

BAD_SETTINGS = {
    "parameters_evaluation.yml": "evaluation:\n  slices:\n    tags:\n      rich: 'capital_gains > 0'\n",
    "parameters_monitoring.yml": ("monitoring:\n  simulation:\n    scenarios:\n"
                                  "      - {kind: unit_change, column: workclass, factor: 60}\n"
                                  "      - {kind: covariate_shift, toward: 'agee >= 50', share: 0.5}\n"),
    "parameters_modeling.yml": ("modeling:\n  baselines:\n    married_graduate_rule:\n      estimator: ml_lifecycle.estimators.RuleClassifier\n"
                                "      params: {rule: \"marital == 'x'\"}\n      encoding: none\n"),
}


def test_every_setting_that_does_not_fit_the_problem_is_reported_at_once_before_any_node_runs(project_copy: Path):
    env = add_env(project_copy, "bad_settings", BAD_SETTINGS)
    with pytest.raises(ConfigurationError) as error:
        run_kedro(project_copy, ["data_processing"], env=env)  # none of the bad settings is data_processing's own
    lines = str(error.value).splitlines()[1:]
    assert len(lines) == 4, lines
    expected = [
        ("conf/bad_settings/parameters_evaluation.yml", "slices.tags.rich: query 'capital_gains > 0' cannot be evaluated"),
        ("conf/bad_settings/parameters_monitoring.yml", "monitoring.simulation.scenarios[0].column: 'workclass' is not a numeric feature"),
        ("conf/bad_settings/parameters_monitoring.yml", "monitoring.simulation.scenarios[1].toward: query 'agee >= 50' cannot be evaluated"),
        ("conf/bad_settings/parameters_modeling.yml", "modeling.baselines.married_graduate_rule.params.rule: query \"marital == 'x'\" cannot"),
    ]
    for file, problem in expected:
        assert any(file in line and problem in line for line in lines), (file, problem, lines)
    assert not (project_copy / "data" / env).exists()
