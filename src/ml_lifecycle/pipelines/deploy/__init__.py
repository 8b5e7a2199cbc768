"""Deploy: the registry's champion bundle, verified, as `deployed_champion` for inference, monitoring and retraining."""

from ml_lifecycle.pipelines.deploy.pipeline import create_pipeline

__all__ = ["create_pipeline"]
