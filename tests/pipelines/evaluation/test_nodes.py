"""Unit tests of the evaluation functions on small hand-checkable data (exact values where the data allow)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold

from ml_lifecycle import model_checks as checks
from ml_lifecycle.bundle import InputLimits, ModelBundle, build_recipe
from ml_lifecycle.estimators import CalibratedModel, SoftVotingEnsemble, build_model
from ml_lifecycle.evaluation_config import ThresholdConfig
from ml_lifecycle.metrics import threshold_metrics
from ml_lifecycle.pipelines.evaluation import nodes
from ml_lifecycle.pipelines.release import calibration as calibration_steps
from ml_lifecycle.pipelines.release import checks as checks_steps
from ml_lifecycle.registry import LoadedBundle
from ml_lifecycle.spec import DecisionValue, ProblemSpec, ReferenceResult

from . import synthetic

LOGISTIC = "sklearn.linear_model.LogisticRegression"


def fitted(spec: ProblemSpec, train: pd.DataFrame, estimator: str = LOGISTIC, params: dict | None = None,
           encoding: str = "onehot_scaled"):
    """Return a real project model (preprocessing + estimator) fitted on `train`."""
    return build_model(estimator, params or {}, encoding, spec).fit(train, train[spec.target_column])


# ---------- threshold ----------

Y = np.array([0, 0, 1, 1])
P = np.array([0.1, 0.4, 0.35, 0.8])


def test_threshold_curve_gives_precision_recall_fbeta_and_cost_at_each_candidate():
    # candidates 0.25, 0.5, 0.75. At 0.25 decisions [0, 1, 1, 1]: tp 2, fp 1 -> precision 2/3, recall 1, F1 0.8.
    # At 0.5 and 0.75 decisions [0, 0, 0, 1]: tp 1, fn 1 -> precision 1, recall 1/2, F1 2/3.
    settings = ThresholdConfig(candidates=3, costs={"false_positive": 5, "false_negative": 1})
    curve = checks.threshold_curve(Y, P, settings)
    assert curve["threshold"].tolist() == [0.25, 0.5, 0.75]
    np.testing.assert_allclose(curve["precision"], [2 / 3, 1, 1])
    np.testing.assert_allclose(curve["recall"], [1, 0.5, 0.5])
    np.testing.assert_allclose(curve["fbeta"], [0.8, 2 / 3, 2 / 3])
    np.testing.assert_allclose(curve["positive_rate"], [0.75, 0.25, 0.25])
    np.testing.assert_allclose(curve["expected_cost"], [5 / 4, 1 / 4, 1 / 4])


def test_max_fbeta_picks_the_best_f_score_and_min_expected_cost_the_cheapest_lowest_threshold():
    fbeta = ThresholdConfig(candidates=3)
    assert checks.best_threshold(checks.threshold_curve(Y, P, fbeta), fbeta) == 0.25
    cost = ThresholdConfig(candidates=3, objective="min_expected_cost", costs={"false_positive": 5, "false_negative": 1})
    assert checks.best_threshold(checks.threshold_curve(Y, P, cost), cost) == 0.5  # tie with 0.75: the lower one


def test_max_expected_value_picks_the_threshold_worth_the_most_money():
    # At 0.25: tp 2, fp 1, fn 0, tn 1; at 0.5 and 0.75: tp 1, fp 0, fn 1, tn 2 (the curve test above).
    cheap_false_alarms = DecisionValue(currency="EUR", true_positive_value=100, false_positive_cost=30, false_negative_cost=10)
    settings = ThresholdConfig(candidates=3, objective="max_expected_value")
    curve = checks.threshold_curve(Y, P, settings, cheap_false_alarms)
    np.testing.assert_allclose(curve["value_per_1000"], [1000 * (200 - 30) / 4, 1000 * (100 - 10) / 4, 1000 * (100 - 10) / 4])
    assert checks.best_threshold(curve, settings) == 0.25
    costly_false_alarms = cheap_false_alarms.model_copy(update={"false_positive_cost": 300})
    assert checks.best_threshold(checks.threshold_curve(Y, P, settings, costly_false_alarms), settings) == 0.5


def test_a_large_beta_favours_recall_and_lowers_the_threshold():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2000)
    proba = np.clip(0.3 * y + 0.7 * rng.random(2000), 0, 1)
    low, high = ThresholdConfig(beta=0.5), ThresholdConfig(beta=4)
    assert checks.best_threshold(checks.threshold_curve(y, proba, high), high) < checks.best_threshold(
        checks.threshold_curve(y, proba, low), low)


# ---------- calibration ----------


def overconfident_rows(seed: int) -> pd.DataFrame:
    """Synthetic rows plus six near-copies of `signal`."""
    base = synthetic.rows(1500, seed)
    rng = np.random.default_rng(seed + 100)
    return base.assign(**{c: base["signal"] + rng.normal(scale=0.05, size=len(base)) for c in COPIES})


COPIES = [f"copy_{i}" for i in range(6)]
# Gaussian naive Bayes on six near-copies of one feature counts the same evidence six times: overconfident.
COPIES_SPEC = ProblemSpec.model_validate(synthetic.PROBLEM | {"numeric_features": COPIES})


def test_cross_fitted_calibration_fixes_an_overconfident_model_and_reports_the_raw_scores_exactly():
    train, validation, test = (overconfident_rows(seed) for seed in (1, 2, 3))
    model = fitted(COPIES_SPEC, train, "sklearn.naive_bayes.GaussianNB")
    table = calibration_steps.compare_calibrations(model, validation, synthetic.evaluation_config(), COPIES_SPEC).set_index("method")
    raw = model.predict_proba(validation)[:, 1]
    assert table.loc["none", "log_loss"] == pytest.approx(log_loss(validation["label"], np.clip(raw, 1e-15, 1 - 1e-15)))
    chosen = checks.chosen_calibration(table.reset_index())
    assert chosen in ("isotonic", "sigmoid")
    assert table.loc[chosen, "log_loss"] < table.loc["none", "log_loss"]
    calibrated, calibrated_twin = calibration_steps.calibrate_model(model, model, validation, table.reset_index(), COPIES_SPEC)
    assert isinstance(calibrated, CalibratedModel) and calibrated.method == chosen
    assert log_loss(test["label"], calibrated.predict_proba(test)[:, 1]) < log_loss(test["label"], model.predict_proba(test)[:, 1])
    assert np.array_equal(calibrated_twin.predict_proba(test), calibrated.predict_proba(test))


def test_a_champion_refitted_on_validation_is_calibrated_by_what_its_train_only_twin_scores_on_validation():
    train, validation, test = (overconfident_rows(seed) for seed in (1, 2, 3))
    twin = fitted(COPIES_SPEC, train, "sklearn.naive_bayes.GaussianNB")
    both = pd.concat([train, validation])
    champion = fitted(COPIES_SPEC, both, "sklearn.naive_bayes.GaussianNB")
    table = calibration_steps.compare_calibrations(twin, validation, synthetic.evaluation_config(), COPIES_SPEC)
    method = checks.chosen_calibration(table)
    calibrated, calibrated_twin = calibration_steps.calibrate_model(champion, twin, validation, table, COPIES_SPEC)
    # the calibrator is the one scikit-learn fits on the twin's validation scores, applied to the champion's scores,
    # kept 1 / (n + 2) away from 0 and 1 (n validation rows)
    bound = 1 / (len(validation) + 2)
    reference = CalibratedClassifierCV(FrozenEstimator(twin), method=method).fit(validation, validation["label"])
    assert np.allclose(calibrated_twin.predict_proba(test), np.clip(reference.predict_proba(test), bound, 1 - bound))
    expected = reference.calibrated_classifiers_[0].calibrators[0].predict(champion.predict_proba(test)[:, 1])
    assert np.allclose(calibrated.predict_proba(test)[:, 1], np.clip(expected, bound, 1 - bound))
    assert calibrated.predict_proba(test)[:, 1].min() == pytest.approx(bound)  # isotonic alone says exactly 0 here
    assert log_loss(test["label"], calibrated.predict_proba(test)[:, 1]) < log_loss(test["label"], champion.predict_proba(test)[:, 1])


def test_cross_fitted_scores_are_those_of_the_calibrator_the_released_model_uses():
    spec = synthetic.spec()
    model = fitted(spec, synthetic.rows(600, 1))  # a logistic regression: calibrated on its decision function
    validation = synthetic.rows(600, 2)
    config = synthetic.evaluation_config(calibration={"methods": ["sigmoid"], "folds": 3})
    table = calibration_steps.compare_calibrations(model, validation, config, spec).set_index("method")
    held_out = np.empty(len(validation))
    folds = StratifiedKFold(3, shuffle=True, random_state=spec.seed)
    for fit_rows, held_rows in folds.split(validation, validation["label"]):
        calibrator = CalibratedClassifierCV(FrozenEstimator(model), method="sigmoid")
        calibrator.fit(validation.iloc[fit_rows], validation["label"].iloc[fit_rows])
        held_out[held_rows] = calibrator.predict_proba(validation.iloc[held_rows])[:, 1]
    bound = 1 / (len(validation) + 2)  # as the released calibrator, learned on all of them, is bounded
    assert table.loc["sigmoid", "log_loss"] == pytest.approx(log_loss(validation["label"], np.clip(held_out, bound, 1 - bound)),
                                                             rel=1e-9)


def test_calibration_is_kept_only_when_it_beats_none_by_the_declared_margin():
    train, validation = overconfident_rows(1), overconfident_rows(2)
    model = fitted(COPIES_SPEC, train, "sklearn.naive_bayes.GaussianNB")
    config = synthetic.evaluation_config(calibration={"min_improvement": 10.0})
    table = calibration_steps.compare_calibrations(model, validation, config, COPIES_SPEC)
    assert checks.chosen_calibration(table) == "none"
    assert calibration_steps.calibrate_model(model, model, validation, table, COPIES_SPEC) == (model, model)


# ---------- confidence and reliability ----------


def predictions(y: list[int], proba: list[float], threshold: float) -> pd.DataFrame:
    p = np.array(proba)
    return pd.DataFrame({"label": y, checks.probability_column(nodes.RELEASED): p, nodes.DECISION: (p >= threshold).astype(int)})


def test_confidence_reports_the_share_and_error_rate_inside_the_abstain_band():
    # threshold 0.5, margin 0.1: 0.45 and 0.55 are low-confidence; 0.45 (true 1) is wrong, 0.55 (true 1) right
    frame = predictions([0, 1, 1, 1], [0.05, 0.45, 0.55, 0.95], 0.5)
    config = synthetic.evaluation_config(confidence={"bins": 2, "abstain_margin": 0.1})
    bins, summary = nodes.analyse_confidence(frame, synthetic.threshold_choice(0.5), config, synthetic.spec())
    assert summary == {"abstain_band": [0.4, 0.6], "low_confidence_share": 0.5, "low_confidence_error_rate": 0.5,
                       "confident_error_rate": 0.0, "overall_error_rate": 0.25}
    assert bins["bin"].tolist() == ["0.00-0.50", "0.50-1.00"]
    assert bins["rows"].tolist() == [2, 2] and bins["accuracy"].tolist() == [0.5, 1.0]


def test_reliability_table_gives_mean_probability_observed_rate_and_rows_of_non_empty_bins():
    frame = predictions([0, 1, 1, 0, 1], [0.05, 0.15, 0.95, 0.92, 0.98], 0.5)
    table = nodes.reliability_table(frame, synthetic.evaluation_config(), synthetic.spec())
    assert table["rows"].tolist() == [1, 1, 3]
    np.testing.assert_allclose(table["observed_rate"], [0, 1, 2 / 3])
    np.testing.assert_allclose(table["mean_probability"], [0.05, 0.15, 0.95])


# ---------- slices and fairness ----------

GROUPS = pd.DataFrame({"group": ["a", "a", "a", "a", "b", "b", "b", "c"]})
SLICE_Y = np.array([1, 1, 0, 0, 1, 0, 0, 1])
SLICE_DECISION = np.array([1, 0, 1, 0, 0, 1, 1, 0])
SLICE_PROBA = np.array([0.9, 0.4, 0.6, 0.2, 0.3, 0.7, 0.8, 0.1])


def test_slice_table_gives_the_error_analysis_and_metrics_of_each_slice_ranked_by_priority():
    # errors: a 2 of 4, b 3 of 3, c 1 of 1 -> 6 of 8 overall (0.75)
    table = checks.slice_table(SLICE_Y, SLICE_PROBA, SLICE_DECISION, GROUPS, min_size=2).set_index("slice_value")
    assert table.index.tolist() == ["b", "a", "c"]  # b has room to improve; a is better than overall; c too small
    assert table["rank"].tolist()[:2] == [1, 2] and pd.isna(table.loc["c", "rank"])
    assert table.loc["c", "too_small"] and not table.loc["a", "too_small"]
    np.testing.assert_allclose(table["error_rate"], [1, 0.5, 1])
    np.testing.assert_allclose(table["share_of_errors"], [0.5, 2 / 6, 1 / 6])
    np.testing.assert_allclose(table["share_of_data"], [3 / 8, 4 / 8, 1 / 8])
    np.testing.assert_allclose(table["gap_to_overall"], [0.25, -0.25, 0.25])
    np.testing.assert_allclose(table["priority"], [0.25 * 3 / 8, 0, 0.25 / 8])
    assert table.loc["a", ["precision", "recall", "roc_auc", "selection_rate", "false_positive_rate"]].tolist() == [
        0.5, 0.5, 0.75, 0.5, 0.5]
    assert table.loc["b", ["precision", "recall", "roc_auc", "false_positive_rate"]].tolist() == [0, 0, 0, 1]
    assert pd.isna(table.loc["c", "precision"]) and pd.isna(table.loc["c", "roc_auc"])  # undefined, not 0


def test_a_tags_room_for_improvement_is_measured_against_its_declared_human_level_error_rate():
    # tag 'hard' (yes: rows 4-7): errors 4 of 4 (1.0); overall 6 of 8 (0.75); humans err on 0.5 of such rows
    groups = GROUPS.assign(hard=["no", "no", "no", "no", "yes", "yes", "yes", "yes"])
    table = checks.slice_table(SLICE_Y, SLICE_PROBA, SLICE_DECISION, groups, min_size=2, human_error_rates={"hard": 0.5})
    hard = table.set_index(["slice_column", "slice_value"]).loc[("hard", "yes")]
    assert hard["gap_to_overall"] == pytest.approx(0.25) and hard["room_for_improvement"] == pytest.approx(0.5)
    assert hard["measured_against"] == "human-level error rate 0.5" and hard["priority"] == pytest.approx(0.5 * 0.5)
    others = table[table["slice_column"] != "hard"]
    assert (others["measured_against"] == "overall error rate").all()
    np.testing.assert_allclose(others["room_for_improvement"], others["gap_to_overall"])


def test_declared_references_stand_beside_the_released_models_figure_marked_as_declared():
    spec = synthetic.spec().model_copy(update={"reference_results": [
        ReferenceResult(name="old system", kind="older_system", metric="roc_auc", value=0.8, source="2024 audit", split="2024 rows"),
        ReferenceResult(name="clerks", kind="human_level", metric="error_rate", value=0.1, source="study", split="a sample"),
        ReferenceResult(name="clerks on strong signal", kind="human_level", metric="accuracy", value=0.95, source="study",
                        split="a sample", tag="strong_signal")]})
    test_metrics = pd.DataFrame([{"model": "released", "roc_auc": 0.9, "accuracy": 0.85},
                                 {"model": "majority_class", "roc_auc": 0.5, "accuracy": 0.7}])
    table = nodes.compare_with_references(test_metrics, spec).set_index("reference")
    assert table["declared"].tolist() == [0.8, 0.1, 0.95] and (table["status"] == "declared, not measured").all()
    assert table.loc["old system", "released_model_here"] == 0.9
    assert table.loc["clerks", "released_model_here"] == pytest.approx(0.15)  # error rate = 1 - accuracy
    assert pd.isna(table.loc["clerks on strong signal", "released_model_here"])  # per tag: see the slice table
    with pytest.raises(ValueError, match="a per-tag reference compares error rates"):
        ReferenceResult(name="x", kind="human_level", metric="roc_auc", value=0.9, source="s", split="s", tag="strong_signal")
    with pytest.raises(ValueError, match="metric 'auc' is not one of"):
        ReferenceResult(name="x", kind="literature", metric="auc", value=0.9, source="s", split="s")


def test_fairness_gaps_compare_groups_large_enough_to_judge():
    table = checks.slice_table(SLICE_Y, SLICE_PROBA, SLICE_DECISION, GROUPS, min_size=2)
    gaps = checks_steps.fairness_gaps(table, synthetic.evaluation_config(), synthetic.spec()).iloc[0]
    # a: selection 1/2, TPR 1/2, FPR 1/2, base rate 1/2; b: selection 2/3, TPR 0, FPR 1, base rate 1/3; c left out
    assert gaps["slice_column"] == "group" and gaps["groups_compared"] == 2 and gaps["groups_too_small"] == 1
    assert gaps["demographic_parity_difference"] == pytest.approx(1 / 6)
    assert gaps["true_positive_rate_difference"] == pytest.approx(0.5)
    assert gaps["false_positive_rate_difference"] == pytest.approx(0.5)
    assert gaps["base_rate_difference"] == pytest.approx(1 / 6)
    assert gaps["largest_gap"] == pytest.approx(0.5) and gaps["exceeds_limit"]


def test_tags_mark_the_rows_their_query_selects():
    frame = pd.DataFrame({"signal": [0.5, 1.5, 2.0]})
    assert checks.tag_columns(frame, synthetic.evaluation_config())["strong_signal"].tolist() == ["no", "yes", "yes"]


def test_slice_values_become_safe_file_names():
    assert [nodes.slug(v) for v in ["<25", "65+", "Married-civ-spouse", "(missing)", "a b/c"]] == [
        "lt25", "65plus", "Married-civ-spouse", "missing", "a_b_c"]


# ---------- importance and leak check ----------


def test_single_feature_auc_scores_categories_by_their_rate_in_the_fitting_rows():
    spec = synthetic.spec()
    fit = pd.DataFrame({"signal": 0.0, "noise": 0.0, "group": ["a", "a", "a", "b", "b", "b"], "label": [1, 1, 0, 0, 0, 1]})
    test = pd.DataFrame({"signal": [0.1, 0.9, 0.2, 0.8], "noise": [1, 1, 2, 2], "group": ["a", "b", "b", "c"],
                         "label": [0, 1, 0, 1]})
    auc = checks.single_feature_auc(fit, test, spec)
    # group -> rates a 2/3, b 1/3, c unseen -> 1/2 (the fitting rows' rate): AUC 0.375, reported as 0.625
    assert auc.to_dict() == {"signal": 1.0, "noise": 0.5, "group": pytest.approx(0.625)}


def leak_table(spec: ProblemSpec, train: pd.DataFrame, validation: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    """Return the leak check of a logistic regression fitted on train, judged on test."""
    config = synthetic.evaluation_config()
    model = fitted(spec, train)
    predictions = pd.DataFrame({checks.probability_column(nodes.RELEASED): model.predict_proba(test)[:, 1]})
    importance = checks_steps.compute_importance(model, test, config, spec)
    return checks_steps.check_for_leaks(importance, train, validation, test, predictions, config, spec).set_index("feature")


def test_a_planted_copy_of_the_target_is_flagged_as_a_leak():
    spec = synthetic.spec(leak=True)
    leaks = leak_table(spec, *(synthetic.rows(600, seed, leak=True) for seed in (1, 2, 3)))
    assert leaks["possible_leak"].to_dict() == {"label_copy": True, "signal": False, "noise": False, "group": False}
    assert leaks.loc["label_copy", "single_feature_auc"] == 1.0
    assert "alone reaches ROC AUC 1.000 > 0.95" in leaks.loc["label_copy", "reason"]


def test_a_feature_that_alone_does_what_the_whole_model_does_is_flagged():
    spec = synthetic.spec(leak=True)
    splits = []
    for seed in (1, 2, 3):
        frame = synthetic.rows(600, seed, leak=True)
        # The label is this column plus noise: no other column adds anything, so the model is that column.
        rng = np.random.default_rng(seed + 100)
        frame["label_copy"] = rng.normal(size=len(frame))
        frame["label"] = (frame["label_copy"] + rng.normal(scale=0.6, size=len(frame)) > 0).astype("int8")
        splits.append(frame)
    leaks = leak_table(spec, *splits)
    assert leaks["possible_leak"].to_dict() == {"label_copy": True, "signal": False, "noise": False, "group": False}
    assert 0.9 < leaks.loc["label_copy", "single_feature_auc"] < 0.95
    assert "of the whole model's" in leaks.loc["label_copy", "reason"]


def test_an_honest_strong_predictor_that_dominates_the_model_is_not_a_leak():
    spec = synthetic.spec()
    leaks = leak_table(spec, *(synthetic.rows(600, seed) for seed in (1, 2, 3)))
    assert leaks.loc["signal", "permutation_share"] > 0.9
    assert not leaks["possible_leak"].any()


def test_native_importances_come_from_catboost_and_tree_members_of_an_ensemble():
    spec = synthetic.spec()
    train = synthetic.rows(300, 1)
    catboost = build_model("catboost.CatBoostClassifier", {"iterations": 30, "verbose": 0, "allow_writing_files": False,
                                                           "random_seed": 0}, "native", spec)
    tree = build_model("sklearn.tree.DecisionTreeClassifier", {"max_depth": 3, "random_state": 0}, "ordinal", spec)
    ensemble = SoftVotingEnsemble([("catboost", catboost), ("tree", tree)]).fit(train, train["label"])
    native = checks.native_importances(ensemble)
    assert set(native["member"]) == {"catboost", "tree"}
    for _, member in native.groupby("member"):
        assert sorted(member["feature"]) == sorted(spec.model_columns())
    by_feature = native[native["member"] == "catboost"].set_index("feature")["importance"]
    assert by_feature.sum() == pytest.approx(100) and by_feature.idxmax() == "signal"
    assert checks.native_importances(fitted(spec, train)).empty  # a linear model has no importances of its own


# ---------- confidence intervals of the test metrics ----------


def test_test_metrics_carry_bootstrap_intervals_that_hold_the_value_and_narrow_with_more_rows():
    spec, config = synthetic.spec(), synthetic.evaluation_config(intervals={"resamples": 200})
    model = released(spec, synthetic.rows(800, 1))

    def intervals(rows: int) -> pd.DataFrame:
        test = synthetic.rows(rows, 2)
        predictions = pd.DataFrame({"label": test["label"],
                                    checks.probability_column(checks.RELEASED): model.predict_proba(test)[:, 1]})
        return nodes.interval_test_metrics(predictions, model, config, spec).set_index("metric")

    small, large = intervals(200), intervals(3000)
    assert ((small["low"] <= small["value"]) & (small["value"] <= small["high"])).all()
    assert ((large["high"] - large["low"]) < (small["high"] - small["low"])).all()
    assert intervals(200).equals(small)  # one seed, the same intervals
    test = synthetic.rows(200, 2)
    at_threshold = threshold_metrics(test["label"], model.predict_proba(test)[:, 1], 0.5, config.threshold.beta)
    for name in ["accuracy", "precision", "recall", "f1", "fbeta"]:
        assert small.loc[name, "value"] == pytest.approx(at_threshold[name]), name
    assert small.loc["roc_auc", "value"] == pytest.approx(roc_auc_score(test["label"], model.predict_proba(test)[:, 1]))


# ---------- behavioural tests ----------


def released(spec: ProblemSpec, train: pd.DataFrame) -> nodes.ScoringModel:
    return nodes.ScoringModel(fitted(spec, train), threshold=0.5)


def test_directional_expectations_pass_when_the_model_follows_them_and_fail_when_not():
    spec, train = synthetic.spec(), synthetic.rows(800, 1)
    config = synthetic.evaluation_config(behaviour=synthetic.EVALUATION["behaviour"] | {"directional": [
        {"feature": "signal", "change": 1.0, "expect": "not_lower"},
        {"feature": "signal", "change": 1.0, "expect": "not_higher"}]})
    checks = checks_steps.run_behavioural_tests(released(spec, train), synthetic.rows(400, 2), None, config, spec)
    directional = checks[checks["kind"] == "directional"]
    assert directional["passed"].tolist() == [True, False]
    assert directional["value"].iloc[0] > 0.05  # the mean probability rises


def test_invariance_fails_when_the_protected_attribute_drives_the_decision():
    spec = synthetic.spec()
    fair_train = synthetic.rows(800, 1)
    biased_train = fair_train.assign(label=(fair_train["group"] == "a").astype("int8"))
    test = synthetic.rows(400, 2)
    config = synthetic.evaluation_config()
    fair = checks_steps.run_behavioural_tests(released(spec, fair_train), test, None, config, spec).set_index("kind")
    biased = checks_steps.run_behavioural_tests(released(spec, biased_train), test, None, config, spec).set_index("kind")
    assert fair.loc["invariance", "passed"] and fair.loc["invariance", "value"] <= 0.05
    assert not biased.loc["invariance", "passed"] and biased.loc["invariance", "value"] > 0.9


def serving(spec: ProblemSpec, train: pd.DataFrame) -> LoadedBundle:
    """Return a model fitted on `train` as the registry would hand it over as the incumbent."""
    bundle = ModelBundle(recipe=build_recipe(train, {}, spec, InputLimits()), model=released(spec, train))
    return LoadedBundle(version="v1", bundle=bundle, manifest=None, promotion=None)


def test_an_invariance_limit_is_the_incumbents_share_when_it_already_serves_more_than_the_declared_one():
    spec, config, test = synthetic.spec(), synthetic.evaluation_config(), synthetic.rows(400, 2)
    fair_train = synthetic.rows(800, 1)
    biased_train = fair_train.assign(label=(fair_train["group"] == "a").astype("int8"))
    inherited = checks_steps.run_behavioural_tests(released(spec, biased_train), test, serving(spec, biased_train), config,
                                                   spec).set_index("kind")
    worse = checks_steps.run_behavioural_tests(released(spec, biased_train), test, serving(spec, fair_train), config,
                                               spec).set_index("kind")
    assert inherited.loc["invariance", "passed"] and inherited.loc["invariance", "limit"] > 0.9
    assert "incumbent v1" in inherited.loc["invariance", "detail"]
    assert not worse.loc["invariance", "passed"] and worse.loc["invariance", "limit"] == 0.05
