"""How a failed command ends: one line ``error [CODE]: message`` on stderr and an exit status
(0 ok, 1 a problem found or an operation failed, 2 bad usage or no store there). The
traceback is shown only with ``--debug`` or ``PARQUEDB_DEBUG=1``."""

from __future__ import annotations

import os
import sys
import traceback

import click

OK, FAILED, USAGE = 0, 1, 2
#: codes that mean "the command was asked for something that cannot be": exit 2
_USAGE_CODES = {"STORE_NOT_FOUND", "NOT_A_STORE", "INVALID_CONFIG", "MISSING_CONFIG",
                "CONFIGURATION_ERROR", "UNSUPPORTED_FORMAT_VERSION"}


class BadUsage(click.UsageError):
    """A bad argument found by a command itself (a filter that is not JSON, say): exit 2."""

    def __init__(self, message: str, code: str = "INVALID_INPUT") -> None:
        super().__init__(message)
        self.code = code


def debug_enabled() -> bool:
    return os.environ.get("PARQUEDB_DEBUG", "") not in ("", "0")


def report(exc: BaseException) -> int:
    """Print ``exc`` as one coded line (and its traceback when debugging); its exit status."""
    from parquedb.errors import ParqueDBError

    if debug_enabled():
        traceback.print_exception(exc, file=sys.stderr)
    if isinstance(exc, click.UsageError):
        code = getattr(exc, "code", None) or "INVALID_INPUT"
        where = exc.ctx.command_path if exc.ctx is not None else "parquedb"
        _line(code, f"{exc.format_message()} (see '{where} --help')")
        return USAGE
    if isinstance(exc, ParqueDBError):
        code = str(exc.code.value if hasattr(exc.code, "value") else exc.code)
        message = exc.message
        if code == "STORE_NOT_FOUND":  # the library's hint names connect(); here, commands
            message = message.split(". Open it with")[0] + \
                " (reading commands never create a store; import or restore make one)"
        _line(code, message)
        return USAGE if code in _USAGE_CODES else FAILED
    if isinstance(exc, click.ClickException):  # a file that cannot be opened, say
        _line("INVALID_INPUT", exc.format_message())
        return USAGE
    if isinstance(exc, BrokenPipeError):  # `parquedb find ... | head`: not a failure
        return OK
    _line("INTERNAL", f"{type(exc).__name__}: {exc} (run with --debug for the traceback)")
    return FAILED


def _line(code: str, message: str) -> None:
    text = " ".join(str(message).split())  # one line, whatever the message holds
    sys.stderr.write(f"error [{code}]: {text}\n")
    sys.stderr.flush()


__all__ = ["FAILED", "OK", "USAGE", "BadUsage", "debug_enabled", "report"]
