"""Data preparation pipeline (CRISP-DM 2-3)."""

from ml_lifecycle.pipelines.data_processing.pipeline import create_pipeline

__all__ = ["create_pipeline"]
