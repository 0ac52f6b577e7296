"""AI request logs: checked arguments, GenAI token conventions, one or many per commit."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

import parquedb
from parquedb.errors import ErrorCode, ValidationError
from parquedb.observability.ai import record_ai_request, record_ai_requests
from parquedb.testing import commit_seq


@pytest.fixture
def db(tmp_path: Any) -> Any:
    d = parquedb.connect(str(tmp_path / "db"))
    yield d
    d.close()


def test_a_request_is_an_entity_of_ai_logs(db: Any) -> None:
    e = record_ai_request(db, model="gpt-4o-2024-08-06", provider=" OpenAI ", input_tokens=1200,
                          output_tokens=300, latency_ms=850.0, tenant="acme",
                          cache_read_tokens=200, metadata={"route": "/chat"})
    got = db.ai_logs.get(e["$id"])
    assert got["model"] == "gpt-4o-2024-08-06" and got["provider"] == "openai"
    assert (got["input_tokens"], got["output_tokens"], got["cache_read_tokens"],
            got["cache_write_tokens"], got["reasoning_tokens"]) == (1200, 300, 200, 0, 0)
    assert got["cached"] is False and got["request_type"] == "chat"
    assert got["timestamp"].tzinfo is UTC and got["metadata"] == {"route": "/chat"}
    naive = record_ai_request(db, model="m", timestamp=datetime(2026, 1, 1))
    assert naive["timestamp"] == datetime(2026, 1, 1, tzinfo=UTC)


def test_many_in_one_commit_all_or_nothing(db: Any) -> None:
    seq = commit_seq(db)
    ids = record_ai_requests(db, [{"model": "a", "input_tokens": 1}, {"model": "b"}])
    assert len(ids) == 2 and commit_seq(db) == seq + 1
    with pytest.raises(ValidationError):
        record_ai_requests(db, [{"model": "c"}, {"model": "d", "input_tokens": -1}])
    assert db.ai_logs.count() == 2


@pytest.mark.parametrize("fields, code", [
    ({}, ErrorCode.REQUIRED_FIELD),
    ({"model": ""}, ErrorCode.REQUIRED_FIELD),
    ({"model": 3}, ErrorCode.INVALID_TYPE),
    ({"model": "m", "input_tokens": 1.5}, ErrorCode.INVALID_TYPE),
    ({"model": "m", "input_tokens": True}, ErrorCode.INVALID_INPUT),
    ({"model": "m", "output_tokens": -1}, ErrorCode.INVALID_INPUT),
    ({"model": "m", "input_tokens": 10, "cache_read_tokens": 8, "cache_write_tokens": 3},
     ErrorCode.INVALID_INPUT),
    ({"model": "m", "output_tokens": 1, "reasoning_tokens": 2}, ErrorCode.INVALID_INPUT),
    ({"model": "m", "latency_ms": -5}, ErrorCode.INVALID_INPUT),
    ({"model": "m", "latency_ms": float("nan")}, ErrorCode.INVALID_INPUT),
    ({"model": "m", "timestamp": "2026-01-01"}, ErrorCode.INVALID_TYPE),
    ({"model": "m", "colour": "red"}, ErrorCode.INVALID_INPUT),
])
def test_bad_requests_write_nothing(db: Any, fields: dict[str, Any], code: ErrorCode) -> None:
    with pytest.raises(ValidationError) as e:
        record_ai_request(db, **fields)
    assert e.value.code == code
    assert db.ai_logs.count() == 0
