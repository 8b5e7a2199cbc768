"""Typed serving configuration (`conf/base/parameters_deployment.yml`, key `serving`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ml_lifecycle.spec import StrictModel


class ChallengerConfig(StrictModel):
    """An optional second registry version scored beside the champion."""

    version: str | None = Field(default=None, description="Registry version, e.g. v3; null: no challenger.")
    mode: Literal["shadow", "canary"] = Field(
        default="shadow",
        description="shadow: scored after every response, never answers; canary: answers canary_share of requests.",
    )
    canary_share: float = Field(default=0.0, ge=0, le=1, description="Share of requests the canary answers (ramp it up).")

    @model_validator(mode="after")
    def _share_means_canary(self) -> ChallengerConfig:
        if self.mode == "shadow" and self.canary_share:
            raise ValueError("canary_share is only used with mode: canary")
        return self


class ServingConfig(StrictModel):
    """Where the prediction service listens, its limits, its own metrics and the challenger."""

    host: str = Field(
        default="127.0.0.1",
        description="Address `python -m ml_lifecycle.serving` listens on; one that is not loopback needs a service token.",
    )
    port: int = Field(default=8000, ge=1, le=65535, description="Port it listens on (--port and $PORT override it).")
    metrics: bool = Field(
        default=True, description="Count and time every request (GET /metrics) and log it in the request log's `requests` table."
    )
    max_rows: int = Field(default=1000, gt=0, description="Rows per request; more is refused with 413.")
    max_body_bytes: int = Field(default=1_000_000, gt=0, description="Request body size; more is refused with 413.")
    body_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Time to send a request body once its head arrived; later: 408 and the connection closed."
    )
    header_timeout_seconds: float = Field(
        default=10.0, gt=0,
        description="Time to send a request head from the connection's opening or the request's first byte; later: 408 and closed.",
    )
    limit_concurrency: int = Field(
        default=100, ge=1, description="Open connections (or requests in progress) at which a new request is answered 503."
    )
    timeout_keep_alive_seconds: int = Field(
        default=5, ge=1, description="An idle kept-alive connection is closed after this long."
    )
    shadow_queue_size: int = Field(
        default=10_000, gt=0, description="Requests waiting for the shadow model; beyond it shadow scoring is skipped and counted."
    )
    shadow_batch_seconds: float = Field(
        default=0.25, ge=0, description="The background scorer gathers requests this long and scores them in one call."
    )
    shadow_batch_rows: int = Field(default=1000, gt=0, description="... or until this many rows are gathered.")
    challenger: ChallengerConfig = ChallengerConfig()
    protect_predict: bool = Field(default=False, description="Also require the service token on POST /predict.")
