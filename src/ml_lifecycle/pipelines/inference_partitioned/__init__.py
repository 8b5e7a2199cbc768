"""Batch inference of inputs larger than memory (CRISP-DM 6.1): the inference steps, block by block on Dask."""

from ml_lifecycle.pipelines.inference_partitioned.pipeline import create_pipeline

__all__ = ["create_pipeline"]
