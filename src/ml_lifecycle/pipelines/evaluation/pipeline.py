"""released model (from the release steps, which `pipeline_registry` runs under the `evaluation` namespace) + splits
-> test metrics against the baselines, confidence, reliability, serving cost -> Evidently HTML, evaluation report,
model card (with the gate verdict), index section.

Calibration and threshold were chosen on the validation split by the release steps; importance, leak check,
slices, fairness and behavioural tests are theirs too (the gate reads them); the test split is only scored.
"""

from kedro.pipeline import Node, Pipeline

from ml_lifecycle.pipelines.evaluation import (
    charts,
    evidently_reports,
    nodes,
    pages,
    results,
    summary,
)

CONFIG = ["params:evaluation", "params:problem"]


def create_pipeline(**kwargs) -> Pipeline:
    """Create the evaluation pipeline."""
    return Pipeline(
        [
            Node(nodes.describe_release, "champion_selection", "release_context", name="describe_release"),
            Node(nodes.score_test_split,
                 ["released_model", "champion_model", "holdout_twin", "baseline_models", "validation_split", "test_split",
                  *CONFIG],
                 ["test_metrics", "test_predictions"], name="score_test_split"),
            Node(nodes.interval_test_metrics, ["test_predictions", "released_model", *CONFIG], "test_metric_intervals",
                 name="interval_test_metrics"),
            Node(nodes.compare_with_references, ["test_metrics", "params:problem"], "declared_references",
                 name="compare_with_references"),
            Node(nodes.reliability_table, ["test_predictions", *CONFIG], "reliability_bins", name="reliability_table"),
            Node(nodes.analyse_confidence, ["test_predictions", "threshold_choice", *CONFIG], ["confidence_bins", "confidence"],
                 name="analyse_confidence"),
            Node(nodes.measure_serving_cost, ["released_model", "test_split", "leaderboard", "champion_selection", "params:evaluation"],
                 "serving_cost", name="measure_serving_cost"),
            Node(charts.plot_roc_pr_curves, ["test_predictions", "test_metrics", "params:problem"], "roc_pr_curves_chart",
                 name="plot_roc_pr_curves"),
            Node(charts.plot_threshold_tradeoff, ["threshold_curve", "threshold_choice"], "threshold_tradeoff_chart",
                 name="plot_threshold_tradeoff"),
            Node(charts.plot_reliability, "reliability_bins", "reliability_chart", name="plot_reliability"),
            Node(charts.plot_confidence, ["test_predictions", "confidence_bins", "confidence", *CONFIG], "confidence_chart",
                 name="plot_confidence"),
            Node(charts.plot_importance, ["leak_checks", "params:evaluation"], "feature_importance_chart", name="plot_importance"),
            Node(charts.plot_slice_errors, "slice_metrics", "slice_errors_chart", name="plot_slice_errors"),
            Node(evidently_reports.build_test_classification_report, ["test_split", "test_predictions", "params:problem"],
                 "evidently_test_classification_report", name="build_test_classification_report"),
            Node(evidently_reports.build_slice_classification_reports, ["test_split", "test_predictions", *CONFIG],
                 ["evidently_slice_classification_reports", "evidently_slice_index"], name="build_slice_classification_reports"),
            Node(results.gather_results,
                 ["test_metrics", "test_metric_intervals", "declared_references", "calibration_comparison", "confidence_bins",
                  "confidence", "serving_cost"],
                 "evaluation_results", name="gather_results"),
            Node(results.gather_findings, ["leak_checks", "slice_metrics", "fairness_gaps", "behavioural_checks"],
                 "release_findings", name="gather_findings"),
            Node(summary.summarise_evaluation,
                 ["evaluation_results", "release_findings", "threshold_choice", "champion_selection", "released_model",
                  "release_promotion", "params:evaluation", "params:problem"],
                 "evaluation_summary", name="summarise_evaluation"),
            Node(pages.gather_charts,
                 ["roc_pr_curves_chart", "threshold_tradeoff_chart", "reliability_chart", "confidence_chart",
                  "feature_importance_chart", "slice_errors_chart"],
                 "evaluation_charts", name="gather_charts"),
            Node(pages.write_evaluation_report,
                 ["evaluation_summary", "evaluation_results", "release_findings", "evaluation_charts", "evidently_slice_index",
                  "champion_rationale", "params:evaluation"],
                 "evaluation_report", name="write_evaluation_report"),
            Node(pages.write_model_card,
                 ["evaluation_summary", "evaluation_results", "release_findings", "train_split", "validation_split", *CONFIG],
                 "model_card", name="write_model_card"),
            Node(summary.build_index_section, "evaluation_summary", "evaluation_index_section", name="build_index_section"),
        ]
    )
