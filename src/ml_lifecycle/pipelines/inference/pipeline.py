"""new raw rows + deployed champion (the deploy pipeline's bundle) -> predictions + rejects -> summary.

Input and output files come from runtime parameters:
`kedro run --pipeline=inference --params=input_path=FILE,output_path=FILE` (docs/serving.md).
Inputs larger than memory: pipeline `inference_partitioned` (docs/scaling.md).
"""

from kedro.pipeline import Node, Pipeline

from ml_lifecycle import batch_scoring as nodes


def create_pipeline(**kwargs) -> Pipeline:
    """Create the inference pipeline."""
    return Pipeline(
        [
            Node(nodes.score_new_rows,
                 ["inference_input", "deployed_champion", "params:problem", "params:inference"],
                 ["inference_predictions", "inference_rejects", "inference_summary"], name="score_new_rows"),
            Node(nodes.build_index_section, "inference_summary", "inference_index_section", name="build_inference_index_section"),
        ]
    )
