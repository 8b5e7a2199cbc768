"""Small data in model selection: repeated stratified CV below the declared size, a single CV above it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from pydantic import ValidationError
from sklearn.model_selection import StratifiedKFold

from ml_lifecycle.bundle import InputLimits
from ml_lifecycle.compute import ComputeConfig
from ml_lifecycle.metrics import score_all
from ml_lifecycle.modeling_config import ModelingConfig
from ml_lifecycle.pipelines import data_processing, modeling
from ml_lifecycle.pipelines.data_processing.nodes import RowRules
from ml_lifecycle.spec import ProblemSpec

from ..data_processing.test_small_data import generated_records
from ..data_processing.tiny_problem import as_partitions, raw_frame, tiny_spec

MODELING: dict[str, Any] = {
    "cv_folds": 3,
    "small_data_cv_repeats": 3,
    "baselines": {"prior": {"estimator": "sklearn.dummy.DummyClassifier", "params": {"strategy": "prior"},
                            "encoding": "none"}},
    "candidates": {
        "tree": {"estimator": "sklearn.tree.DecisionTreeClassifier", "params": {"max_depth": 4}},
        "logistic": {"estimator": "sklearn.linear_model.LogisticRegression", "encoding": "onehot_scaled"},
    },
    "search": {"trials": 1},
    "sanity": {"min_train_accuracy": 0.5},  # both candidates pass, so the ensemble is on the board too
    "learning_curve_fractions": [1.0],
}
MODELS = ["prior", "tree", "logistic"]


class KeptDataset(MemoryDataset):
    """A memory dataset the runner cannot release, so intermediate results can be read after the run."""

    def _release(self) -> None:
        pass


def select(spec: ProblemSpec) -> dict[str, Any]:
    """Run data processing and model selection up to the leaderboard on 1,000 generated rows; return every output."""
    pipeline = data_processing.create_pipeline() + modeling.create_pipeline().to_outputs("leaderboard")
    catalog = DataCatalog()
    for name, value in {"raw_files": as_partitions({"train.csv": raw_frame(*generated_records(1000, 0))}),
                        "params:problem": spec, "params:deployment": InputLimits(), "params:data_processing": RowRules(),
                        "params:modeling": ModelingConfig.model_validate(MODELING), "params:compute": ComputeConfig()}.items():
        catalog[name] = value
    for name in pipeline.all_outputs():
        catalog[name] = KeptDataset()
    SequentialRunner().run(pipeline, catalog)
    return {name: catalog.load(name) for name in pipeline.all_outputs()}


@pytest.fixture(scope="module")
def small() -> dict[str, Any]:
    """Selection on a 1,000-row problem under the default size line (10,000 rows): small data."""
    return select(tiny_spec(raw={"test_file": None}, split={"test_share": 0.1, "validation_share": 0.1}))


@pytest.fixture(scope="module")
def not_small() -> dict[str, Any]:
    """Selection on the same rows with the size line declared at 500 rows: not small data."""
    return select(tiny_spec(raw={"test_file": None},
                            split={"test_share": 0.1, "validation_share": 0.1, "small_data_rows": 500}))


def test_small_data_is_split_60_20_20_and_cross_validated_3_folds_times_3_repeats(small):
    assert [len(small[f"{split}_split"]) for split in ("train", "validation", "test")] == [600, 200, 200]
    folds = small["cv_fold_metrics"]
    for model in MODELS:
        scored = folds[folds["model"] == model]
        assert sorted(scored["fold"]) == list(range(9))
        assert scored.groupby("repeat").size().to_dict() == {0: 3, 1: 3, 2: 3}
    board = small["leaderboard"].set_index("model")
    assert board.loc["tree", "cv_folds_scored"] == 9
    assert board.loc["tree", "log_loss_std"] == pytest.approx(folds.loc[folds["model"] == "tree", "log_loss"].std())
    assert board.loc["tree", "cv_policy"] == ("3-fold stratified CV repeated 3 times: small data, 600 train-split rows "
                                              "< 6,000, the train share of problem.split.small_data_rows 10,000")


def test_repeats_reshuffle_the_folds(small):
    folds = small["cv_fold_metrics"]
    tree = folds[folds["model"] == "tree"].set_index("fold")["log_loss"]
    assert tree.iloc[:3].tolist() != tree.iloc[3:6].tolist()


def test_out_of_fold_predictions_are_one_per_train_row_from_the_first_repeat(small):
    oof, folds, y = small["out_of_fold_predictions"], small["cv_fold_metrics"], small["train_split"]["income"]
    assert len(oof) == len(small["train_split"]) and not oof[MODELS].isna().any().any()
    assert sorted(oof["fold"].unique()) == [0, 1, 2]
    first_repeat = folds[(folds["model"] == "tree") & (folds["repeat"] == 0)].set_index("fold")["log_loss"]
    for fold, rows in oof.groupby("fold"):
        assert score_all(y.loc[rows.index], rows["tree"])["log_loss"] == pytest.approx(first_repeat[fold])


def test_the_ensemble_is_scored_on_the_first_repeat_and_says_so(small):
    board = small["leaderboard"].set_index("model")
    assert board.loc["ensemble", "cv_folds_scored"] == 3
    assert board.loc["ensemble", "cv_policy"].endswith("; the ensemble on the first repeat's folds "
                                                       "(one out-of-fold prediction per row and member)")


def test_above_the_declared_size_the_split_and_the_single_cv_are_unchanged(not_small):
    assert [len(not_small[f"{split}_split"]) for split in ("train", "validation", "test")] == [810, 90, 100]
    folds = not_small["cv_fold_metrics"]
    assert (folds.groupby("model").size() == 3).all() and set(folds["repeat"]) == {0}
    train = not_small["train_split"]
    expected = np.full(len(train), -1)
    for fold, (_, held) in enumerate(StratifiedKFold(3, shuffle=True, random_state=0).split(train, train["income"])):
        expected[held] = fold
    np.testing.assert_array_equal(not_small["out_of_fold_predictions"]["fold"], expected)
    assert not_small["leaderboard"]["cv_policy"].iloc[0] == (
        "3-fold stratified CV: not small data, 810 train-split rows >= 300, the train share of "
        "problem.split.small_data_rows 500")


def test_small_data_cv_repeats_below_one_fails_naming_the_key():
    with pytest.raises(ValidationError, match="small_data_cv_repeats"):
        ModelingConfig.model_validate(MODELING | {"small_data_cv_repeats": 0})


def test_the_leaderboard_keeps_every_model(small, not_small):
    for outputs in (small, not_small):
        assert set(outputs["leaderboard"]["model"]) == {*MODELS, "ensemble"}
