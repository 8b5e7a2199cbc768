"""Model selection pipeline (CRISP-DM 4)."""

from ml_lifecycle.pipelines.modeling.pipeline import create_pipeline

__all__ = ["create_pipeline"]
