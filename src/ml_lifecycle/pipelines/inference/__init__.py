"""Batch inference pipeline (CRISP-DM 6.1): new raw rows + champion -> predictions and rejects."""

from ml_lifecycle.pipelines.inference.pipeline import create_pipeline

__all__ = ["create_pipeline"]
