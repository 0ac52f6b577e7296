"""JSON answers: values any handler returns in the plain form of
:mod:`parquedb.support.plain`, and every error in the wire format of ``parquedb.errors``
(``to_dict``) with its HTTP status."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from parquedb.errors import ParqueDBError, http_status
from parquedb.support.plain import to_plain


class JSONAnswer(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(to_plain(content))


def error_answer(error: ParqueDBError, status: int | None = None,
                 headers: dict[str, str] | None = None) -> Response:
    """``error.to_dict()`` as the body; the status is ``http_status(error)`` unless given."""
    return JSONAnswer(error.to_dict(), status_code=status or http_status(error), headers=headers)


__all__ = ["JSONAnswer", "error_answer"]
