"""Unit tests of the modeling building blocks on tiny hand-made data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from ml_lifecycle.estimators import (
    OneFeatureRuleClassifier,
    RuleClassifier,
    SoftVotingEnsemble,
    make_estimator,
)
from ml_lifecycle.modeling_config import ModelingConfig
from ml_lifecycle.pipelines.modeling import selection
from ml_lifecycle.pipelines.release.calibration import fit_holdout_twin

from ..evaluation import synthetic

BASELINE = {"estimator": "sklearn.dummy.DummyClassifier", "params": {"strategy": "prior"}, "encoding": "none"}
TREE = {"estimator": "sklearn.tree.DecisionTreeClassifier", "params": {"max_depth": 3}}


def config(**overrides) -> ModelingConfig:
    """Return a minimal valid modeling config with `overrides` applied."""
    return ModelingConfig(**({"baselines": {"prior": BASELINE}, "candidates": {"tree": TREE}} | overrides))


def test_rule_classifier_predicts_the_positive_rate_of_each_side_of_the_rule():
    X = pd.DataFrame({"x": [1, 2, 3, 4, 5, 6]})
    y = pd.Series([0, 1, 1, 0, 0, 1])
    model = RuleClassifier("x >= 4").fit(X, y)
    np.testing.assert_allclose(model.predict_proba(pd.DataFrame({"x": [5, 1]}))[:, 1], [1 / 3, 2 / 3])


def test_rule_classifier_names_a_rule_that_cannot_be_evaluated():
    with pytest.raises(ValueError, match="no_such_column"):
        RuleClassifier("no_such_column > 1").fit(pd.DataFrame({"x": [1, 2]}), [0, 1])


def test_soft_voting_ensemble_averages_member_probabilities():
    X = pd.DataFrame({"x": [1, 2, 3, 4]})
    y = [0, 0, 1, 1]
    members = [("low", RuleClassifier("x >= 3")), ("prior", make_estimator("sklearn.dummy.DummyClassifier", {"strategy": "prior"}))]
    ensemble = SoftVotingEnsemble(members).fit(X, y)
    np.testing.assert_allclose(ensemble.predict_proba(X)[:, 1], [0.25, 0.25, 0.75, 0.75])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"candidates": {"tree": TREE | {"estimator": "sklearn.tree.NoSuchTree"}}}, "cannot be imported"),
        ({"candidates": {"tree": TREE | {"params": {"max_depth": -2}}}}, "max_depth"),
        ({"candidates": {"tree": TREE | {"params": {"depht": 3}}}}, "depht"),
        ({"candidates": {"tree": TREE | {"search_space": {"max_depth": [2, "deep"]}}}}, "max_depth"),
        ({"primary_metric": "auc_roc"}, "unknown metric 'auc_roc'; known: "),
        ({"cv_foldz": 3}, "cv_foldz"),
    ],
)
def test_bad_modeling_config_fails_naming_what_is_wrong(overrides, message):
    with pytest.raises(ValidationError, match=message):
        config(**overrides)


def test_catboost_hyperparameters_are_checked_before_training():
    with pytest.raises(ValidationError, match="depth"):
        config(candidates={"cb": {"estimator": "catboost.CatBoostClassifier", "params": {"depth": -3}, "encoding": "native"}})


def _fold_table(scores: dict[str, tuple[str, list[float]]]) -> pd.DataFrame:
    """Return per-fold metric rows where every metric of a model equals its given scores."""
    records = []
    for model, (role, values) in scores.items():
        for fold, value in enumerate(values):
            records.append({"model": model, "role": role, "fold": fold, "repeat": 0,
                            **dict.fromkeys(["log_loss", "roc_auc", "pr_auc", "brier", "accuracy", "f1", "precision", "recall"], value),
                            "fit_seconds": 1.0, "predict_ms_per_1000_rows": 10.0, "size_bytes": 100,
                            "cv_policy": f"{len(values)}-fold stratified CV"})
    return pd.DataFrame(records)


def test_leaderboard_ranks_by_primary_metric_and_requires_beating_baselines_by_the_margin():
    folds = _fold_table({
        "prior": ("baseline", [0.50, 0.50]),
        "good": ("candidate", [0.30, 0.32]),
        "close": ("candidate", [0.499, 0.499]),
    })
    sanity = pd.DataFrame({"model": ["good", "close"], "train_accuracy": [1.0, 1.0], "sanity_passed": [True, True]})
    board = selection.build_leaderboard(folds, sanity, config(champion={"margin_over_baselines": 0.01}))
    assert board["model"].tolist() == ["good", "close", "prior"]
    assert board.loc[0, "log_loss_mean"] == pytest.approx(0.31)
    assert board.loc[0, "log_loss_std"] == pytest.approx(np.std([0.30, 0.32], ddof=1))
    assert board.set_index("model")["eligible"].to_dict() == {"good": True, "close": False, "prior": False}


def test_a_candidate_failing_the_sanity_check_is_not_eligible():
    folds = _fold_table({"prior": ("baseline", [0.5]), "broken": ("candidate", [0.3])})
    sanity = pd.DataFrame({"model": ["broken"], "train_accuracy": [0.6], "sanity_passed": [False]})
    board = selection.build_leaderboard(folds, sanity, config())
    assert not board.set_index("model").loc["broken", "eligible"]


def test_without_an_eligible_candidate_the_best_baseline_is_kept_and_said_so():
    folds = _fold_table({"prior": ("baseline", [0.5]), "rule": ("baseline", [0.4]), "weak": ("candidate", [0.45])})
    sanity = pd.DataFrame({"model": ["weak"], "train_accuracy": [1.0], "sanity_passed": [True]})
    board = selection.build_leaderboard(folds, sanity, config())
    chosen = selection.select_champion(board, [], config())
    assert chosen.champion == "rule"
    assert chosen.no_candidate_qualified
    assert "does not beat every baseline" in chosen.not_chosen["weak"]


def test_ensemble_cv_scores_are_the_average_of_member_out_of_fold_probabilities():
    train = pd.DataFrame({"income": [0, 1, 0, 1]})
    folds = _fold_table({"a": ("candidate", [0.3, 0.3]), "b": ("candidate", [0.4, 0.4]), "c": ("candidate", [0.9, 0.9])})
    oof = pd.DataFrame({"fold": [0, 0, 1, 1], "a": [0.2, 0.6, 0.1, 0.9], "b": [0.4, 1.0, 0.3, 0.7], "c": [0.5] * 4})
    sanity = pd.DataFrame({"model": ["a", "b", "c"], "train_accuracy": [1.0] * 3, "sanity_passed": [True] * 3})
    spec = type("Spec", (), {"target_column": "income"})()
    combined, members = selection.cross_validate_ensemble(folds, oof, sanity, train, config(ensemble={"members": 2}), spec)
    assert members == ["a", "b"]
    ensemble = combined[combined["model"] == "ensemble"].set_index("fold")
    assert ensemble.loc[0, "brier"] == pytest.approx(((0.3 - 0) ** 2 + (0.8 - 1) ** 2) / 2)
    assert ensemble.loc[1, "fit_seconds"] == 2.0


@pytest.mark.parametrize("refit_on", ["train", "train_and_validation"])
def test_the_champion_is_refitted_on_the_declared_rows_and_its_twin_never_sees_validation(refit_on):
    spec = synthetic.spec()
    train = synthetic.rows(4, 0).assign(label=[0, 0, 0, 1])        # positive rate 1/4
    validation = synthetic.rows(4, 1).assign(label=[1, 1, 1, 1])   # with train: 5/8
    modeling = config(champion={"refit_on": refit_on})
    chosen = synthetic.selection("prior")
    champion = selection.fit_champion(train, validation, chosen, {}, modeling, spec)
    twin = fit_holdout_twin(champion, train, chosen, {}, modeling, spec)
    expected = 0.25 if refit_on == "train" else 0.625
    assert champion.predict_proba(train)[0, 1] == pytest.approx(expected)
    assert twin.predict_proba(train)[0, 1] == pytest.approx(0.25)
    assert (twin is champion) == (refit_on == "train")


def test_a_search_cut_short_by_its_time_budget_is_flagged_and_a_full_one_is_not():
    spec = synthetic.spec()
    train, validation = synthetic.rows(200, 0), synthetic.rows(200, 1)
    tree = TREE | {"search_space": {"max_depth": [2, 3, 4, 5]}}
    for budget, expected_trials in ((1e-9, 1), (600, 3)):
        modeling = config(candidates={"tree": tree}, search={"trials": 3, "time_budget_seconds": budget})
        tuned = selection.tune_candidates(train, validation, modeling, spec)["tree"]
        assert len(tuned["trials"]) == expected_trials
        assert tuned["stopped_by_time_budget"] == (expected_trials < 3)


def test_the_derived_baseline_finds_the_one_feature_rule_that_carries_the_signal():
    rng = np.random.default_rng(0)
    rows = pd.DataFrame({"noise": rng.normal(size=400), "kind": rng.choice(["a", "b", "c"], 400),
                         "amount": rng.uniform(0, 100, 400)})
    y = ((rows["amount"] >= 70) ^ (rng.random(400) < 0.05)).astype(int)
    rule = OneFeatureRuleClassifier().fit(rows, y)
    assert rule.rule_.startswith("`amount` >= ")
    assert 60 <= float(rule.rule_.split(">= ")[1]) <= 80
    proba = rule.predict_proba(rows)[:, 1]
    assert set(np.round(proba, 6)) == {round(rule.rate_if_true_, 6), round(rule.rate_if_false_, 6)}
    assert rule.rate_if_true_ > 0.8 and rule.rate_if_false_ < 0.2
