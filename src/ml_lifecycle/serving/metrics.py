"""The service's own metrics for Prometheus (`GET /metrics`): requests, latency, rows scored, low-confidence answers, the model.

Each app has its own `CollectorRegistry`, so several services in one process (the tests) do not
share counters. The middleware sits outermost: it times every request, the refused ones
included, from its arrival to the response's start.
"""

from __future__ import annotations

import time

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    Info,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ServiceMetrics:
    """Counters, a latency histogram and the served model, in a registry of their own."""

    def __init__(self, routes: set[str]) -> None:
        self.routes = routes
        self.registry = CollectorRegistry()
        self.requests = Counter("ml_service_requests", "HTTP requests by route and status code.", ["route", "status"],
                                registry=self.registry)
        self.latency = Histogram("ml_service_request_latency_seconds", "Time from a request's arrival to its answer.",
                                 ["route"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.rows_scored = Counter("ml_service_rows_scored", "Rows answered, by the role of the model that answered.",
                                   ["role"], registry=self.registry)
        self.low_confidence = Counter("ml_service_rows_low_confidence",
                                      "Rows answered inside the answering model's abstain band.", registry=self.registry)
        self.model = Info("ml_service_model", "The champion being served.", registry=self.registry)

    def route_of(self, path: str) -> str:
        """Return the route label of a path: itself when the service has it, else 'other' (keeps label values few)."""
        return path if path in self.routes else "other"

    def exposition(self) -> bytes:
        """Return every metric in the Prometheus text format."""
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Count every HTTP request by route and status and time it, whatever answers it."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, route = time.perf_counter(), self.metrics.route_of(scope["path"])

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.metrics.requests.labels(route, str(message["status"])).inc()
                self.metrics.latency.labels(route).observe(time.perf_counter() - started)
            await send(message)

        await self.app(scope, receive, counted)
