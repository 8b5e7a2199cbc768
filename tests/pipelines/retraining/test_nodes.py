"""Retraining nodes on the tiny problem with real fitted models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from ml_lifecycle.pipelines.retraining import nodes
from ml_lifecycle.rows import DataValidationError
from tests.pipelines.inference.tiny_deployment import (
    headerless_spec,
    model_rows,
    tiny_deployed,
    tiny_model,
)

SPEC = headerless_spec()
LABELS = {1: ">50K", 0: "<=50K"}


def scored_batches(weeks: int, rows_per_week: int, labelled_weeks: int, source: str = "simulation") -> pd.DataFrame:
    """Return monitoring's scored batches: typed rows (one gap each), weekly times, labels on the first weeks only."""
    frames = []
    for week in range(weeks):
        rows = model_rows(rows_per_week, week).drop(columns="hours_per_week_missing")
        rows["hours_per_week"] = rows["hours_per_week"].where(rows.index != 1)
        labelled = week < labelled_weeks
        rows["income"] = pd.array(rows["income"], dtype="Int8") if labelled else pd.array([pd.NA] * rows_per_week, dtype="Int8")
        frames.append(rows.assign(batch=f"week_{week + 1:02d}", source="simulated",
                                  batch_time=pd.Timestamp("2026-01-05") + pd.Timedelta(days=7 * week),
                                  label_source=source if labelled else None))
    return pd.concat(frames, ignore_index=True)


NO_TESTS = pd.DataFrame(columns=["batch", "test", "kind", "column", "value", "threshold", "passed", "severity", "description"])
RETRAIN = {"retrain": True, "action": "retrain", "reason": "drift", "notes": []}


def config(**changes) -> nodes.RetrainingConfig:
    """Return a retraining config for small tests."""
    return nodes.RetrainingConfig.model_validate({"min_labelled_rows": 4, "min_holdout_rows": 10} | changes)


def collect(batches: pd.DataFrame, tests: pd.DataFrame = NO_TESTS, recommendation: dict | None = None, **changes) -> pd.DataFrame:
    return nodes.collect_labelled_recent_rows(batches, tests, recommendation or RETRAIN, tiny_deployed(), SPEC, config(**changes))


def holdout(n: int = 60) -> pd.DataFrame:
    """Return held-out recent rows: typed rows with target and time."""
    return model_rows(n, 4).drop(columns="hours_per_week_missing").assign(predicted_at=pd.Timestamp("2026-03-02"),
                                                                           label_source="simulation", source="simulated")


def test_labelled_rows_of_the_window_are_collected_with_their_time_and_source():
    recent = collect(scored_batches(4, 5, labelled_weeks=3), window_days=7)
    assert len(recent) == 10  # weeks 2 and 3: within 7 days of the newest labelled week; week 4 is unlabelled
    assert recent["predicted_at"].drop_duplicates().tolist() == [pd.Timestamp("2026-01-12"), pd.Timestamp("2026-01-19")]
    assert recent["hours_per_week"].isna().sum() == 2  # typed like the frozen holdout: the fills come later
    assert set(recent["label_source"]) == {"simulation"} and recent["income"].dtype == "int8"


def test_too_few_labelled_rows_stop_the_run_and_say_how_to_get_more():
    with pytest.raises(DataValidationError, match=r"3 labelled row\(s\) within 90 days .* needs at least 4 "
                                                  r"\(retraining.min_labelled_rows\)"):
        collect(scored_batches(2, 3, labelled_weeks=1))


def test_a_recommendation_to_fix_the_feed_is_refused_with_its_notes():
    broken = {"retrain": False, "action": "fix the data feed", "reason": "", "notes": ["week_02 is broken: fix the feed"]}
    with pytest.raises(DataValidationError, match="says fix the data feed, not retrain: week_02 is broken"):
        collect(scored_batches(3, 5, labelled_weeks=3), recommendation=broken)


def test_batches_with_broken_data_are_left_out():
    failed = pd.DataFrame([{"batch": "week_02", "test": "missing_share", "kind": "quality", "column": "age", "value": 0.5,
                            "threshold": 0.2, "passed": False, "severity": "critical", "description": ""}])
    recent = collect(scored_batches(3, 5, labelled_weeks=3), failed)
    assert len(recent) == 10 and pd.Timestamp("2026-01-12") not in set(recent["predicted_at"])


def test_one_label_source_beyond_its_declared_share_is_refused_naming_it():
    batches = pd.concat([scored_batches(1, 8, 1, "feedback from 10.0.0.9"), scored_batches(1, 2, 1, "label file a.csv")])
    with pytest.raises(DataValidationError, match=r"'feedback from 10.0.0.9' gave 80% of the 10 labelled rows; "
                                                  r"retraining.max_source_share allows 50%"):
        collect(batches, max_source_share=0.5)
    assert len(collect(batches, max_source_share=0.8)) == 10


