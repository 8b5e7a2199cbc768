"""Model selection on a real Dask LocalCluster (two worker processes) gives the local run's results exactly."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from distributed import Client
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from kedro.validation.exceptions import ParameterValidationError

from ml_lifecycle.compute import ComputeConfig
from ml_lifecycle.modeling_config import ModelingConfig
from ml_lifecycle.pipelines.modeling import create_pipeline, selection
from tests.conftest import add_env, run_kedro
from tests.dask_cluster import local_cluster

from ..evaluation import synthetic

TIMINGS = ["fit_seconds", "predict_ms_per_1000_rows"]
MODELING = {
    "cv_folds": 3,
    "baselines": {"prior": {"estimator": "sklearn.dummy.DummyClassifier", "params": {"strategy": "prior"},
                            "encoding": "none"}},
    "candidates": {
        "tree": {"estimator": "sklearn.tree.DecisionTreeClassifier", "params": {"max_depth": 4},
                 "search_space": {"max_depth": [2, 3, 5], "min_samples_leaf": [5, 20]}},
        "logistic": {"estimator": "sklearn.linear_model.LogisticRegression", "encoding": "onehot_scaled"},
        "forest": {"estimator": "sklearn.ensemble.RandomForestClassifier", "params": {"n_estimators": 20}},
        "boosting": {"estimator": "catboost.CatBoostClassifier", "encoding": "native", "early_stopping_rounds": 10,
                     "params": {"iterations": 60, "verbose": 0, "allow_writing_files": False, "thread_count": 1},
                     "search_space": {"depth": [3, 4]}},
    },
    "search": {"trials": 2},
    "sanity": {"min_train_accuracy": 0.5},  # every candidate passes, so the ensemble is on the board too
    "learning_curve_fractions": [1.0],
}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Client]:
    """A two-worker LocalCluster for this module."""
    with local_cluster() as client:
        yield client


class KeptDataset(MemoryDataset):
    """A memory dataset the runner cannot release, so intermediate results can be compared after the run."""

    def _release(self) -> None:
        pass


def select(compute: ComputeConfig) -> dict[str, Any]:
    """Run the modeling steps up to the champion on the synthetic rows; return every dataset they produced."""
    pipeline = create_pipeline().to_outputs("champion_selection")
    catalog = DataCatalog()
    for name, value in {"train_split": synthetic.rows(600, 0), "validation_split": synthetic.rows(300, 1),
                        "params:modeling": ModelingConfig.model_validate(MODELING),
                        "params:problem": synthetic.spec(), "params:compute": compute}.items():
        catalog[name] = value
    for name in pipeline.all_outputs():
        catalog[name] = KeptDataset()
    SequentialRunner().run(pipeline, catalog)
    return {name: catalog.load(name) for name in pipeline.all_outputs()}


def without_seconds(tuned: dict[str, Any]) -> dict[str, Any]:
    """Return tuning results without their wall-clock seconds."""
    return {name: {key: value for key, value in result.items() if key != "seconds"}
            | {"trials": [{k: v for k, v in t.items() if k != "seconds"} for t in result["trials"]]}
            for name, result in tuned.items()}


def test_cluster_selection_gives_the_local_leaderboard_and_champion(cluster):
    local = select(ComputeConfig())
    distributed = select(ComputeConfig(scheduler=cluster.scheduler.address))
    assert distributed["champion_selection"] == local["champion_selection"]
    # Bit for bit, not within a tolerance: a near-tie between two models must not be decided by where they ran.
    pd.testing.assert_frame_equal(distributed["leaderboard"].drop(columns=TIMINGS), local["leaderboard"].drop(columns=TIMINGS),
                                  check_exact=True)
    pd.testing.assert_frame_equal(distributed["out_of_fold_predictions"], local["out_of_fold_predictions"], check_exact=True)
    assert without_seconds(distributed["tuning_results"]) == without_seconds(local["tuning_results"])
    assert set(local["leaderboard"]["model"]) == {"prior", "tree", "logistic", "forest", "boosting", "ensemble"}


class WaitingModel:
    """A model that waits instead of computing: its wall time is long, its CPU time near zero."""

    def predict_proba(self, rows: pd.DataFrame) -> np.ndarray:
        time.sleep(0.05)
        return np.zeros((len(rows), 2))


def test_predict_latency_is_cpu_time_so_a_busy_machine_cannot_change_eligibility():
    # Waiting on a loaded machine is what wall time would count; the measure must not see it.
    rows = synthetic.rows(100, 0)
    assert selection._predict_ms_per_1000(WaitingModel(), rows, timing_rows=100) < 50


def test_a_malformed_scheduler_fails_before_any_node_runs(project_copy):
    env = add_env(project_copy, "bad", {"parameters_compute.yml": "compute:\n  scheduler: local-cluster\n"})
    with pytest.raises(ParameterValidationError, match="compute.scheduler='local-cluster' is not a scheduler"):
        run_kedro(project_copy, ["modeling"], env=env)
    assert not (project_copy / "data" / env).exists()
