"""Request bodies with a size limit: the declared ``Content-Length`` is checked before a byte is
read, and the bytes actually streamed are counted too (chunked bodies declare nothing)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from parquedb.errors import ErrorCode, ValidationError

PAYLOAD_TOO_LARGE = 413


def body_too_large(limit: int, size: int | None = None) -> ValidationError:
    """A body over the server's limit: a plain ``ValidationError`` whose context carries the
    status to answer with (413), so any client rebuilds it without knowing the server."""
    return ValidationError(f"request body over the limit of {limit} bytes",
                           code=ErrorCode.INVALID_INPUT, limit=limit, size=size,
                           status=PAYLOAD_TOO_LARGE)


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise ValidationError("Content-Length is not a number",
                                  code=ErrorCode.INVALID_INPUT) from None
        if size > limit:
            raise body_too_large(limit, size)
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise body_too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(body: bytes) -> Any:
    """The JSON value of ``body``; ``ValidationError`` (400) when it is not JSON."""
    if not body.strip():
        raise ValidationError("the request body is empty; send JSON",
                              code=ErrorCode.INVALID_INPUT)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise ValidationError(f"the request body is not JSON: {e}",
                              code=ErrorCode.INVALID_INPUT) from None


__all__ = ["PAYLOAD_TOO_LARGE", "body_too_large", "parse_json", "read_body"]
