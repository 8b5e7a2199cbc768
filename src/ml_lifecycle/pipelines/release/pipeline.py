"""fitted model + validation split -> twin, calibration, threshold, the twin's probabilities of monitoring's reference
(the validation rows) -> bundle -> frozen-holdout checks -> gate verdict -> registered -> promoted only when the gate passes.

A template: `pipeline_registry` instantiates it under a namespace wherever a model is released
(evaluation's champion, retraining's challenger), mapping its inputs and outputs by name.
"""

from kedro.pipeline import Node, Pipeline

from ml_lifecycle.bundle import build_recipe
from ml_lifecycle.pipelines.release import calibration, checks, decision

EVALUATION = ["params:evaluation", "params:problem"]
MODELING = ["params:modeling", "params:problem"]


def create_pipeline(**kwargs) -> Pipeline:
    """Create the release template (un-namespaced; see the module docstring)."""
    return Pipeline(
        [
            Node(calibration.fit_holdout_twin, ["fitted_model", "twin_rows", "champion_selection", "tuning_results", *MODELING],
                 "holdout_twin", name="fit_holdout_twin"),
            Node(calibration.compare_calibrations, ["holdout_twin", "validation_split", *EVALUATION], "calibration_comparison",
                 name="compare_calibrations"),
            Node(calibration.calibrate_model,
                 ["fitted_model", "holdout_twin", "validation_split", "calibration_comparison", "params:problem"],
                 ["calibrated_model", "calibrated_twin"], name="calibrate_model"),
            Node(calibration.choose_threshold, ["calibrated_twin", "validation_split", "calibration_comparison", *EVALUATION],
                 ["threshold_curve", "threshold_choice"], name="choose_threshold"),
            Node(calibration.build_released_model, ["calibrated_model", "threshold_choice", "champion_selection"], "released_model",
                 name="build_released_model"),
            Node(build_recipe, ["recipe_rows", "missing_value_fills", "params:problem", "params:deployment"], "recipe",
                 name="build_recipe"),
            Node(calibration.predict_reference, ["calibrated_twin", "monitoring_reference", "recipe", *MODELING],
                 "reference_predictions", name="predict_reference"),
            Node(calibration.build_bundle,
                 ["released_model", "threshold_choice", "recipe", "reference_predictions", "params:evaluation"],
                 "released_bundle", name="build_bundle"),
            Node(checks.score_frozen_holdout, ["released_bundle", "incumbent_bundle", "baseline_models", "frozen_holdout",
                                              "params:problem"],
                 ["holdout_rows", "holdout_predictions"], name="score_frozen_holdout"),
            Node(checks.compute_importance, ["fitted_model", "holdout_rows", *EVALUATION], "feature_importance",
                 name="compute_importance"),
            Node(checks.check_for_leaks, ["feature_importance", "twin_rows", "validation_split", "holdout_rows",
                                          "holdout_predictions", *EVALUATION],
                 "leak_checks", name="check_for_leaks"),
            Node(checks.analyse_slices, ["holdout_rows", "holdout_predictions", *EVALUATION], "slice_metrics",
                 name="analyse_slices"),
            Node(checks.fairness_gaps, ["slice_metrics", *EVALUATION], "fairness_gaps", name="fairness_gaps"),
            Node(checks.run_behavioural_tests, ["released_model", "holdout_rows", "incumbent_bundle", *EVALUATION], "behavioural_checks",
                 name="run_behavioural_tests"),
            Node(decision.collect_evidence,
                 ["leak_checks", "behavioural_checks", "fairness_gaps", "sanity_checks", "champion_selection"],
                 "release_evidence", name="collect_evidence"),
            Node(decision.judge_release,
                 ["holdout_predictions", "release_evidence", "incumbent_bundle", "release_context", "params:release", *EVALUATION],
                 "gate_verdict", name="judge_release"),
            Node(decision.build_release_candidate,
                 ["released_bundle", "threshold_choice", "holdout_predictions", "release_context", "data_fingerprint",
                  "params:problem"],
                 "release_registration", name="register_release"),
            Node(decision.decide_promotion, ["release_registration", "gate_verdict"], "release_promotion",
                 name="decide_promotion"),
        ]
    )
