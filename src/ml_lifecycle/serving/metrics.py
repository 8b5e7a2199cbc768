"""The service's own metrics for Prometheus (`GET /metrics`), and every HTTP request in the request log.

Each app has its own `CollectorRegistry`, so several services in one process (the tests) do not
share counters. The middleware sits outermost among the app's middleware: it times every
request, the refused ones included, from its arrival to the response's start, and then appends
one row per request to the request log's `requests` table before the answer goes out. A client
that goes away before any answer is neither counted nor logged.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    Info,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ml_lifecycle.serving.challenger import BackgroundScorer
from ml_lifecycle.serving.request_log import RequestLog

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Keys of the request's ASGI state through which the endpoints tell the middleware what they answered.
ROWS_ANSWERED, ROWS_REJECTED = "ml_lifecycle.rows_answered", "ml_lifecycle.rows_rejected"


class BackgroundCollector(Collector):
    """The background scorer's counts, read when Prometheus scrapes (the scorer keeps them; nothing is counted twice)."""

    def __init__(self, scorer: BackgroundScorer) -> None:
        self.scorer = scorer

    def collect(self) -> Iterator[Metric]:
        """Yield the queue's skipped, failed and pending requests and the challenger's compared and disagreeing rows."""
        scorer = self.scorer
        yield CounterMetricFamily("ml_service_background_skipped",
                                  "Requests not scored by the other model because its queue was full.", value=scorer.skipped)
        yield CounterMetricFamily("ml_service_background_failed",
                                  "Requests the other model failed to score (logged with the error).", value=scorer.failed)
        yield GaugeMetricFamily("ml_service_background_pending", "Requests waiting for the other model.", value=scorer.pending())
        yield CounterMetricFamily("ml_service_challenger_rows_compared",
                                  "Rows scored in the background by the model that did not answer.", value=scorer.compared)
        yield CounterMetricFamily("ml_service_challenger_disagreements",
                                  "Background-scored rows whose decision differs from the decision answered.",
                                  value=scorer.disagreements)


class ServiceMetrics:
    """Counters, a latency histogram, the background scorer's counts and the served model, in a registry of their own."""

    def __init__(self, routes: set[str], background: BackgroundScorer) -> None:
        self.routes = routes
        self.registry = CollectorRegistry()
        self.requests = Counter("ml_service_requests", "HTTP requests by route and status code.", ["route", "status"],
                                registry=self.registry)
        self.latency = Histogram("ml_service_request_latency_seconds", "Time from a request's arrival to its answer.",
                                 ["route"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.rows_scored = Counter("ml_service_rows_scored", "Rows answered, by the role of the model that answered.",
                                   ["role"], registry=self.registry)
        self.rows_rejected = Counter("ml_service_rows_rejected", "Rows of POST /predict bodies refused with 422.",
                                     registry=self.registry)
        self.low_confidence = Counter("ml_service_rows_low_confidence",
                                      "Rows answered inside the answering model's abstain band.", registry=self.registry)
        self.model = Info("ml_service_model", "The champion being served.", registry=self.registry)
        self.registry.register(BackgroundCollector(background))

    def route_of(self, path: str) -> str:
        """Return the route label of a path: itself when the service has it, else 'other' (keeps label values few)."""
        return path if path in self.routes else "other"

    def exposition(self) -> bytes:
        """Return every metric in the Prometheus text format."""
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Count and time every HTTP request by route and status, whatever answers it, and log it in the `requests` table."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics, log: RequestLog) -> None:
        self.app = app
        self.metrics = metrics
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, route = time.perf_counter(), self.metrics.route_of(scope["path"])
        received_at = datetime.now(UTC).isoformat()
        state = scope.setdefault("state", {})  # shared with every inner layer: the endpoints write what they answered
        answered = False

        async def counted(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start":
                # Logged before the answer leaves: a client holding its answer finds its request in the log.
                answered = True
                self._count(received_at, route, message["status"], time.perf_counter() - started, state)
            await send(message)

        try:
            await self.app(scope, receive, counted)
        except Exception:
            if not answered:  # Starlette's outermost layer, outside this one, answers an escaped exception with 500
                self._count(received_at, route, 500, time.perf_counter() - started, state)
            raise

    def _count(self, received_at: str, route: str, status: int, seconds: float, state: dict) -> None:
        """Record one answered request in the Prometheus metrics and the request log."""
        self.metrics.requests.labels(route, str(status)).inc()
        self.metrics.latency.labels(route).observe(seconds)
        self.log.record_request(received_at, route, status, seconds * 1000, state.get(ROWS_ANSWERED, 0),
                                state.get(ROWS_REJECTED, 0))
