"""The prediction service: FastAPI serving the registry's champion (docs/serving.md).

`make serve` runs `python -m ml_lifecycle.serving` (serving/__main__.py: the bind-address guard,
then uvicorn with `create_app` as factory) from the project folder; `KEDRO_ENV` picks the
configuration environment. Configuration, registry and request log come through the project's
Kedro catalog and parameters. The service reads the registry's
bundles and nothing else of the pipelines' outputs: each version carries its own row
preparation and input limits, so it starts with `data/` holding only the registry.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoint annotations, which name
# models built at runtime from the problem spec.
import logging
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from kedro.framework.context import KedroContext
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel

from ml_lifecycle.bundle import BundleError
from ml_lifecycle.deployment import DeployedModel, deploy
from ml_lifecycle.project import project_context
from ml_lifecycle.registry import ModelRegistry
from ml_lifecycle.serving.access import (
    BearerToken,
    configured_token,
    project_credentials,
)
from ml_lifecycle.serving.challenger import BackgroundScorer, answered_by_canary
from ml_lifecycle.serving.config import ChallengerConfig, ServingConfig
from ml_lifecycle.serving.limits import RECEIVED_AT, BodyLimits
from ml_lifecycle.serving.metrics import (
    ROWS_ANSWERED,
    ROWS_REJECTED,
    MetricsMiddleware,
    ServiceMetrics,
)
from ml_lifecycle.serving.request_log import (
    RequestLog,
    UnknownRequestError,
    compare_models,
)
from ml_lifecycle.serving.schema import (
    Feedback,
    PredictResponse,
    error_location,
    excerpt,
    predict_request_model,
    row_model,
    rows_refused,
)
from ml_lifecycle.spec import ProblemSpec

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Live:
    """What the service answers with right now; replaced whole on reload, so a request sees one consistent set."""

    champion: DeployedModel
    challenger: DeployedModel | None
    config: ServingConfig


def load_live(context: KedroContext, spec: ProblemSpec) -> Live:
    """Return the registry's champion and the challenger, each deployed from its verified bundle.

    The challenger is the configured one; with none configured, the registry's challenger in shadow
    (retraining's, once the gate passed it) is scored in shadow, so its traffic is logged beside the champion's.
    """
    config = ServingConfig.model_validate(context.params["serving"])
    registry: ModelRegistry = context.catalog["model_registry"].registry
    snapshot = registry.snapshot()
    if snapshot.champion is None:
        raise BundleError(f"{registry.history_path}: no champion yet; run `kedro run` (a release the gate passes is promoted)")
    in_shadow = snapshot.shadow()
    if config.challenger.version is None and in_shadow is not None:
        config = config.model_copy(update={"challenger": ChallengerConfig(version=in_shadow.version, mode="shadow")})
    wanted = config.challenger.version
    if wanted is not None and wanted not in snapshot.versions:
        raise BundleError(f"serving.challenger.version {wanted!r} is not a registry version; known: {sorted(snapshot.versions)}")
    champion = deploy(registry.load(snapshot.champion), spec)
    challenger = deploy(registry.load(wanted), spec) if wanted is not None and wanted != champion.version else None
    return Live(champion=champion, challenger=challenger, config=config)


class Service:
    """The state behind the endpoints: configuration, live models, request log and background scorer."""

    def __init__(self, project_path: Path, env: str | None) -> None:
        self.project_path, self.env = project_path, env
        context = project_context(project_path, env)
        self.spec = ProblemSpec.model_validate(context.params["problem"])
        self.live = load_live(context, self.spec)
        self.log = RequestLog(context.catalog["request_log"].filepath)
        config = self.live.config  # the background scorer's settings take effect at start
        self.background = BackgroundScorer(self.log, self.spec, config.shadow_queue_size, config.shadow_batch_seconds,
                                           config.shadow_batch_rows)
        self.started = datetime.now(UTC)
        self.example = self._example_row()
        self.metrics = ServiceMetrics(routes=set(), background=self.background)  # create_app names the routes once they exist
        self.access = BearerToken(configured_token(project_credentials(context)))
        self.reloading = threading.Lock()
        self._describe_served_model()

    def _describe_served_model(self) -> None:
        """Set the served-model info metric to the live champion."""
        champion = self.live.champion
        self.metrics.model.info({"version": champion.version, "model": champion.manifest.model,
                                 "threshold": f"{champion.threshold:g}", "problem": self.spec.name})

    def _example_row(self) -> dict[str, Any]:
        """Return a realistic request row for the API docs: the champion bundle's first training row."""
        row = self.live.champion.bundle.recipe.sample_rows.iloc[0]
        return {c: (float(row[c]) if c in self.spec.numeric_features else str(row[c])) for c in self.spec.features}

    def reload(self) -> Live:
        """Re-read configuration and registry; swap to the new champion and challenger, or keep the old ones on error."""
        context = project_context(self.project_path, self.env)
        if ProblemSpec.model_validate(context.params["problem"]) != self.spec:
            raise BundleError("the problem spec changed: the request schema depends on it, so restart the service")
        live = load_live(context, self.spec)
        if live.champion.limits != self.live.champion.limits:
            raise BundleError(f"{live.champion.version} was released with other input limits than {self.live.champion.version}: "
                              "the request schema depends on them, so restart the service")
        self.live = live
        self._describe_served_model()
        logger.info("Reloaded: champion %s, challenger %s (%s)", live.champion.version,
                    live.challenger.version if live.challenger else None, live.config.challenger.mode)
        return live

    def label_of(self, decision: int) -> str:
        """Return the problem's label for a 0/1 decision."""
        return self.spec.target.positive_label if decision else self.spec.target.negative_label


def _model_info(model: DeployedModel) -> dict[str, Any]:
    manifest = model.manifest
    return {
        "version": model.version,
        "threshold": model.threshold,
        "abstain_band": manifest.abstain_band,
        "model": manifest.model,
        "description": manifest.description,
        "stage": manifest.stage,
        "registered_at": manifest.registered_at,
        "metrics": manifest.metrics,
        "metrics_source": manifest.metrics_source,
        "sha256": manifest.sha256,
        "code_commit": manifest.code_commit,
        "champion_since": None if model.promotion is None else model.promotion.model_dump(exclude={"verdict"}),
    }


def _problem_message(error: dict[str, Any]) -> str:
    """Return one validation problem as `field: what is wrong`, naming the field as the client wrote it."""
    if error["type"] == "json_invalid":
        return f"malformed JSON at character {error['loc'][-1]}: {error.get('ctx', {}).get('error', error['msg'])}"
    return f"{error_location(error['loc'])}: {error['msg']}"


def add_error_handlers(app: FastAPI, metrics: ServiceMetrics) -> None:
    """Answer invalid requests with 422 naming each field, and anything unexpected with a logged, clear 500."""

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        if request.url.path == "/predict":
            refused = rows_refused(error.errors())
            request.scope["state"][ROWS_REJECTED] = refused
            metrics.rows_rejected.inc(refused)
        # The offending input is not echoed back: it may be a NaN, which JSON cannot carry.
        detail = [{"loc": list(e["loc"]), "type": e["type"], "msg": e["msg"]} for e in error.errors()]
        return JSONResponse(
            {"error": "invalid request", "problems": [_problem_message(e) for e in error.errors()], "detail": detail},
            status_code=422,
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        logger.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse({"error": "internal error", "detail": "logged by the service; the request was not scored"},
                            status_code=500)


def add_scoring_routes(app: FastAPI, service: Service, PredictRequest: type[BaseModel]) -> None:
    """POST /predict and POST /feedback."""
    spec = service.spec

    # async: scoring a few rows takes about a millisecond of CPU, less than the thread-pool round trip a sync
    # endpoint pays; the event loop is blocked only that long.
    @app.post("/predict", response_model=PredictResponse)
    async def predict(payload: PredictRequest, request: Request) -> dict[str, Any]:  # type: ignore[valid-type]
        """Score one row (an object) or several (a list); every row is logged with the model that answered."""
        rows = payload.root if isinstance(payload.root, list) else [payload.root]
        live = service.live
        if live.config.protect_predict:
            service.access(request)
        if len(rows) > live.config.max_rows:
            raise HTTPException(413, f"{len(rows)} rows in one request; the limit is {live.config.max_rows} (serving.max_rows)")
        records = [row.model_dump() for row in rows]
        request_id = uuid.uuid4().hex
        received_at = datetime.now(UTC).isoformat()
        canary = live.challenger is not None and live.config.challenger.mode == "canary" and answered_by_canary(
            request_id, live.config.challenger.canary_share)
        answering, other = (live.challenger, live.champion) if canary else (live.champion, live.challenger)
        probabilities, unseen = answering.score_records(records, spec)
        threshold = answering.threshold
        decisions = probabilities >= threshold
        latency_ms = (time.perf_counter() - request.scope["state"][RECEIVED_AT]) * 1000
        role = "challenger" if canary else "champion"
        service.log.record(request_id, received_at, records, answering.version, role, probabilities, threshold, unseen, latency_ms)
        if other is not None:
            service.background.submit(other, request_id, records, decisions)
        low_confidence = answering.low_confidence(probabilities)
        request.scope["state"][ROWS_ANSWERED] = len(records)
        service.metrics.rows_scored.labels(role).inc(len(records))
        service.metrics.low_confidence.inc(int(low_confidence.sum()))
        return {
            "request_id": request_id,
            "model_version": answering.version,
            "role": role,
            "threshold": threshold,
            "predictions": [
                {"probability": float(p), "decision": int(decided), "label": service.label_of(int(decided)),
                 "low_confidence": bool(low), "unseen_categories": flags}
                for p, decided, low, flags in zip(probabilities, decisions, low_confidence, unseen, strict=True)
            ],
        }

    @app.post("/feedback", dependencies=[Depends(service.access)])
    def feedback(body: Feedback, request: Request) -> dict[str, Any]:
        """Record the true labels of an earlier request, one per row, with who sent them, for monitoring and retraining."""
        declared = {spec.target.normalise(label): label for label in (spec.target.positive_label, spec.target.negative_label)}
        unknown = [label for label in body.labels if spec.target.normalise(label) not in declared]
        if unknown:
            shown = ", ".join(repr(excerpt(label)) for label in unknown[:3]) + (f" and {len(unknown) - 3} more" if len(unknown) > 3 else "")
            raise HTTPException(422, f"labels {shown} are not among the declared labels {sorted(declared.values())}")
        sender = request.client.host if request.client else "unknown"
        try:
            conflicting = service.log.add_feedback(body.request_id, [declared[spec.target.normalise(label)] for label in body.labels],
                                                   datetime.now(UTC).isoformat(), sender)
        except UnknownRequestError:
            raise HTTPException(404, f"no logged request has id {body.request_id!r}") from None
        except ValueError as error:
            raise HTTPException(422, str(error)) from None
        return {"request_id": body.request_id, "labels_recorded": len(body.labels), "conflicting_rows": conflicting}


def add_info_routes(app: FastAPI, service: Service, Row: type[BaseModel]) -> None:
    """GET /health, GET /model, GET /challenger and GET /metrics."""
    spec = service.spec

    @app.get("/metrics", response_class=Response)
    def metrics() -> Response:
        """The service's metrics in the Prometheus text format: requests, latency, rows scored and refused, background scoring, the model."""
        return Response(service.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/health")
    def health() -> dict[str, Any]:
        """Liveness and what is being served."""
        live = service.live
        return {
            "status": "ok",
            "champion": live.champion.version,
            "challenger": live.challenger.version if live.challenger else None,
            "challenger_mode": live.config.challenger.mode if live.challenger else None,
            "up_since": service.started.isoformat(timespec="seconds"),
            "background": {"pending": service.background.pending(), "skipped": service.background.skipped,
                           "failed": service.background.failed},
        }

    @app.get("/model")
    def model() -> dict[str, Any]:
        """The champion (and challenger): version, threshold, metrics, and the feature schema of a request row."""
        live = service.live
        return {
            **_model_info(live.champion),
            "challenger": None if live.challenger is None else {**_model_info(live.challenger), **live.config.challenger.model_dump()},
            "features": {"numeric": spec.numeric_features, "categorical": spec.categorical_features},
            "request_row_schema": Row.model_json_schema(),
        }

    @app.get("/challenger")
    def challenger() -> dict[str, Any]:
        """Champion vs challenger on the logged traffic: agreement, and metrics where feedback brought labels."""
        live = service.live
        if live.challenger is None:
            return {"challenger": None, "detail": "no challenger configured (serving.challenger.version)"}
        paired = service.log.paired_scores(live.challenger.version)
        return {"champion": live.champion.version, "challenger": live.challenger.version,
                **live.config.challenger.model_dump(exclude={"version"}),
                **compare_models(paired, spec.target.positive_label)}


def add_admin_routes(app: FastAPI, service: Service) -> None:
    """POST /admin/reload and POST /admin/drain, for holders of the service token (docs/serving.md)."""

    @app.post("/admin/reload", dependencies=[Depends(service.access)])
    def reload() -> dict[str, Any]:
        """Pick up the registry's current champion and the configured challenger without a restart; one reload at a time."""
        if not service.reloading.acquire(blocking=False):
            raise HTTPException(429, "a reload is already running; try again when it has finished")
        try:
            live = service.reload()
        except Exception as error:  # whatever stops the new models loading, the old ones keep serving
            logger.exception("reload refused")
            raise HTTPException(409, f"reload refused, still serving {service.live.champion.version}: {error}") from None
        finally:
            service.reloading.release()
        return {"champion": live.champion.version, "challenger": live.challenger.version if live.challenger else None}

    @app.post("/admin/drain", dependencies=[Depends(service.access)])
    def drain() -> dict[str, Any]:
        """Wait until every queued shadow / canary request is scored and logged."""
        service.background.wait()
        return {"pending": service.background.pending(), "logged_rows": service.log.count()}


def create_app(project_path: str | Path | None = None, env: str | None = None) -> FastAPI:
    """Return the prediction service for the Kedro project at `project_path` (default: the working folder)."""
    project = Path(project_path or os.getcwd()).resolve()
    os.chdir(project)  # the catalog's relative paths (registry, splits, request log) resolve against the working folder
    service = Service(project, env or os.environ.get("KEDRO_ENV"))
    spec = service.spec
    Row = row_model(spec, service.live.champion.limits, service.example)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        service.background.stop()
        service.log.close()

    app = FastAPI(
        lifespan=lifespan,
        title="ML Lifecycle prediction service",
        description=f"Scores rows with the registry's champion: P({spec.target_column} = {spec.target.positive_label!r}).",
        version=service.live.champion.version,
    )
    app.state.service = service
    app.add_middleware(BodyLimits, max_bytes=lambda: service.live.config.max_body_bytes,
                       timeout_seconds=lambda: service.live.config.body_timeout_seconds)
    add_error_handlers(app, service.metrics)
    add_scoring_routes(app, service, predict_request_model(Row))
    add_info_routes(app, service, Row)
    add_admin_routes(app, service)
    service.metrics.routes = {route.path for route in app.routes}
    if service.live.config.metrics:  # read at start, like the background scorer's settings
        # added last: outermost of the app's middleware, so it sees every answer
        app.add_middleware(MetricsMiddleware, metrics=service.metrics, log=service.log)
    return app
