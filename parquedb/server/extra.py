"""The ``server`` extra: Starlette and uvicorn are optional, so their absence is a coded
``ConfigurationError`` that says how to install them, raised when a server is made."""

from __future__ import annotations

import importlib

from parquedb.errors import ConfigurationError, ErrorCode

REQUIRED = ("starlette", "uvicorn")
INSTALL_HINT = "pip install 'parquedb[server]'"


def missing_modules() -> list[str]:
    missing = []
    for name in REQUIRED:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing


def require_server_extra() -> None:
    """Raise ``ConfigurationError`` (``MISSING_CONFIG``) unless Starlette and uvicorn are
    importable."""
    missing = missing_modules()
    if missing:
        raise ConfigurationError(
            f"the server needs {', '.join(missing)}: {INSTALL_HINT}",
            code=ErrorCode.MISSING_CONFIG, missing=missing, install=INSTALL_HINT)


__all__ = ["INSTALL_HINT", "REQUIRED", "missing_modules", "require_server_extra"]
