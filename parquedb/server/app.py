"""The Starlette app: routes, the lifespan that opens and closes the database, and errors as
coded JSON (the wire format of ``parquedb.errors``) for every status, 404 and 405 included.

Database work blocks (storage requests), so every handler runs it in a worker thread and the
event loop stays free to accept and answer other requests meanwhile."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from parquedb.errors import ErrorCode, NotFoundError, ParqueDBError, error_from_status
from parquedb.observability import CONTENT_TYPE
from parquedb.server.auth import check_bearer
from parquedb.server.body import PAYLOAD_TOO_LARGE, parse_json, read_body
from parquedb.server.config import (
    DEFAULT_DATASET,
    DEFAULT_MAX_BODY_BYTES,
    ServerConfig,
    resolve_token,
)
from parquedb.server.dashboard import dashboard_data
from parquedb.server.metrics import metrics_text
from parquedb.server.page import CSP, render_page, render_sections
from parquedb.server.responses import JSONAnswer, error_answer
from parquedb.server.state import ServerState

log = logging.getLogger("parquedb.server")

NO_STORE = {"Cache-Control": "no-store"}


def _answer_status(error: ParqueDBError) -> int | None:
    """The status an error's own context asks for (413 for an oversized body), else None."""
    return PAYLOAD_TOO_LARGE if error.context.get("status") == PAYLOAD_TOO_LARGE else None


def _internal(e: BaseException) -> ParqueDBError:
    log.error("request failed", exc_info=e)
    return ParqueDBError("internal server error", code=ErrorCode.INTERNAL, cause=e)


def _ingest_route(state: ServerState, endpoint: str,
                  work: Callable[[Any], Any], count: Callable[[Any], int]) -> Any:
    """A POST handler: token, size-limited body, then JSON parsing and ``work`` in a thread;
    answered 2xx only once ``work`` returned (the records are durable)."""

    async def handler(request: Request) -> Response:
        started = time.perf_counter()
        size, records = 0, 0
        try:
            check_bearer(request.headers.get("authorization"), state.config.token)
            body = await read_body(request, state.config.max_body_bytes)
            size = len(body)
            # parsing a large body is CPU work too: off the event loop, with the write
            result = await run_in_threadpool(lambda: work(parse_json(body)))
            records = count(result)
            answer: Response = JSONAnswer(result if isinstance(result, dict)
                                          else {"records": result}, headers=NO_STORE)
        except ParqueDBError as e:
            headers = {"WWW-Authenticate": "Bearer"} \
                if e.code is ErrorCode.AUTHENTICATION_REQUIRED else None
            answer = error_answer(e, _answer_status(e), headers)
        except Exception as e:
            answer = error_answer(_internal(e))
        state.counters.observe(endpoint, answer.status_code, records=records, size=size,
                               seconds=time.perf_counter() - started)
        return answer

    return handler


def build_app(db_or_uri: Any, *, token: str | None = None,
              max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, dataset: str = DEFAULT_DATASET,
              close_db: bool | None = None, storage_options: dict[str, Any] | None = None,
              connect_options: dict[str, Any] | None = None) -> Starlette:
    config = ServerConfig(token=resolve_token(token), max_body_bytes=max_body_bytes,
                          dataset=dataset)
    opts = dict(connect_options or {})
    if storage_options is not None:
        opts["storage_options"] = storage_options
    state = ServerState(db_or_uri, config, close_db=close_db, connect_options=opts)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await run_in_threadpool(state.open)
        try:
            yield
        finally:  # uvicorn runs this after the requests in flight have finished
            await run_in_threadpool(state.close)

    async def health(request: Request) -> Response:
        report = await run_in_threadpool(state.db.health)
        status = 503 if report.get("status") == "down" else 200
        return JSONAnswer(report, status_code=status, headers=NO_STORE)

    async def metrics(request: Request) -> Response:
        text = await run_in_threadpool(metrics_text, state)
        return Response(text, media_type=CONTENT_TYPE, headers=NO_STORE)

    async def page(request: Request) -> Response:
        data = await run_in_threadpool(dashboard_data, state)
        return HTMLResponse(render_page(data), headers={
            **NO_STORE, "Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer"})

    async def api_dashboard(request: Request) -> Response:
        data = await run_in_threadpool(dashboard_data, state)
        data["sections"] = render_sections(data)
        if data["ai"].get("available"):
            data["ai"] = {k: v for k, v in data["ai"].items() if k != "chart_svg"}
        return JSONAnswer(data, headers=NO_STORE)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        err = NotFoundError(f"no such path: {request.url.path}", code=ErrorCode.NOT_FOUND,
                            path=request.url.path) if exc.status_code == 404 else \
            error_from_status(exc.status_code, f"{exc.detail}: {request.method} "
                              f"{request.url.path}", method=request.method)
        return error_answer(err, exc.status_code, dict(exc.headers or {}))

    async def unexpected(request: Request, exc: Exception) -> Response:
        return error_answer(_internal(exc))

    routes = [
        Route("/", page, methods=["GET"]),
        Route("/api/dashboard", api_dashboard, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/ingest/tail", _ingest_route(state, "tail", state.ingest_tail, int),
              methods=["POST"]),
        Route("/ingest/ai", _ingest_route(state, "ai", state.ingest_ai,
                                          lambda r: int(r["stored"])), methods=["POST"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={HTTPException: http_error, Exception: unexpected})
    app.state.server = state
    return app


__all__ = ["build_app"]