def test_recent_rows_split_in_time_order_into_training_calibration_and_holdout():
    recent = pd.DataFrame({"predicted_at": [3, 1, 8, 2, 4, 7, 5, 6], "x": [3, 1, 8, 2, 4, 7, 5, 6],
                           "income": [1, 0, 0, 1, 1, 1, 0, 1]})
    training, calibration, held_out = nodes.split_by_time(recent, config(calibration_share=0.25, holdout_share=0.25), SPEC)
    assert (training["x"].tolist(), calibration["x"].tolist(), held_out["x"].tolist()) == ([1, 2, 3, 4], [5, 6], [7, 8])
    with pytest.raises(ValueError, match="must leave rows to train on"):
        nodes.split_by_time(recent, config(calibration_share=0.5, holdout_share=0.5), SPEC)


def test_held_out_rows_of_one_class_stop_the_run_before_anything_is_released():
    recent = pd.DataFrame({"predicted_at": range(8), "income": [1, 0, 1, 0, 1, 0, 0, 0]})
    with pytest.raises(DataValidationError, match="the 2 held-out rows .* hold one class only"):
        nodes.split_by_time(recent, config(calibration_share=0.25, holdout_share=0.25), SPEC)


def test_training_rows_are_the_train_split_followed_by_the_recent_rows_prepared_like_it():
    train = model_rows(5, 0)
    recent = model_rows(3, 1).drop(columns="hours_per_week_missing").assign(predicted_at="t")
    recent.loc[0, "hours_per_week"] = np.nan
    combined = nodes.combine_training_rows(train, recent, tiny_deployed(), SPEC)
    assert combined.columns.tolist() == train.columns.tolist()
    assert combined["age"].tolist() == train["age"].tolist() + recent["age"].tolist()
    assert combined["hours_per_week_missing"].tolist()[5:] == [1, 0, 0] and combined["hours_per_week"].notna().all()


def test_a_challenger_better_by_the_margin_wins_on_recent_rows_with_both_models_metrics():
    incumbent = tiny_deployed("sklearn.dummy.DummyClassifier")
    challenger = tiny_model()
    decision = nodes.compare_on_recent_holdout(incumbent, challenger, holdout(), holdout(4), holdout(70), SPEC, config())
    assert decision["wins_on_recent_rows"] is True
    assert decision["gain"] == pytest.approx(decision["champion_metrics"]["log_loss"] - decision["challenger_metrics"]["log_loss"],
                                             abs=2e-6)
    assert decision["gain"] > 0.005
    assert decision["reason"].startswith("challenger log_loss ") and ": wins (gain +" in decision["reason"]
    assert (decision["holdout_rows"], decision["recent_training_rows"], decision["calibration_rows"]) == (60, 4, 6)
    assert decision["champion_version"] == "v1" and decision["label_provenance"] == {"simulated": {"simulation": 70}}
    assert {"log_loss", "roc_auc", "accuracy_at_threshold"} <= set(decision["challenger_metrics"])


def test_a_worse_challenger_or_one_short_of_the_margin_does_not_win():
    good, poor = tiny_deployed(), tiny_model("sklearn.dummy.DummyClassifier")
    worse = nodes.compare_on_recent_holdout(good, poor, holdout(), holdout(4), holdout(70), SPEC, config())
    assert worse["wins_on_recent_rows"] is False and "does not win" in worse["reason"] and worse["gain"] < 0
    short = nodes.compare_on_recent_holdout(tiny_deployed("sklearn.dummy.DummyClassifier"), tiny_model(),
                                            holdout(), holdout(4), holdout(70), SPEC, config(min_improvement=5.0))
    assert short["wins_on_recent_rows"] is False and short["gain"] > 0


def test_too_few_held_out_rows_never_win():
    decision = nodes.compare_on_recent_holdout(tiny_deployed("sklearn.dummy.DummyClassifier"), tiny_model(),
                                               holdout(8), holdout(4), holdout(20), SPEC, config())
    assert decision["wins_on_recent_rows"] is False
    assert decision["reason"].startswith("only 8 held-out row(s) or one class; at least 10")


def test_the_challenger_release_is_described_with_its_incumbent_recent_rows_and_the_newest_row_it_saw():
    context = nodes.describe_challenger_release(holdout(4), holdout(10), tiny_deployed())
    assert context.stage == "retrained" and context.details == {
        "incumbent": "v1", "recent_training_rows": 4, "judged_on": "the latest labelled production rows (held out)",
        "data_time": "2026-03-02T00:00:00"}
    assert context.reason == "retraining: challenger of v1, refitted with 4 labelled recent rows"


def test_an_unknown_primary_metric_is_refused_naming_the_known_ones():
    with pytest.raises(ValidationError, match=r"unknown metric 'auc'; known: \["):
        nodes.RetrainingConfig(primary_metric="auc")


def test_retraining_config_rejects_a_negative_margin():
    with pytest.raises(ValidationError, match="min_improvement"):
        nodes.RetrainingConfig(min_improvement=-0.1)
    assert np.isclose(nodes.RetrainingConfig().min_improvement, 0.005)
