"""A problem made by `kedro problem init` goes through every pipeline and the service with no edit to init's files.

The data are unlike Adult's: a header row, `;` separators, a yes/no target, gaps in numeric and
categorical columns, a row id, no test file. A quick environment extending the problem only makes
modeling smaller (as conf/test does for Adult); everything else is the problem's own configuration.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from ml_lifecycle.problem_init import init_problem
from ml_lifecycle.registry import ModelRegistry
from tests.conftest import REPO_ROOT, add_env, copy_project, project_catalog, run_kedro
from tests.serving.conftest import running_service

ROWS = 6000


def subscription_table(rows: int = ROWS, seed: int = 11) -> pd.DataFrame:
    """Return a subscription-renewal table whose label depends on several columns, none of them alone decisive."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 120, rows)
    spend = rng.gamma(2.0, 30.0, rows).round(2)
    tickets = rng.poisson(1.5, rows)
    plan = rng.choice(["basic", "plus", "family", "business"], rows, p=[0.4, 0.3, 0.2, 0.1])
    region = rng.choice(["north", "south", "east", "west"], rows)
    plan_effect = pd.Series(plan).map({"basic": -0.6, "plus": 0.0, "family": 0.4, "business": 0.8}).to_numpy()
    logit = -1.2 + 0.02 * tenure + 0.01 * spend - 0.5 * tickets + plan_effect + rng.normal(0, 1.0, rows)
    table = pd.DataFrame({
        "Account ID": [f"A{i:06d}" for i in range(rows)],
        "Tenure Months": tenure,
        "Monthly Spend": spend.astype(object),
        "Support Tickets": tickets,
        "Plan": plan.astype(object),
        "Region": region,
        "Renewed": np.where(logit > np.quantile(logit, 0.75), "yes", "no"),
    })
    table.loc[::23, "Monthly Spend"] = ""
    table.loc[7::31, "Plan"] = "NA"
    return table


@pytest.fixture(scope="module")
def own_problem(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A project copy with problem 'renewals' from `kedro problem init`, its whole lifecycle run in a quick environment."""
    project = copy_project(tmp_path_factory.mktemp("own_problem") / "project")
    data = tmp_path_factory.mktemp("incoming") / "renewals.csv"
    subscription_table().to_csv(data, sep=";", index=False)
    proposal, _ = init_problem(project, "renewals", data)
    quick = add_env(project, "renewals_quick", {"parameters_modeling.yml": (REPO_ROOT / "conf/test/parameters_modeling.yml").read_text()},
                    extends="renewals")
    run_kedro(project, None, env=quick)
    return {"project": project, "env": quick, "proposal": proposal, "catalog": project_catalog(project, quick)}


def test_init_reads_the_file_as_a_person_would(own_problem):
    proposal = own_problem["proposal"]
    assert (proposal.target_column, proposal.positive_label) == ("renewed", "yes")
    assert proposal.raw_format.separator == ";" and proposal.dropped_columns.keys() == {"account_id"}
    assert set(proposal.categorical_features) == {"plan", "region"}


def test_the_first_release_passes_the_gate_and_serves(own_problem):
    registry = ModelRegistry(own_problem["project"] / "data" / own_problem["env"] / "06_models" / "model_registry")
    champion = registry.load()
    assert champion.manifest.problem == "renewals" and champion.manifest.metrics["roc_auc"] > 0.8
    with running_service(own_problem["project"], env_name=own_problem["env"]) as service:
        record = {"tenure_months": 30, "monthly_spend": 55.0, "support_tickets": 1, "plan": "plus", "region": "north"}
        answer = service.post("/predict", json=record)
        assert answer.status_code == 200, answer.text
        assert 0 <= answer.json()["predictions"][0]["probability"] <= 1
        refused = service.post("/predict", json=record | {"plan": 3.5, "tenure_months": "long"})
        assert refused.status_code == 422


def test_generated_monitoring_raises_no_alarm_on_clean_batches_and_catches_every_fault(own_problem):
    summary = own_problem["catalog"].load("monitoring_summary")
    simulated = summary[summary["source"] == "simulated"]
    assert set(simulated["scenario"]) == {"clean", "covariate_shift", "missing_spike", "unit_change", "unseen_category",
                                          "prior_shift", "concept_drift"}
    assert (simulated["alert"] == (simulated["scenario"] != "clean")).all(), simulated[["scenario", "alert", "reason"]]


def test_batch_inference_reads_the_problems_own_format(own_problem):
    predictions = own_problem["catalog"].load("inference_predictions")
    assert len(predictions) > 0 and predictions["probability"].between(0, 1).all()


def test_two_problems_in_one_clone_keep_separate_outputs(own_problem):
    project = own_problem["project"]
    run_kedro(project, ["data_processing"])  # the test sample of Adult, in the same clone
    own = project_catalog(project, own_problem["env"]).load("train_split")
    adult = project_catalog(project).load("train_split")
    assert "renewed" in own.columns and "income" in adult.columns
    assert {p.name for p in (project / "data").iterdir()} == {"01_raw", own_problem["env"], "test"}
