"""splits -> sanity check -> tuning -> CV leaderboard (+ ensemble) -> champion -> feature rankings (and, when
configured, the champion refitted on a feature subset) -> rationale, experiment log,
and the champion registered as a candidate (never promoted: only a release that passes the gate is).

The test split is never an input of this pipeline.
"""

from kedro.pipeline import Node, Pipeline

from ml_lifecycle.bundle import build_recipe
from ml_lifecycle.model_recipe import fingerprint_data
from ml_lifecycle.pipelines.modeling import feature_selection, records, selection

SPLITS = ["train_split", "validation_split"]
CONFIG = ["params:modeling", "params:problem"]


def create_pipeline(**kwargs) -> Pipeline:
    """Create the modeling pipeline."""
    return Pipeline(
        [
            Node(selection.fit_baselines, ["train_split", *CONFIG], "baseline_models", name="fit_baselines"),
            Node(selection.check_small_batch_overfit, ["train_split", *CONFIG], "sanity_checks", name="check_small_batch_overfit"),
            Node(selection.tune_candidates, [*SPLITS, *CONFIG, "params:compute"], "tuning_results", name="tune_candidates"),
            Node(selection.cross_validate_models, ["train_split", "tuning_results", *CONFIG, "params:compute"],
                 ["model_fold_metrics", "out_of_fold_predictions"], name="cross_validate_models"),
            Node(selection.cross_validate_ensemble,
                 ["model_fold_metrics", "out_of_fold_predictions", "sanity_checks", "train_split", *CONFIG],
                 ["cv_fold_metrics", "ensemble_members"], name="cross_validate_ensemble"),
            Node(selection.build_leaderboard, ["cv_fold_metrics", "sanity_checks", "params:modeling"], "leaderboard", name="build_leaderboard"),
            Node(records.plot_leaderboard, ["leaderboard", "params:modeling", "params:problem"], "leaderboard_chart",
                 name="plot_leaderboard"),
            Node(records.compute_training_curves, [*SPLITS, "tuning_results", *CONFIG], "training_curves", name="compute_training_curves"),
            Node(records.plot_training_curves, "training_curves", "training_curves_chart", name="plot_training_curves"),
            Node(selection.select_champion, ["leaderboard", "ensemble_members", "params:modeling"], "champion_choice", name="select_champion"),
            Node(selection.fit_champion, [*SPLITS, "champion_choice", "tuning_results", *CONFIG], "full_feature_champion",
                 name="fit_champion"),
            Node(feature_selection.rank_features,
                 ["train_split", "out_of_fold_predictions", "full_feature_champion", "champion_choice", "tuning_results", *CONFIG],
                 "feature_rankings", name="rank_features"),
            Node(feature_selection.tabulate_rankings, "feature_rankings", "feature_selection_table", name="tabulate_feature_rankings"),
            Node(feature_selection.measure_drop_effects,
                 ["train_split", "out_of_fold_predictions", "feature_rankings", "champion_choice", "tuning_results", *CONFIG],
                 "feature_drop_effects", name="measure_feature_drop_effects"),
            Node(feature_selection.apply_feature_selection,
                 ["champion_choice", "feature_rankings", "feature_drop_effects", "params:modeling"], "champion_selection",
                 name="apply_feature_selection"),
            Node(selection.refit_on_kept_features,
                 [*SPLITS, "full_feature_champion", "champion_selection", "tuning_results", *CONFIG], "champion_model",
                 name="refit_champion_on_kept_features"),
            Node(records.write_selection_rationale, ["leaderboard", "champion_selection", "ensemble_members", "sanity_checks", "tuning_results",
                  "baseline_models", "feature_rankings", "feature_drop_effects", "params:modeling", "params:problem"],
                 "champion_rationale", name="write_selection_rationale"),
            Node(fingerprint_data, SPLITS, "data_fingerprint", name="fingerprint_data"),
            Node(records.build_experiment_record,
                 ["leaderboard", "cv_fold_metrics", "training_curves", "tuning_results", "champion_selection", "data_fingerprint", *CONFIG],
                 "experiment_log", name="build_experiment_record"),
            Node(build_recipe, ["train_split", "missing_value_fills", "params:problem", "params:deployment"], "candidate_recipe",
                 name="build_candidate_recipe"),
            Node(selection.build_candidate,
                 ["champion_model", "champion_selection", "leaderboard", "candidate_recipe", "data_fingerprint", "params:problem"],
                 "candidate_registration", name="register_candidate"),
        ]
    )
