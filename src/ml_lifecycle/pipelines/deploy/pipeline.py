"""registry champion (bundle verified: hash, libraries, input schema) -> deployed_champion.

Declared once under the `deploy` namespace; `pipeline_registry` adds it to every pipeline that
scores with the champion (inference, monitoring, retraining).
"""

from kedro.pipeline import Node, Pipeline, pipeline

from ml_lifecycle.pipelines.deploy import nodes


def create_pipeline(**kwargs) -> Pipeline:
    """Create the deploy pipeline."""
    return pipeline(
        Pipeline([Node(nodes.deploy_champion, ["champion_bundle", "release_promotion", "params:problem"], "deployed_champion",
                       name="deploy_champion")]),
        namespace="deploy",
        inputs={"champion_bundle", "release_promotion"},
        outputs={"deployed_champion"},
        parameters={"params:problem"},
    )
