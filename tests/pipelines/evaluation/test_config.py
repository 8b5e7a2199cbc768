"""Bad evaluation settings fail with a message naming the key: on their own, and against the problem spec."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ml_lifecycle.evaluation_config import EvaluationConfig
from ml_lifecycle.spec import ProblemSpec, ReferenceResult
from tests.conftest import env_parameters

from . import synthetic


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"threshold": {"objective": "max_accuracy"}}, r"threshold\.objective\n.*'max_fbeta', 'min_expected_cost' or 'max_expected_value'"),
        ({"threshold": {"costs": {"false_positive": -1}}}, r"threshold\.costs\.false_positive\n.*greater than or equal to 0"),
        ({"threshold": {"objective": "min_expected_cost", "costs": {"false_positive": 0, "false_negative": 0}}},
         "min_expected_cost needs a positive"),
        ({"threshold": {"beta": 0}}, r"threshold\.beta"),
        ({"calibration": {"methods": ["platt"]}}, r"calibration\.methods\.0"),
        ({"slices": {"min_size": 0}}, r"slices\.min_size"),
        ({"behaviour": {"directional": [{"feature": "signal", "change": 0, "expect": "not_lower"}]}}, "change must be non-zero"),
        ({"leak_check": {"max_single_feature_auc": 0.4}}, r"leak_check\.max_single_feature_auc"),
        ({"thresold": {}}, "thresold"),
    ],
)
def test_a_bad_setting_fails_naming_its_key(changes, message):
    with pytest.raises(ValidationError, match=message):
        synthetic.evaluation_config(**changes)


def test_a_reference_result_for_an_undeclared_tag_fails_the_cross_check():
    spec = synthetic.spec().model_copy(update={"reference_results": [ReferenceResult(
        name="clerks", kind="human_level", metric="error_rate", value=0.1, source="s", split="s", tag="night_shift")]})
    with pytest.raises(ValueError, match=r"problem.reference_results\[0\].tag: 'night_shift' is not a declared tag"):
        synthetic.evaluation_config().check_against(spec)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"slices": {"extra_columns": ["income_band"]}}, "slices.extra_columns: 'income_band' is not a feature or banded column"),
        ({"slices": {"tags": {"rich": "capital_gain > 0"}}}, "slices.tags.rich: query 'capital_gain > 0' cannot be evaluated"),
        ({"slices": {"tags": {"odd": "signal + 1"}}}, "slices.tags.odd: query 'signal \\+ 1' does not give True/False"),
        ({"slices": {"tags": {"group": "signal > 0"}}}, "slices.tags.group: a tag may not reuse a column name"),
        ({"behaviour": {"directional": [{"feature": "group", "change": 1, "expect": "not_lower"}]}},
         "behaviour.directional: 'group' is not a numeric feature"),
        ({"behaviour": {"invariance": [{"attribute": "signal", "max_changed_share": 0.1}]}},
         "behaviour.invariance: 'signal' is not a categorical feature"),
        ({"evidently_slice_columns": ["noise"]}, "evidently_slice_columns: 'noise' is not a slice column"),
        ({"threshold": {"objective": "max_expected_value"}}, "threshold.objective: max_expected_value needs problem.decision_value"),
    ],
)
def test_a_setting_naming_a_column_the_spec_lacks_fails_the_cross_check(changes, message):
    config = synthetic.evaluation_config(**changes)
    with pytest.raises(ValueError, match=message) as error:
        config.check_against(synthetic.spec())
    assert str(error.value).startswith("params:evaluation does not fit params:problem")


def test_the_shipped_adult_settings_fit_the_shipped_problem():
    parameters = env_parameters("adult")
    EvaluationConfig.model_validate(parameters["evaluation"]).check_against(ProblemSpec.model_validate(parameters["problem"]))
