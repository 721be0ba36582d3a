"""The HTTP API application: routes under /v1, health, offline docs, the console, the errors."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from deconfliction import __version__
from deconfliction.api import (
    error_docs,
    problems,
    routes_admin,
    routes_console,
    routes_events,
    routes_incidents,
    routes_line,
    routes_messages,
    routes_proof,
    routes_webhooks,
)
from deconfliction.api.authentication import Authenticate
from deconfliction.api.background import Worker, lifespan
from deconfliction.api.collector import settle_for_serving
from deconfliction.api.limits import BodyLimit, SecurityHeaders
from deconfliction.api.rate_limits import FailedSignIns, RateLimits, TokenBuckets
from deconfliction.api.strict_json import StrictJSON
from deconfliction.config import Settings
from deconfliction.errors import DeconflictionError
from deconfliction.services import conflict_search, log_access, scheduler, webhook_delivery
from deconfliction.services.context import Context
from deconfliction.sharding.deployment import HOME, Deployment, single

DESCRIPTION = """
The coordination line of a deconfliction mechanism. Parties notify where and when they will
operate; the service detects conflicts at once and shows each party only what it needs to know.

Every endpoint but `/healthz` and `/readyz` needs `Authorization: Bearer <token>`.
*Acknowledged* always means **received and read** — never approved, never safe.
Errors are RFC 9457 `application/problem+json` naming each bad field.
"""


PRUNE_IDLE_S = 30.0  # between the index journal's prunings, when nothing is left to prune


def _workers(name: str, ctx: Context, settings: Settings) -> list[Worker]:
    """A shard's background work: deadlines, webhook deliveries, tree heads of its log, and the
    volume index's journal kept short."""
    shard = "" if name == HOME else f" ({name})"
    return [
        Worker(f"scheduler{shard}", lambda: scheduler.step(ctx), settings.scheduler_interval_s),
        Worker(f"webhooks{shard}", lambda: webhook_delivery.step(ctx, settings), 0.2),
        Worker(
            f"log heads{shard}",
            lambda: log_access.sign_if_grown(ctx),
            settings.log_head_interval_s,
        ),
        Worker(f"index journal{shard}", lambda: conflict_search.prune_journal(ctx), PRUNE_IDLE_S),
    ]


def telemetry(settings: Settings) -> dict[str, bool]:
    """FastAPI's own OpenTelemetry instrumentation, on only when asked for: left on with no
    provider configured, it still looks the providers up at every request (~4 % of the server's
    CPU on the line, docs/benchmarks.md)."""
    on = settings.opentelemetry
    return {"tracing": on, "metrics": on, "logs": on, "operation_spans": on}


def create_app(target: Context | Deployment, settings: Settings | None = None) -> FastAPI:
    """The API over a service context, or a deployment's shards; their stores must already be
    open."""
    settings = settings or Settings()
    deployment = target if isinstance(target, Deployment) else single(target)
    ctx = deployment.home
    workers = [
        worker
        for name, shard in deployment.contexts.items()
        for worker in _workers(name, shard, settings)
    ]
    app = FastAPIOffline(
        title="deconfliction",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan(workers, settings.request_threads or ctx.store.request_threads),
        telemetry=telemetry(settings),
    )
    app.state.context = ctx  # the home shard: it authenticates callers
    app.state.deployment = deployment
    app.state.settings = settings
    app.state.rate_limits = RateLimits(
        requests=TokenBuckets(settings.rate_limit_per_s, settings.rate_limit_burst),
        sign_ins=FailedSignIns(settings.sign_in_free_failures, settings.sign_in_max_wait_s),
    )
    app.add_exception_handler(DeconflictionError, problems.from_domain)
    app.add_exception_handler(RequestValidationError, problems.from_validation)
    app.add_exception_handler(StarletteHTTPException, problems.from_http)
    # The last added runs first: headers on every response, then the caller authenticated from
    # its headers, then its body read (bounded), then read strictly as JSON — so a caller without
    # a valid token never has its body read at all.
    app.add_middleware(StrictJSON)
    app.add_middleware(BodyLimit, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(Authenticate)
    app.add_middleware(
        SecurityHeaders, console_csp=routes_console.content_security_policy(settings)
    )

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz() -> JSONResponse:
        """The database answers (every shard's)."""
        try:
            ready = all(shard.store.ping() for shard in deployment.contexts.values())
        except Exception:  # noqa: BLE001 - any failure means "not ready", reported as such
            ready = False
        return JSONResponse(
            {"status": "ready" if ready else "unavailable"}, status_code=200 if ready else 503
        )

    app.include_router(routes_admin.router)
    app.include_router(routes_line.router)
    app.include_router(routes_messages.router)
    app.include_router(routes_events.router)
    app.include_router(routes_webhooks.router)
    app.include_router(routes_incidents.router)
    app.include_router(routes_proof.router)
    app.include_router(routes_console.router)
    error_docs.document(app)
    return app


def serving_app(target: Context | Deployment, settings: Settings | None = None) -> FastAPI:
    """`create_app` for a process that will do nothing but serve it, its garbage collector set
    for that (api/collector.py): what `deconfliction serve` and its workers run."""
    app = create_app(target, settings)
    settle_for_serving()
    return app
