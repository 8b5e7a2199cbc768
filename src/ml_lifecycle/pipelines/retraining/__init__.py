"""Champion-challenger retraining pipeline: `kedro run --pipeline=retraining` (docs/serving.md)."""

from ml_lifecycle.pipelines.retraining.pipeline import create_pipeline

__all__ = ["create_pipeline"]
