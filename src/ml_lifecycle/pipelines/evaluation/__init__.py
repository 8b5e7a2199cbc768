"""Offline evaluation pipeline (CRISP-DM 5)."""

from ml_lifecycle.pipelines.evaluation.pipeline import create_pipeline

__all__ = ["create_pipeline"]
