"""Batch inference nodes on a tiny hand-made problem with a real fitted model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml_lifecycle import batch_scoring as nodes
from ml_lifecycle.bundle import Bounds
from ml_lifecycle.deployment import DeployedModel
from ml_lifecycle.rows import DataValidationError
from ml_lifecycle.spec import ProblemSpec
from tests.conftest import csv_bytes

from .tiny_deployment import ABSTAIN_BAND, FILLS, LIMITS, tiny_deployed, tiny_model

CONFIG = nodes.InferenceConfig(input_path="in/new.csv", output_path="out/scored.csv", rejects_path="out/scored.csv.rejects.csv")


def raw(*records: list[str]) -> bytes:
    """Return a header-less raw file's bytes, as the catalog loads it."""
    return csv_bytes(pd.DataFrame([list(r) for r in records], dtype="str"))


def test_deploying_takes_the_fills_categories_and_limits_of_the_bundle(deployed: DeployedModel):
    assert deployed.version == "v1" and deployed.threshold == 0.5
    assert deployed.fills == FILLS
    # the declared limits, with magnitude limits derived from the training rows (ages 18-69, hours 20-59: 10x, up to a power of ten)
    assert deployed.limits == LIMITS.model_copy(update={"magnitude_limits": {"age": 1000.0, "hours_per_week": 1000.0}})
    assert deployed.limits.accepted_bounds() == {"age": Bounds(min=0, max=120), "hours_per_week": Bounds(min=-1000, max=1000)}
    assert deployed.categories == {"work_class": frozenset({"Private", "State-gov"})}
    assert deployed.promotion.event == "promoted" and deployed.manifest.problem == "tiny"


def test_usable_rows_are_scored_at_the_stored_threshold_and_bad_rows_rejected_with_reasons(deployed: DeployedModel,
                                                                                           spec: ProblemSpec):
    batch = raw(["25", "40", "Private"], ["forty", "40", "Private"], ["61", "?", "State-gov"], ["-2", "x", "Private"],
                ["50", "45", "Gig-economy"], ["33", "40", "A-very-long-employer"], ["44", "38", "?"])
    predictions, rejects, summary = nodes.score_new_rows(batch, deployed, spec, CONFIG)
    assert predictions["input_row"].tolist() == [0, 2, 4, 6]
    assert rejects["input_row"].tolist() == [1, 3, 5]
    assert rejects["reasons"].tolist() == [
        "age: 'forty' is not a number",
        "hours_per_week: 'x' is not a number; age: -2.0 is below the minimum 0",
        "work_class: text longer than 12 characters",
    ]
    assert rejects.columns.tolist() == ["input_row", "source_line", "age", "hours_per_week", "work_class", "reasons"]
    assert rejects["source_line"].tolist() == [2, 4, 6]
    assert (predictions["decision"] == (predictions["probability"] >= 0.5)).all()
    assert predictions["predicted_label"].tolist() == [">50K" if d else "<=50K" for d in predictions["decision"]]
    assert predictions["unseen_categories"].tolist() == ["", "", "work_class=Gig-economy", ""]
    assert set(predictions["model_version"]) == {"v1"}
    assert summary | {"seconds": 0, "rows_per_second": 0, "scored_at": ""} == {
        "input": "in/new.csv", "output": "out/scored.csv", "rejects": "out/scored.csv.rejects.csv",
        "rows": 7, "scored": 4, "rejected": 3, "rows_with_unseen_categories": 1,
        "positive_share": round(float(predictions["decision"].mean()), 4),
        "low_confidence_share": round(float(predictions["low_confidence"].mean()), 4), "model_version": "v1", "threshold": 0.5,
        "scored_at": "", "seconds": 0, "rows_per_second": 0,
    }


def test_each_prediction_says_whether_it_falls_inside_the_abstain_band(deployed: DeployedModel, spec: ProblemSpec):
    batch = raw(*[[str(age), "40", "Private"] for age in range(18, 80)])
    predictions, _, summary = nodes.score_new_rows(batch, deployed, spec, CONFIG)
    inside = predictions["probability"].between(*ABSTAIN_BAND, inclusive="neither")
    assert predictions["low_confidence"].tolist() == inside.tolist() and 0 < inside.sum() < len(inside)
    assert summary["low_confidence_share"] == round(inside.mean(), 4)


