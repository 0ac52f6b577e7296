"""``parquedb serve``: a sidecar HTTP server over one store — durable ingest endpoints for
Cloudflare Tail Workers and AI request logs, health and Prometheus metrics, and a dashboard.

    from parquedb.server import serve, create_app
    serve("./parquedb-data", port=8080)          # blocks until SIGTERM / SIGINT
    app = create_app(db, token="...")            # a Starlette app, for tests and embedding

Starlette and uvicorn come with the ``server`` extra (``pip install 'parquedb[server]'``); this
module imports them only when a server is made, so ``import parquedb.server`` always works.
See ``docs/guides/server.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from parquedb.server.config import DEFAULT_HOST, DEFAULT_MAX_BODY_BYTES, DEFAULT_PORT, TOKEN_ENV
from parquedb.server.extra import require_server_extra

if TYPE_CHECKING:
    from starlette.applications import Starlette


def create_app(db_or_uri: Any, *, token: str | None = None, **options: Any) -> Starlette:
    """The server's Starlette app over a ``Database`` or a URI (opened at start-up and closed
    at shutdown). ``token``: the ingest bearer token (default: ``$PARQUEDB_INGEST_TOKEN``;
    none: ingest is off). Options: ``max_body_bytes``, ``dataset``, ``close_db``,
    ``storage_options`` and ``connect_options`` (for a URI)."""
    require_server_extra()
    from parquedb.server.app import build_app

    return build_app(db_or_uri, token=token, **options)


def serve(uri: Any, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          token: str | None = None, storage_options: dict[str, Any] | None = None,
          **options: Any) -> None:
    """Serve the store at ``uri`` on ``host:port`` until SIGTERM or SIGINT, then finish the
    requests in flight, flush, close the database and return. Options of the server
    (``max_body_bytes``, ``dataset``, ``graceful_timeout``, ``log_level``) are taken from
    ``options``; the rest go to ``parquedb.connect``."""
    require_server_extra()
    from parquedb.server.lifecycle import run_server

    run_server(uri, host=host, port=port, token=token, storage_options=storage_options,
               **options)


__all__ = ["DEFAULT_HOST", "DEFAULT_MAX_BODY_BYTES", "DEFAULT_PORT", "TOKEN_ENV", "create_app",
           "serve"]
