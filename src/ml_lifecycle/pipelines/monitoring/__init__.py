"""Monitoring: production batches against the reference, with Evidently reports, explicit tests, alerts and a retrain recommendation."""

from ml_lifecycle.pipelines.monitoring.pipeline import create_pipeline

__all__ = ["create_pipeline"]
