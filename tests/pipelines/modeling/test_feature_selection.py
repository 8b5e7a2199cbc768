"""Feature selection on a small generated problem with real CatBoost: rankings, the CV effect of dropping, the applied subset."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from ml_lifecycle.artifacts import ChampionSelection
from ml_lifecycle.estimators import ColumnSubsetClassifier
from ml_lifecycle.hooks import ConfigurationError
from ml_lifecycle.model_checks import native_importances
from ml_lifecycle.model_recipe import blueprint_on_features, configured_model
from ml_lifecycle.modeling_config import ModelingConfig
from ml_lifecycle.pipelines.modeling import feature_selection, selection
from ml_lifecycle.pipelines.release.calibration import fit_holdout_twin
from ml_lifecycle.spec import ProblemSpec
from tests.conftest import add_env, project_catalog, run_kedro

SPEC = ProblemSpec.model_validate({
    "seed": 0,
    "raw": {"folder": "raw", "train_file": "train.csv"},
    "target": {"column": "label", "positive_label": "1", "negative_label": "0"},
    "numeric_features": ["strong", "noise", "medium"],
    "categorical_features": ["kind"],
    "default_missing_numeric": "median",
})
CATBOOST = {"estimator": "catboost.CatBoostClassifier", "encoding": "native",
            "params": {"iterations": 80, "depth": 4, "learning_rate": 0.1, "verbose": 0, "allow_writing_files": False,
                       "thread_count": 1}}


def rows(n: int, seed: int) -> pd.DataFrame:
    """Return `n` rows whose label follows `strong`, `medium` and `kind`; `noise` carries nothing."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "strong": rng.normal(size=n),
        "noise": rng.normal(size=n),
        "medium": rng.normal(size=n),
        "kind": pd.array(rng.choice(["a", "b", "c"], size=n), dtype="str"),
    })
    logit = 2.0 * frame["strong"] + 1.2 * frame["medium"] + frame["kind"].map({"a": -1.2, "b": 0.0, "c": 1.2})
    frame["label"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("int8")
    return frame


def config(**feature_selection_settings: Any) -> ModelingConfig:
    """Return a modeling config whose champion is a small CatBoost, with `feature_selection_settings`."""
    return ModelingConfig.model_validate({
        "cv_folds": 3,
        "baselines": {"prior": {"estimator": "sklearn.dummy.DummyClassifier", "params": {"strategy": "prior"}, "encoding": "none"}},
        "candidates": {"catboost": CATBOOST},
        "champion": {"refit_on": "train_and_validation"},
        "feature_selection": {"drop_weakest": [1]} | feature_selection_settings,
    })


def choice() -> ChampionSelection:
    """Return the leaderboard's choice: the CatBoost candidate, refitted on train and validation."""
    return ChampionSelection(champion="catboost", role="candidate", ensemble_members=[], runner_up="prior",
                             primary_metric="log_loss", cv_score=0.5, refit_on="train_and_validation",
                             no_candidate_qualified=False, not_chosen={})


@pytest.fixture(scope="module")
def modeled() -> dict[str, Any]:
    """The generated splits, the leaderboard's out-of-fold predictions and the champion fitted on every feature."""
    train, validation = rows(900, 1), rows(300, 2)
    modeling = config()
    _, out_of_fold = selection.cross_validate_models(train, {}, modeling, SPEC)
    full = selection.fit_champion(train, validation, choice(), {}, modeling, SPEC)
    rankings = feature_selection.rank_features(train, out_of_fold, full, choice(), {}, modeling, SPEC)
    return {"train": train, "validation": validation, "out_of_fold": out_of_fold, "full": full, "rankings": rankings}


def test_every_method_and_the_consensus_rank_the_pure_noise_column_last(modeled):
    rankings = modeled["rankings"]
    assert set(rankings.orders) == {"mutual_information", "importance", "wrapper"}
    for method in (*rankings.orders, "consensus"):
        order = rankings.order(method)
        assert sorted(order) == sorted(SPEC.features)
        assert order[-1] == "noise", (method, order)
    assert rankings.order("consensus")[0] == "strong"
    table = feature_selection.tabulate_rankings(rankings).set_index("feature")
    assert table.loc["noise", ["consensus_rank", "mutual_information_rank", "importance_rank", "wrapper_rank"]].tolist() == [4] * 4
    assert "stopped by every feature eliminated" in rankings.notes["wrapper"]


def test_the_wrapper_stops_at_its_evaluation_budget_after_its_first_step(modeled):
    modeling = config(wrapper={"max_evaluations": 5})
    order, without, how = feature_selection.backward_elimination(
        modeled["train"], modeled["out_of_fold"]["fold"],
        lambda dropped: blueprint_on_features(choice(), {}, modeling, SPEC, [f for f in SPEC.features if f not in dropped]),
        modeling, SPEC)
    assert how.startswith("4 subsets scored") and "max_evaluations (5)" in how
    assert set(without) == set(SPEC.features) and order[-1] == "noise"


def test_applied_selection_refits_the_champion_on_the_kept_columns_and_it_still_takes_every_feature(modeled):
    modeling = config(apply={"method": "consensus", "drop": 1})
    effects = feature_selection.measure_drop_effects(modeled["train"], modeled["out_of_fold"], modeled["rankings"], choice(), {},
                                                     modeling, SPEC)
    chosen = feature_selection.apply_feature_selection(choice(), modeled["rankings"], effects, modeling)
    assert chosen.feature_subset.dropped == ["noise"] and chosen.feature_subset.kept == ["strong", "medium", "kind"]
    # paired on the leaderboard's folds: "with every feature" is the leaderboard's own out-of-fold score
    assert effects["cv_log_loss_all_features"].iloc[0] == pytest.approx(
        np.mean([np.mean(-np.log(np.where(g["label"] == 1, g["p"], 1 - g["p"])))
                 for _, g in modeled["train"].assign(p=modeled["out_of_fold"]["catboost"], f=modeled["out_of_fold"]["fold"]).groupby("f")]))
    assert chosen.feature_subset.cv_score_kept_features == effects["cv_log_loss_kept_features"].iloc[0]

    champion = selection.refit_on_kept_features(modeled["train"], modeled["validation"], modeled["full"], chosen, {}, modeling, SPEC)
    test = rows(200, 3)
    assert isinstance(champion, ColumnSubsetClassifier)
    assert native_importances(champion)["feature"].tolist() == ["strong", "medium", "kind"]
    proba = champion.predict_proba(test)
    np.testing.assert_array_equal(proba, champion.predict_proba(test.assign(noise=1e6)))  # noise never reaches the model
    np.testing.assert_array_equal(proba, champion.predict_proba(test[SPEC.model_columns()].to_numpy(dtype=object)))
    assert not np.array_equal(proba, modeled["full"].predict_proba(test))
    twin = fit_holdout_twin(champion, modeled["train"], chosen, {}, modeling, SPEC)  # the release's twin keeps the subset
    assert isinstance(twin, ColumnSubsetClassifier) and twin.columns == ["strong", "medium", "kind"]


def test_with_selection_off_the_champion_is_exactly_the_one_fitted_on_every_feature(modeled):
    modeling = config()
    effects = feature_selection.measure_drop_effects(modeled["train"], modeled["out_of_fold"], modeled["rankings"], choice(), {},
                                                     modeling, SPEC)
    assert effects["dropped"].tolist() == ["noise"]
    chosen = feature_selection.apply_feature_selection(choice(), modeled["rankings"], effects, modeling)
    assert chosen == choice() and chosen.feature_subset is None
    champion = selection.refit_on_kept_features(modeled["train"], modeled["validation"], modeled["full"], chosen, {}, modeling, SPEC)
    assert champion is modeled["full"]
    every_row = pd.concat([modeled["train"], modeled["validation"]])
    recipe = configured_model(modeling.candidates["catboost"], SPEC).fit(every_row, every_row["label"])
    test = rows(200, 3)
    np.testing.assert_array_equal(champion.predict_proba(test), recipe.predict_proba(test))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"apply": {"method": "lasso", "keep": 2}}, "feature_selection.apply.method"),
        ({"apply": {"method": "wrapper", "keep": 2, "drop": 1}}, "exactly one of keep"),
        ({"wrapper": {"model": "xgboost"}}, "feature_selection.wrapper.model 'xgboost' is not a declared model"),
        ({"drop_weakest": [0]}, "drop_weakest"),
    ],
)
def test_bad_feature_selection_config_fails_naming_the_key(settings, message):
    with pytest.raises(ValidationError, match=message):
        config(**settings)


