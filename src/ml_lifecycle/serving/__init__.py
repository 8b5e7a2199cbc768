"""The prediction service: FastAPI app, request log, shadow / canary challenger (docs/serving.md)."""
