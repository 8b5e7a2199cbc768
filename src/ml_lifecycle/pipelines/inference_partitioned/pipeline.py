"""new raw rows, any size (a file or a folder of files; raw text or Parquet) + deployed champion -> partitioned predictions + rejects -> summary.

The inference pipeline in another form, registered under its own name because Kedro selects a
pipeline by package: each block is scored by the same library function as the inference pipeline
(`ml_lifecycle.batch_scoring.score_new_rows`), so both forms give the same predictions.
`kedro run --pipeline=inference_partitioned --params=input_path=PATH,output_path=FOLDER` (docs/scaling.md).
"""

from kedro.pipeline import Node, Pipeline

from ml_lifecycle import batch_scoring
from ml_lifecycle.pipelines.inference_partitioned import nodes


def create_pipeline(**kwargs) -> Pipeline:
    """Create the block-by-block inference pipeline."""
    return Pipeline(
        [
            Node(nodes.score_partitions,
                 ["inference_partitions", "deployed_champion", "params:problem", "params:inference", "params:compute"],
                 "scored_partitions", name="score_partitions"),
            Node(nodes.summarise_partitions, ["scored_partitions", "params:inference"], "inference_summary",
                 name="summarise_partitions"),
            Node(batch_scoring.build_index_section, "inference_summary", "inference_index_section",
                 name="build_inference_index_section"),
        ]
    )