def test_subset_counts_the_problem_cannot_meet_are_named_against_the_spec():
    assert config(apply={"method": "importance", "keep": 5}).problems_against(SPEC) == [
        "modeling.feature_selection.apply.keep: 5 is more than the problem's 4 features"]
    assert config(apply={"method": "wrapper", "drop": 4}).problems_against(SPEC) == [
        "modeling.feature_selection.apply.drop: dropping 4 of the problem's 4 features keeps none"]
    assert config(apply={"method": "wrapper", "keep": 4}, drop_weakest=[1, 4]).problems_against(SPEC) == []


def test_keeping_more_features_than_the_problem_has_stops_the_run_before_any_node(project_copy):
    env = add_env(project_copy, "too_many", {"parameters_modeling.yml": (
        "modeling:\n  feature_selection:\n    apply: {method: consensus, keep: 99}\n")})
    with pytest.raises(ConfigurationError, match=r"parameters_modeling.yml: modeling.feature_selection.apply.keep: 99 is more than"):
        run_kedro(project_copy, ["modeling"], env=env)
    assert not (project_copy / "data" / env).exists()


def test_the_modeling_run_saves_the_rankings_the_drop_effects_and_says_so_in_the_rationale(test_project):
    run_kedro(test_project, ["data_processing", "modeling"])
    catalog = project_catalog(test_project)
    spec = catalog.load("params:problem")
    table = catalog.load("feature_selection_table")
    assert sorted(table["feature"]) == sorted(spec.features)
    assert {"mutual_information_rank", "wrapper_rank", "consensus_rank"} <= set(table.columns)
    effects = catalog.load("feature_drop_effects")
    assert effects["ranking"].tolist() == ["consensus"] and effects["dropped_count"].tolist() == [2]
    assert catalog.load("champion_selection").feature_subset is None
    assert "## Feature selection" in catalog.load("champion_rationale")
    assert "- **Applied**: none" in catalog.load("champion_rationale")
