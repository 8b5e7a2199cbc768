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


def request_log(n: int, labelled: int) -> pd.DataFrame:
    """Return a request log as RequestLogDataset loads it: inputs as sent, then the answer and the label."""
    rows = model_rows(n, 3)
    return pd.DataFrame({
        "age": rows["age"], "hours_per_week": rows["hours_per_week"].where(rows.index != 1),
        "work_class": rows["work_class"].astype(object).where(rows.index != 2, None),
        "received_at": [f"2026-03-01T10:00:{i:02d}+00:00" for i in range(n)][::-1],
        "label": [LABELS[int(y)] if i < labelled else None for i, y in enumerate(rows["income"])],
    })


def config(**changes) -> nodes.RetrainingConfig:
    """Return a retraining config for small tests."""
    return nodes.RetrainingConfig.model_validate({"min_labelled_rows": 4, "min_holdout_rows": 10} | changes)


def holdout(n: int = 60) -> pd.DataFrame:
    """Return held-out recent rows: model rows with target and time."""
    return model_rows(n, 4).assign(received_at="2026-03-02T00:00:00+00:00")


def test_too_few_labelled_requests_stop_the_run_and_say_how_to_get_more():
    with pytest.raises(DataValidationError, match=r"^request log: 3 labelled row\(s\), retraining needs at least 4 "
                                                  r"\(retraining\.min_labelled_rows\); send true labels with POST /feedback first$"):
        nodes.collect_labelled_recent_rows(request_log(10, 3), tiny_deployed(), SPEC, config())


def test_labelled_requests_become_model_rows_prepared_like_training_rows():
    log = request_log(8, 6)
    recent = nodes.collect_labelled_recent_rows(log, tiny_deployed(), SPEC, config())
    assert len(recent) == 6
    assert recent["hours_per_week"].iloc[1] == 40.0 and recent["hours_per_week_missing"].tolist() == [0, 1, 0, 0, 0, 0]
    assert recent["work_class"].iloc[2] == "(missing)"
    assert recent["income"].tolist() == [int(v == ">50K") for v in log["label"].iloc[:6]]
    assert recent["received_at"].tolist() == log["received_at"].iloc[:6].tolist()


def test_the_latest_labelled_rows_are_held_out_and_the_earlier_ones_trained_on():
    recent = pd.DataFrame({"received_at": ["t3", "t1", "t5", "t2", "t4"], "x": [3, 1, 5, 2, 4]})
    training, held_out = nodes.hold_out_latest_rows(recent, config(holdout_share=0.5))
    assert training["x"].tolist() == [1, 2] and held_out["x"].tolist() == [3, 4, 5]


def test_training_rows_are_the_train_split_followed_by_the_recent_rows():
    train, recent = model_rows(5, 0), model_rows(3, 1).assign(received_at="t")
    combined = nodes.combine_training_rows(train, recent)
    assert combined.columns.tolist() == train.columns.tolist()
    assert combined["age"].tolist() == train["age"].tolist() + recent["age"].tolist()


def test_a_challenger_better_by_the_margin_wins_on_recent_rows_with_both_models_metrics():
    incumbent = tiny_deployed("sklearn.dummy.DummyClassifier")
    challenger = tiny_model()
    decision = nodes.compare_on_recent_holdout(incumbent, challenger, holdout(), holdout(4), SPEC, config())
    assert decision["wins_on_recent_rows"] is True
    assert decision["gain"] == pytest.approx(decision["champion_metrics"]["log_loss"] - decision["challenger_metrics"]["log_loss"],
                                             abs=2e-6)
    assert decision["gain"] > 0.005
    assert decision["reason"].startswith("challenger log_loss ") and ": wins (gain +" in decision["reason"]
    assert (decision["holdout_rows"], decision["recent_training_rows"], decision["champion_version"]) == (60, 4, "v1")
    assert {"log_loss", "roc_auc", "accuracy_at_threshold"} <= set(decision["challenger_metrics"])


def test_a_worse_challenger_or_one_short_of_the_margin_does_not_win():
    good, poor = tiny_deployed(), tiny_model("sklearn.dummy.DummyClassifier")
    worse = nodes.compare_on_recent_holdout(good, poor, holdout(), holdout(4), SPEC, config())
    assert worse["wins_on_recent_rows"] is False and "does not win" in worse["reason"] and worse["gain"] < 0
    short = nodes.compare_on_recent_holdout(tiny_deployed("sklearn.dummy.DummyClassifier"), tiny_model(),
                                            holdout(), holdout(4), SPEC, config(min_improvement=5.0))
    assert short["wins_on_recent_rows"] is False and short["gain"] > 0


def test_too_few_held_out_rows_never_win():
    decision = nodes.compare_on_recent_holdout(tiny_deployed("sklearn.dummy.DummyClassifier"), tiny_model(),
                                               holdout(8), holdout(4), SPEC, config())
    assert decision["wins_on_recent_rows"] is False
    assert decision["reason"].startswith("only 8 held-out row(s) or one class; at least 10")


def test_the_challenger_release_is_described_with_its_incumbent_and_recent_rows():
    context = nodes.describe_challenger_release(holdout(4), tiny_deployed())
    assert context.stage == "retrained" and context.details == {"incumbent": "v1", "recent_training_rows": 4}
    assert context.reason == "retraining: challenger of v1, refitted with 4 labelled recent rows"


def test_an_unknown_primary_metric_is_refused_naming_the_known_ones():
    with pytest.raises(ValidationError, match=r"unknown metric 'auc'; known: \["):
        nodes.RetrainingConfig(primary_metric="auc")


def test_retraining_config_rejects_a_negative_margin():
    with pytest.raises(ValidationError, match="min_improvement"):
        nodes.RetrainingConfig(min_improvement=-0.1)
    assert np.isclose(nodes.RetrainingConfig().min_improvement, 0.005)
