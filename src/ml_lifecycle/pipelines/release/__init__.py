"""The release steps, a modular pipeline instantiated under a namespace wherever a model is released."""

from ml_lifecycle.pipelines.release.pipeline import create_pipeline

__all__ = ["create_pipeline"]