def test_missing_values_are_filled_as_in_training(deployed: DeployedModel, spec: ProblemSpec):
    predictions, _, _ = nodes.score_new_rows(raw(["61", "?", "State-gov"]), deployed, spec, CONFIG)
    filled = deployed.probabilities(pd.DataFrame({"age": [61.0], "hours_per_week": [40.0],
                                                  "work_class": pd.array(["State-gov"], dtype="str"),
                                                  "hours_per_week_missing": np.array([1], dtype="int8")}))
    assert predictions["probability"].iloc[0] == filled[0]


def test_the_label_column_may_be_present_or_absent(deployed: DeployedModel, spec: ProblemSpec):
    without_label, _, _ = nodes.score_new_rows(raw(["25", "40", "Private"]), deployed, spec, CONFIG)
    with_label, _, _ = nodes.score_new_rows(raw(["25", "40", "Private", ">50K"]), deployed, spec, CONFIG)
    assert without_label["probability"].tolist() == with_label["probability"].tolist()


def test_a_file_with_the_wrong_number_of_columns_names_the_file_and_both_accepted_counts(deployed: DeployedModel,
                                                                                        spec: ProblemSpec):
    with pytest.raises(DataValidationError, match=r"^in/new\.csv: expected 4 columns \(problem\.raw\.column_names\), "
                                                  r"or 3 without the label column, found 2$"):
        nodes.score_new_rows(raw(["25", "40"]), deployed, spec, CONFIG)


def test_a_file_with_a_header_but_without_a_feature_column_names_the_file_and_the_column(deployed: DeployedModel,
                                                                                        spec: ProblemSpec):
    headed = spec.model_copy(update={"raw": spec.raw.model_copy(update={"column_names": None})})
    batch = pd.DataFrame({"age": ["25"], "work_class": ["Private"]}, dtype="str")
    with pytest.raises(DataValidationError, match=r"^in/new\.csv: required column\(s\) \['hours_per_week'\] missing"):
        nodes.score_new_rows(csv_bytes(batch), deployed, headed, CONFIG)


def test_a_batch_where_every_row_is_rejected_fails_unless_declared_acceptable(deployed: DeployedModel, spec: ProblemSpec):
    with pytest.raises(DataValidationError, match=r"in/new\.csv: 1 of 1 rows rejected \(100%; inference.max_reject_share allows "
                                                  r"50%\), e\.g\. age: 'x' is not a number \(1 rows\)"):
        nodes.score_new_rows(raw(["x", "40", "Private"]), deployed, spec, CONFIG)
    accepting = CONFIG.model_copy(update={"max_reject_share": 1.0})
    predictions, rejects, summary = nodes.score_new_rows(raw(["x", "40", "Private"]), deployed, spec, accepting)
    assert predictions.empty and "probability" in predictions.columns
    assert len(rejects) == 1 and summary["positive_share"] is None


@pytest.mark.parametrize(("estimator", "encoding", "scores_arrays"), [
    ("catboost.CatBoostClassifier", "native", True),
    ("sklearn.linear_model.LogisticRegression", "onehot_scaled", False),
])
def test_the_service_scores_records_as_the_frame_path_does_with_arrays_only_where_identical(
        estimator, encoding, scores_arrays, spec):
    params = {"iterations": 30, "verbose": 0, "allow_writing_files": False} if encoding == "native" else {}
    deployed = tiny_deployed(model=tiny_model(estimator, params, encoding))
    assert deployed.scores_arrays is scores_arrays
    records = [{"age": 30 + i, "hours_per_week": None if i % 3 == 0 else 40.0 + i, "work_class": ["Private", "State-gov", "Never-seen"][i % 3]}
               for i in range(100)]  # over CatBoostInput's 64 rows too: the frame path then passes categories
    frame, _ = deployed.model_rows_from_records(records, spec)
    for batch in (records[:1], records):
        probabilities, unseen = deployed.score_records(batch, spec)
        np.testing.assert_array_equal(probabilities, deployed.probabilities(frame.iloc[: len(batch)]))
    assert unseen[2] == {"work_class": "Never-seen"}
