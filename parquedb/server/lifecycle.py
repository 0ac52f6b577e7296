"""Running the app under uvicorn until a signal, and stopping cleanly.

SIGTERM or SIGINT: uvicorn stops accepting connections, lets the requests in flight finish
(up to ``graceful_timeout`` seconds), then the app's lifespan flushes and closes the
database; ``serve`` then returns and the process exits 0. (Uvicorn itself re-raises the
signal once it has stopped, which would end the process as "killed by SIGTERM"; a graceful
stop is a success here, so this server does not.) A second SIGINT forces the exit.
"""

from __future__ import annotations

import logging
import math
import os
import signal
from types import FrameType
from typing import Any

import uvicorn

import parquedb
from parquedb.errors import ConfigurationError, ErrorCode
from parquedb.observability import configure_logging
from parquedb.server.app import build_app
from parquedb.server.config import DEFAULT_GRACEFUL_TIMEOUT, check_port, is_loopback

log = logging.getLogger("parquedb.server")

#: options of ``serve`` that configure the server; any other goes to ``parquedb.connect``
SERVER_OPTIONS = ("max_body_bytes", "dataset", "graceful_timeout", "log_level")
LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")


class GracefulServer(uvicorn.Server):
    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        else:
            self.should_exit = True


def log_to_stderr(level: str) -> None:
    """Show parquedb's own log (a failed flush, a failed request) beside uvicorn's, unless the
    application configured logging itself (root handlers, or ``PARQUEDB_LOG_LEVEL``)."""
    if logging.getLogger().handlers or os.environ.get("PARQUEDB_LOG_LEVEL"):
        return
    configure_logging(level.upper() if level.upper() in LEVELS else "INFO",
                      json=os.environ.get("PARQUEDB_LOG_FORMAT", "").lower() == "json")


def run_server(uri: Any, *, host: str, port: int, token: str | None,
               storage_options: dict[str, Any] | None, **options: Any) -> None:
    server_opts = {k: options.pop(k) for k in SERVER_OPTIONS if k in options}
    check_port(port)
    log_to_stderr(str(server_opts.get("log_level", "info")))
    if not isinstance(host, str) or not host:
        raise ConfigurationError("host must be a non-empty string", code=ErrorCode.INVALID_CONFIG)
    if not is_loopback(host):
        log.warning("listening on %s: reachable from other machines; put TLS in front", host)
    if isinstance(uri, (str, os.PathLike)):  # open first: a bad URI is the caller's error
        if storage_options is not None:
            options["storage_options"] = storage_options
        db = parquedb.connect(uri, **options)
        owns = True
    else:
        db, owns = uri, False
    try:
        app = build_app(db, token=token, close_db=owns,
                        **{k: v for k, v in server_opts.items()
                           if k in ("max_body_bytes", "dataset")})
        config = uvicorn.Config(
            app, host=host, port=port, lifespan="on", access_log=False, server_header=False,
            log_level=server_opts.get("log_level", "info"),
            timeout_graceful_shutdown=math.ceil(server_opts.get("graceful_timeout",
                                                                DEFAULT_GRACEFUL_TIMEOUT)))
        server = GracefulServer(config)
        try:
            server.run()
        except SystemExit as e:  # uvicorn exits when it cannot bind: a coded error instead
            if server.started:
                raise
            raise _not_started(host, port) from e
    finally:
        if owns:
            db.close()  # idempotent: the lifespan closed it already after a normal stop
    if not server.started:
        raise _not_started(host, port)


def _not_started(host: str, port: int) -> ConfigurationError:
    return ConfigurationError(f"the server could not start on {host}:{port} (address in use, "
                              "or not an address of this machine; see the log)",
                              code=ErrorCode.INVALID_CONFIG, host=host, port=port)


__all__ = ["LEVELS", "SERVER_OPTIONS", "GracefulServer", "log_to_stderr", "run_server"]
