"""monitoring's latest scored batches, test results and retrain recommendation -> labelled production rows of the
window (refused when the feed is broken, labels are too few or one source gives too many), split in time order ->
challenger (the champion's recipe refitted on train + the earliest of them) -> both compared on the latest -> the
release steps (`pipeline_registry` runs them under the `retraining` namespace): calibrated and thresholded on the
middle rows, judged by the gate on the latest, registered, and put in shadow when the gate passes; monitoring then
promotes or retires it on new labelled rows.

Not part of `__default__`: run it when monitoring recommends retraining (`make demo-loop` shows the whole loop).
"""

from kedro.pipeline import Node, Pipeline

from ml_lifecycle.model_recipe import fingerprint_data
from ml_lifecycle.pipelines.retraining import nodes


def create_pipeline(**kwargs) -> Pipeline:
    """Create the retraining pipeline."""
    return Pipeline(
        [
            Node(nodes.collect_labelled_recent_rows,
                 ["scored_batches", "monitoring_test_results", "retrain_recommendation", "deployed_champion", "params:problem",
                  "params:retraining"],
                 "labelled_recent_rows", name="collect_labelled_recent_rows"),
            Node(nodes.split_by_time, ["labelled_recent_rows", "params:retraining", "params:problem"],
                 ["recent_training_rows", "recent_calibration_typed", "recent_holdout_rows"], name="split_by_time"),
            Node(nodes.prepare_like_training, ["recent_calibration_typed", "deployed_champion", "params:problem"],
                 "recent_calibration_rows", name="prepare_calibration_rows"),
            Node(nodes.combine_training_rows, ["train_split", "recent_training_rows", "deployed_champion", "params:problem"],
                 "retraining_rows",
                 name="combine_training_rows"),
            Node(fingerprint_data, ["retraining_rows", "validation_split"], "retraining_fingerprint",
                 name="fingerprint_retraining_rows"),
            Node(nodes.fit_challenger,
                 ["retraining_rows", "champion_selection", "tuning_results", "params:modeling", "params:problem"],
                 "challenger_model", name="fit_challenger"),
            Node(nodes.compare_on_recent_holdout,
                 ["deployed_champion", "challenger", "recent_holdout_rows", "recent_training_rows", "labelled_recent_rows",
                  "params:problem",
                  "params:retraining"],
                 "retraining_decision", name="compare_on_recent_holdout"),
            Node(nodes.describe_challenger_release, ["recent_training_rows", "labelled_recent_rows", "deployed_champion"],
                 "challenger_release_context",
                 name="describe_challenger_release"),
            Node(nodes.build_index_section, ["retraining_decision", "challenger_promotion"], "retraining_index_section",
                 name="build_retraining_index_section"),
        ]
    )
