"""champion + labelled recent rows -> challenger (modeling's recipe refitted on train + recent rows, plus validation
when `champion.refit_on` says so; calibrated and thresholded as evaluation does)
-> both scored on the same held-out recent rows -> registered, promoted only if it wins by the declared margin.

Not part of `__default__`: run it when monitoring recommends retraining and feedback has brought labels.
"""

from kedro.pipeline import Node, Pipeline

from ml_lifecycle.pipelines.evaluation import nodes as evaluation
from ml_lifecycle.pipelines.inference.nodes import deploy_champion
from ml_lifecycle.pipelines.modeling.nodes import fit_champion, fit_holdout_twin
from ml_lifecycle.pipelines.retraining import nodes

EVALUATION = ["params:evaluation", "params:problem"]
MODELING = ["params:modeling", "params:problem"]


def create_pipeline(**kwargs) -> Pipeline:
    """Create the retraining pipeline."""
    return Pipeline(
        [
            Node(deploy_champion,
                 ["release_registration", "champion", "train_split", "validation_split", "missing_value_fills", "params:problem"],
                 "incumbent", name="deploy_incumbent"),
            Node(nodes.collect_labelled_recent_rows, ["request_log", "incumbent", "params:problem", "params:retraining"],
                 "labelled_recent_rows", name="collect_labelled_recent_rows"),
            Node(nodes.hold_out_latest_rows, ["labelled_recent_rows", "params:retraining"],
                 ["recent_training_rows", "recent_holdout_rows"], name="hold_out_latest_rows"),
            Node(nodes.combine_training_rows, ["train_split", "recent_training_rows"], "retraining_rows",
                 name="combine_training_rows"),
            Node(fit_champion, ["retraining_rows", "validation_split", "champion_selection", "tuning_results", *MODELING],
                 "challenger_model", name="fit_challenger"),
            Node(fit_holdout_twin, ["challenger_model", "retraining_rows", "champion_selection", "tuning_results", *MODELING],
                 "holdout_challenger", name="fit_challenger_holdout_twin"),
            Node(evaluation.compare_calibrations, ["holdout_challenger", "validation_split", *EVALUATION],
                 "challenger_calibration_comparison", name="compare_challenger_calibrations"),
            Node(evaluation.calibrate_champion,
                 ["challenger_model", "holdout_challenger", "validation_split", "challenger_calibration_comparison",
                  "params:problem"],
                 ["calibrated_challenger", "calibrated_holdout_challenger"], name="calibrate_challenger"),
            Node(evaluation.choose_threshold,
                 ["calibrated_holdout_challenger", "validation_split", "challenger_calibration_comparison", *EVALUATION],
                 ["challenger_threshold_curve", "challenger_threshold_choice"], name="choose_challenger_threshold"),
            Node(evaluation.build_released_model, ["calibrated_challenger", "challenger_threshold_choice", "champion_selection"],
                 "challenger", name="release_challenger"),
            Node(nodes.compare_on_recent_holdout,
                 ["incumbent", "challenger", "recent_holdout_rows", "recent_training_rows", "params:problem", "params:retraining"],
                 "retraining_decision", name="compare_on_recent_holdout"),
            Node(nodes.register_challenger, ["challenger", "retraining_decision", "incumbent", "champion_selection", "params:problem"],
                 "challenger_registration", name="register_challenger"),
            Node(nodes.build_index_section, "retraining_decision", "retraining_index_section", name="build_retraining_index_section"),
        ]
    )
