"""Shadow and canary: a second registry version scored beside the champion without slowing it down.

Shadow: after the champion's answer is logged, the request is queued for a background thread
that scores it with the challenger and logs that score beside the answer. The queue is bounded:
when the challenger cannot keep up, requests are skipped (and counted), never waited for.
Canary: a declared share of requests, chosen by request id, is answered by the challenger,
and the champion is scored in the background instead, so every compared row has both scores.
Each job carries the decisions the service answered with, so the scorer counts the rows on
which the background model decides otherwise (`GET /metrics`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from ml_lifecycle.deployment import DeployedModel
from ml_lifecycle.serving.request_log import RequestLog
from ml_lifecycle.spec import ProblemSpec

logger = logging.getLogger(__name__)

_STOP = None


def answered_by_canary(request_id: str, canary_share: float) -> bool:
    """Return whether the canary answers this request: a stable share of (uniformly random, hex) request ids."""
    return int(request_id[:8], 16) < canary_share * 0x100000000


@dataclass(frozen=True)
class Job:
    """One answered request to score with the other model."""

    model: DeployedModel
    request_id: str
    records: list[dict[str, Any]]
    answered: np.ndarray  # the 0/1 decisions the service answered with, one per record


class BackgroundScorer:
    """One thread that scores queued requests with a second model, in batches, and logs the scores.

    Requests are gathered for up to `batch_seconds` (or `batch_rows` rows) and scored in one
    `predict_proba` call per model: a model's fixed cost per call (often most of a one-row
    prediction) is paid once per batch instead of once per request, so the thread takes little
    CPU, and little of the interpreter, from the requests the champion is answering.
    """

    def __init__(self, log: RequestLog, spec: ProblemSpec, queue_size: int, batch_seconds: float, batch_rows: int) -> None:
        self._log = log
        self._spec = spec
        self._queue: queue.Queue[Job | None] = queue.Queue(maxsize=queue_size)
        self._batch_seconds = batch_seconds
        self._batch_rows = batch_rows
        self.skipped = 0
        self.failed = 0
        self.compared = 0
        self.disagreements = 0
        self._thread = threading.Thread(target=self._run, name="background-scorer", daemon=True)
        self._thread.start()

    def submit(self, model: DeployedModel, request_id: str, records: list[dict[str, Any]], answered: np.ndarray) -> None:
        """Queue a request and the decisions it was answered with for scoring; skip it (and count) when the queue is full."""
        try:
            self._queue.put_nowait(Job(model, request_id, records, answered))
        except queue.Full:
            self.skipped += 1

    def pending(self) -> int:
        """Return how many requests wait to be scored."""
        return self._queue.qsize()

    def wait(self) -> None:
        """Block until every queued request is scored."""
        self._queue.join()

    def stop(self, timeout: float = 10.0) -> None:
        """Score what is queued, then end the thread."""
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def _gather(self, first: Job) -> tuple[list[Job], bool]:
        """Return `first` plus what arrives within the batch window, and whether a stop was seen."""
        batch, rows = [first], len(first.records)
        deadline = time.monotonic() + self._batch_seconds
        while rows < self._batch_rows:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if item is _STOP:
                self._queue.task_done()
                return batch, True
            batch.append(item)
            rows += len(item.records)
        return batch, False

    def _score(self, jobs: list[Job]) -> None:
        """Score one model's jobs in one call, log each request's scores and count the rows decided otherwise."""
        model = jobs[0].model
        records = [record for job in jobs for record in job.records]
        started = time.perf_counter()
        probabilities, _ = model.score_records(records, self._spec)
        ms_per_row = (time.perf_counter() - started) * 1000 / len(records)
        scored_at, offset = datetime.now(UTC).isoformat(), 0
        for job in jobs:
            size = len(job.records)
            self._log.record_shadow(job.request_id, scored_at, model.version, probabilities[offset : offset + size],
                                    model.threshold, ms_per_row * size)
            offset += size
        answered = np.concatenate([job.answered for job in jobs])
        self.compared += len(records)
        self.disagreements += int(((probabilities >= model.threshold) != answered).sum())

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                self._queue.task_done()
                return
            batch, stopping = self._gather(first)
            by_model: dict[int, list[Job]] = {}
            for job in batch:  # a reload may change the models between requests
                by_model.setdefault(id(job.model), []).append(job)
            for jobs in by_model.values():
                try:
                    self._score(jobs)
                except Exception:  # a failing challenger must never take the service down
                    self.failed += len(jobs)
                    logger.exception("background scoring with %s failed", jobs[0].model.version)
            for _ in batch:
                self._queue.task_done()
