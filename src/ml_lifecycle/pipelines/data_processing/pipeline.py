"""raw files -> validated rows (the row rules of batch inference and the service; breaking rows fail the run or are
removed, counted) -> quality report (with label consistency, likely label errors, slice coverage and train/test
mismatch; its section of the report index) -> train / validation / test (exact repeats of training rows out of the
evaluation splits), monitoring reference, and the frozen holdout (test rows before filling) every release is judged on."""

from kedro.pipeline import Node, Pipeline

from ml_lifecycle.pipelines.data_processing import label_quality, nodes


def create_pipeline(**kwargs) -> Pipeline:
    """Create the data_processing pipeline."""
    return Pipeline(
        [
            Node(nodes.standardise_raw_rows, ["raw_files", "params:problem"], "standardised_rows", name="standardise_raw_rows"),
            Node(nodes.validate_rows, ["standardised_rows", "params:problem", "params:deployment", "params:data_processing"],
                 ["validated_rows", "removed_rows"], name="validate_rows"),
            Node(
                nodes.split_rows,
                ["validated_rows", "removed_rows", "params:problem", "params:data_processing"],
                ["train_rows", "validation_rows", "test_rows", "row_accounting"],
                name="split_rows",
            ),
            Node(label_quality.find_conflicting_labels,
                 ["validated_rows", "train_rows", "validation_rows", "test_rows", "params:problem", "params:data_processing"],
                 "conflicting_labels", name="find_conflicting_labels"),
            Node(label_quality.find_label_issues, ["train_rows", "params:problem", "params:data_processing"], "label_issues",
                 name="find_label_issues"),
            Node(label_quality.measure_slice_coverage,
                 ["train_rows", "validation_rows", "test_rows", "params:problem", "params:data_processing"], "slice_coverage",
                 name="measure_slice_coverage"),
            Node(label_quality.check_split_mismatch, ["train_rows", "test_rows", "params:problem", "params:data_processing"],
                 "split_mismatch", name="check_split_mismatch"),
            Node(
                nodes.build_data_quality_report,
                ["validated_rows", "train_rows", "validation_rows", "test_rows", "row_accounting", "params:problem",
                 "conflicting_labels", "label_issues", "slice_coverage", "split_mismatch"],
                ["data_quality_report", "data_quality_table"],
                name="build_data_quality_report",
            ),
            Node(label_quality.tabulate_label_quality, "data_quality_report", "label_quality_table", name="tabulate_label_quality"),
            Node(label_quality.build_index_section, "data_quality_report", ["data_processing_index_section", "data_quality_page"],
                 name="build_data_processing_index_section"),
            Node(nodes.learn_missing_value_fills, ["train_rows", "params:problem"], "missing_value_fills", name="learn_missing_value_fills"),
            Node(nodes.prepare_model_rows, ["train_rows", "missing_value_fills", "params:problem"], "train_split", name="prepare_train_split"),
            Node(nodes.prepare_model_rows, ["validation_rows", "missing_value_fills", "params:problem"], "validation_split", name="prepare_validation_split"),
            Node(nodes.prepare_model_rows, ["test_rows", "missing_value_fills", "params:problem"], "test_split", name="prepare_test_split"),
            Node(nodes.keep_unfilled_rows, ["validation_rows", "params:problem"], "monitoring_reference", name="select_monitoring_reference"),
            Node(nodes.keep_unfilled_rows, ["test_rows", "params:problem"], "frozen_holdout", name="select_frozen_holdout"),
        ]
    )
