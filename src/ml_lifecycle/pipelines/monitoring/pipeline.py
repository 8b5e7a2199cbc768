"""production batches + late labels + deployed champion (the deploy pipeline's, as batch inference and the service score)
-> scores -> Evidently reports, explicit tests, estimated performance, the service's own figures -> summary, alerts,
retrain recommendation -> the closed loop: a shadow challenger judged, a new champion watched (loop.py).

Batch sources: simulated scenarios cut from the held-out test split, files dropped into the production
folder, and the prediction service's request log. A further source (standardised rows with the
batch columns) is one more input of `prepare_production_batches`.
"""

from kedro.pipeline import Node, Pipeline

from ml_lifecycle.pipelines.monitoring import (
    alerts,
    calibration,
    checks,
    estimation,
    loop,
    pages,
    scenarios,
    service,
    sources,
)

CONFIG = ["params:monitoring", "params:problem"]


def create_pipeline(**kwargs) -> Pipeline:
    """Create the monitoring pipeline."""
    return Pipeline(
        [
            Node(scenarios.simulate_production_batches, ["frozen_holdout", *CONFIG], "simulated_batches",
                 name="simulate_production_batches"),
            Node(sources.read_dropped_in_batches,
                 ["production_files", "params:monitoring.production_folder", "params:monitoring.labels", "params:problem"],
                 ["dropped_in_batches", "unreadable_production_files"], name="read_dropped_in_batches"),
            Node(sources.request_log_batches, ["request_log", "params:problem"], "request_log_batches", name="request_log_batches"),
            Node(sources.read_label_files, ["label_files", "params:monitoring.labels", "params:problem"],
                 ["late_labels", "unreadable_label_files"], name="read_label_files"),
            Node(sources.prepare_production_batches,
                 ["unreadable_production_files", "late_labels", "unreadable_label_files", "params:problem", "simulated_batches",
                  "dropped_in_batches", "request_log_batches"],
                 ["production_batches", "rejected_batches", "label_arrivals"], name="prepare_production_batches"),
            Node(checks.score_reference, ["monitoring_reference", "deployed_champion", "params:problem"],
                 "scored_reference", name="score_reference"),
            Node(checks.score_production_batches, ["production_batches", "deployed_champion", "params:problem"],
                 ["scored_batches", "scoring_metrics"], name="score_production_batches"),
            Node(calibration.calibrate_drift_limits, ["scored_batches", "scored_reference", *CONFIG], "drift_calibration",
                 name="calibrate_drift_limits"),
            Node(checks.build_batch_reports, ["scored_batches", "scored_reference", "deployed_champion", "drift_calibration", *CONFIG],
                 ["monitoring_batch_reports", "monitoring_batch_results", "monitoring_test_results", "monitoring_workspace"],
                 name="build_batch_reports"),
            Node(checks.build_slice_metrics, ["scored_batches", *CONFIG], "monitoring_slice_metrics", name="build_slice_metrics"),
            Node(checks.check_slice_recall_gaps, ["monitoring_slice_metrics", "params:monitoring"], "slice_test_results",
                 name="check_slice_recall_gaps"),
            Node(estimation.estimate_performance, ["scored_batches", "scored_reference", "deployed_champion", *CONFIG],
                 "performance_estimates", name="estimate_performance"),
            Node(estimation.check_estimated_performance, ["performance_estimates", "deployed_champion", "params:monitoring"],
                 "estimated_performance_tests", name="check_estimated_performance"),
            Node(service.summarise_service, ["service_requests", "request_log", "deployed_champion", "params:monitoring"],
                 ["service_periods", "service_test_results"], name="summarise_service"),
            Node(estimation.check_partly_labelled, ["performance_estimates", "deployed_champion", "params:monitoring"],
                 "partly_labelled_tests", name="check_partly_labelled"),
            Node(alerts.combine_tests, ["slice_test_results", "estimated_performance_tests", "service_test_results",
                                        "partly_labelled_tests"],
                 "extra_test_results", name="combine_extra_tests"),
            Node(alerts.summarise_batches, ["scoring_metrics", "monitoring_test_results", "extra_test_results", "rejected_batches",
                                            "service_periods", "performance_estimates"],
                 "monitoring_summary", name="summarise_batches"),
            Node(pages.plot_monitoring_summary, "monitoring_summary", "monitoring_summary_chart",
                 name="plot_monitoring_summary"),
            Node(alerts.recommend_retraining, ["monitoring_summary", "monitoring_test_results", "extra_test_results", "params:monitoring"],
                 "retrain_recommendation", name="recommend_retraining"),
            Node(pages.render_monitoring_overview, ["monitoring_summary", "monitoring_summary_chart", "retrain_recommendation",
                                                    "drift_calibration"],
                 "monitoring_overview", name="render_monitoring_overview"),
            Node(pages.build_monitoring_index_section, ["monitoring_summary", "retrain_recommendation"],
                 "monitoring_index_section", name="build_monitoring_index_section"),
            Node(loop.score_shadow, ["scored_batches", "shadow_bundle", "model_registry", "params:problem"], "shadow_scores",
                 name="score_shadow"),
            Node(loop.review_shadow, ["shadow_scores", "model_registry", "params:release", *CONFIG],
                 ["shadow_review", "shadow_decisions"], name="review_shadow"),
            Node(loop.watch_champion, ["monitoring_summary", "model_registry", "params:monitoring"],
                 ["champion_watch", "watch_decisions"], name="watch_champion"),
            Node(loop.combine_decisions, ["watch_decisions", "shadow_decisions"], "loop_decisions", name="combine_loop_decisions"),
            Node(loop.build_loop_index_section, ["model_registry", "shadow_review", "champion_watch", "loop_decisions"],
                 "loop_index_section", name="build_loop_index_section"),
        ]
    )
