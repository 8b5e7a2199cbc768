"""deployed champion + labelled recent rows -> challenger (the champion's recipe refitted on train + earlier recent
rows, plus validation when `champion.refit_on` says so) -> both compared on the latest recent rows -> the release
steps (`pipeline_registry` runs them under the `retraining` namespace): calibrated, thresholded, judged by the gate
on the frozen holdout, registered, promoted only when the gate passes.

Not part of `__default__`: run it when monitoring recommends retraining and feedback has brought labels.
"""

from kedro.pipeline import Node, Pipeline

from ml_lifecycle.model_recipe import fingerprint_data
from ml_lifecycle.pipelines.retraining import nodes


def create_pipeline(**kwargs) -> Pipeline:
    """Create the retraining pipeline."""
    return Pipeline(
        [
            Node(nodes.collect_labelled_recent_rows, ["request_log", "deployed_champion", "params:problem", "params:retraining"],
                 "labelled_recent_rows", name="collect_labelled_recent_rows"),
            Node(nodes.hold_out_latest_rows, ["labelled_recent_rows", "params:retraining"],
                 ["recent_training_rows", "recent_holdout_rows"], name="hold_out_latest_rows"),
            Node(nodes.combine_training_rows, ["train_split", "recent_training_rows"], "retraining_rows",
                 name="combine_training_rows"),
            Node(fingerprint_data, ["retraining_rows", "validation_split"], "retraining_fingerprint",
                 name="fingerprint_retraining_rows"),
            Node(nodes.fit_challenger,
                 ["retraining_rows", "validation_split", "champion_selection", "tuning_results", "params:modeling",
                  "params:problem"],
                 "challenger_model", name="fit_challenger"),
            Node(nodes.compare_on_recent_holdout,
                 ["deployed_champion", "challenger", "recent_holdout_rows", "recent_training_rows", "params:problem",
                  "params:retraining"],
                 "retraining_decision", name="compare_on_recent_holdout"),
            Node(nodes.describe_challenger_release, ["recent_training_rows", "deployed_champion"], "challenger_release_context",
                 name="describe_challenger_release"),
            Node(nodes.build_index_section, ["retraining_decision", "challenger_promotion"], "retraining_index_section",
                 name="build_retraining_index_section"),
        ]
    )
