"""Settings of the server: defaults, the ingest token, and the checks of what a caller gave."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from typing import Any

from parquedb.errors import ConfigurationError, ErrorCode

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
#: larger bodies are refused with 413 before they are parsed (a Tail Worker batch is far less)
DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
DEFAULT_DATASET = "logs/workers"
#: seconds uvicorn waits for requests in flight after SIGTERM before it cancels them
DEFAULT_GRACEFUL_TIMEOUT = 30.0
TOKEN_ENV = "PARQUEDB_INGEST_TOKEN"


def resolve_token(token: str | None) -> str | None:
    """The ingest token: the argument, else ``$PARQUEDB_INGEST_TOKEN``; empty means none."""
    if token is None:
        token = os.environ.get(TOKEN_ENV)
    if token is not None and not isinstance(token, str):
        raise ConfigurationError("token must be a string", code=ErrorCode.INVALID_CONFIG)
    return token or None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_port(port: Any) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ConfigurationError("port must be an int from 0 to 65535",
                                 code=ErrorCode.INVALID_CONFIG, port=repr(port))
    return port


@dataclass(frozen=True)
class ServerConfig:
    """What the app needs to know besides its database."""

    token: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    dataset: str = DEFAULT_DATASET

    def __post_init__(self) -> None:
        if isinstance(self.max_body_bytes, bool) or not isinstance(self.max_body_bytes, int) \
                or self.max_body_bytes < 1:
            raise ConfigurationError("max_body_bytes must be a positive int",
                                     code=ErrorCode.INVALID_CONFIG)
        if not isinstance(self.dataset, str) or not self.dataset:
            raise ConfigurationError("dataset must be a non-empty string",
                                     code=ErrorCode.INVALID_CONFIG)

    @property
    def ingest_enabled(self) -> bool:
        return self.token is not None


__all__ = ["DEFAULT_DATASET", "DEFAULT_GRACEFUL_TIMEOUT", "DEFAULT_HOST",
           "DEFAULT_MAX_BODY_BYTES", "DEFAULT_PORT", "TOKEN_ENV", "ServerConfig", "check_port",
           "is_loopback", "resolve_token"]
