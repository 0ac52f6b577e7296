"""Logging under the ``parquedb`` logger: JsonFormatter, LoggingHook, PARQUEDB_LOG_LEVEL, and
that connection strings and secrets never reach a log line or an error message."""

from __future__ import annotations

import io
import json
import logging
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import parquedb
from parquedb.errors import InvalidFilterError, ParqueDBError, StorageError, redact
from parquedb.observability import JsonFormatter, LoggingHook, configure_logging
from parquedb.observability.logs import TextFormatter, apply_environment
from parquedb.testing import storage_of

from helpers import failing_gets
from helpers.processes import run_python


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Everything logged under ``parquedb`` at DEBUG, as JSON lines."""
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(JsonFormatter())
    lg = logging.getLogger("parquedb")
    old = lg.level
    lg.addHandler(handler)
    lg.setLevel(logging.DEBUG)
    try:
        yield buf
    finally:
        lg.removeHandler(handler)
        lg.setLevel(old)


def _lines(buf: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buf.getvalue().splitlines() if line.strip()]


def _record(msg: str = "hello %s", args: tuple = ("world",), **extra: Any) -> logging.LogRecord:
    rec = logging.LogRecord("parquedb.test", logging.INFO, __file__, 1, msg, args, None)
    rec.__dict__.update(extra)
    return rec


# -- the formatter -------------------------------------------------------------------------
def test_json_formatter_one_object_per_line_with_fields():
    fmt = JsonFormatter(static={"service": "api"})
    line = fmt.format(_record(operation="find", collection="posts", duration_ms=1.5, rows=3,
                              operation_id=7, error_code="X", trace_id="a" * 32,
                              span_id="b" * 16))
    assert "\n" not in line
    d = json.loads(line)
    assert d["message"] == "hello world" and d["level"] == "INFO"
    assert d["logger"] == "parquedb.test" and d["time"].endswith("Z")
    assert (d["operation"], d["collection"], d["duration_ms"], d["rows"], d["operation_id"],
            d["error_code"], d["trace_id"], d["span_id"], d["service"]) == \
        ("find", "posts", 1.5, 3, 7, "X", "a" * 32, "b" * 16, "api")


def test_json_formatter_exceptions_carry_their_code():
    fmt = JsonFormatter()
    try:
        raise InvalidFilterError("bad filter\nsecond line")
    except InvalidFilterError:
        rec = logging.LogRecord("parquedb", logging.ERROR, __file__, 1, "failed", (),
                                sys.exc_info())
    line = fmt.format(rec)
    assert "\n" not in line
    d = json.loads(line)
    assert d["error_code"] == "INVALID_FILTER"
    assert d["error"]["type"] == "InvalidFilterError" and "Traceback" in d["exception"]


def test_json_formatter_takes_trace_ids_from_the_current_span():
    sdk = pytest.importorskip("opentelemetry.sdk.trace")
    tracer = sdk.TracerProvider().get_tracer("t")
    with tracer.start_as_current_span("op") as span:
        d = json.loads(JsonFormatter().format(_record()))
        ctx = span.get_span_context()
    assert d["trace_id"] == format(ctx.trace_id, "032x")
    assert d["span_id"] == format(ctx.span_id, "016x")
    assert "trace_id" not in json.loads(JsonFormatter().format(_record()))


def test_text_formatter_appends_fields():
    line = TextFormatter().format(_record(operation="get", collection="posts"))
    assert "hello world" in line and "operation=get collection=posts" in line


# -- the hook ------------------------------------------------------------------------------
def test_logging_hook_logs_operations_and_errors(mdb, json_log):
    mdb.hooks.register(LoggingHook())
    p = mdb.posts.create({"title": "a"})
    mdb.posts.get(p["$id"])
    with pytest.raises(InvalidFilterError):
        mdb.posts.find({"$bad": 1})
    lines = [d for d in _lines(json_log) if d["logger"] == "parquedb.ops"]
    assert [d["operation"] for d in lines] == ["create", "get", "find"]
    create, get, find = lines
    assert create["collection"] == "posts" and create["rows"] == 1
    assert create["duration_ms"] >= 0 and create["level"] == "DEBUG"
    assert create["bytes_written"] > 0 and create["storage_requests"] >= 1
    assert get["rows"] == 1 and isinstance(get["operation_id"], int)
    assert find["error_code"] == "INVALID_FILTER" and "failed" in find["message"]


def test_logging_hook_storage_errors_at_warning(fdb, json_log):
    p = fdb.posts.create({"title": "a"})
    fdb.hooks.register(LoggingHook(storage_requests=True))
    st = storage_of(fdb)
    st.inject(failing_gets("disk on fire"))
    try:
        with pytest.raises(StorageError):
            fdb.posts.get(p["$id"])
    finally:
        st.clear()
    fdb.posts.get(p["$id"])
    lines = _lines(json_log)
    warn = [d for d in lines if d["logger"] == "parquedb.storage" and d["level"] == "WARNING"]
    assert warn and warn[0]["storage_kind"] == "GET" and warn[0]["error_code"] == "STORAGE_ERROR"
    ops = [d for d in lines if d["logger"] == "parquedb.ops"]
    assert ops[0]["level"] == "WARNING" and ops[0]["error_code"] == "STORAGE_ERROR"
    debug = [d for d in lines if d["logger"] == "parquedb.storage" and d["level"] == "DEBUG"]
    assert debug and debug[-1]["outcome"] in ("ok", "not_found")


def test_logging_hook_is_registered_when_debug_is_on():
    lg = logging.getLogger("parquedb")
    old = lg.level
    lg.setLevel(logging.DEBUG)
    try:
        db = parquedb.connect(f"memory://logs-{uuid.uuid4().hex}")
        assert any(isinstance(h, LoggingHook) for h in db.hooks.hooks)
        db.close()
    finally:
        lg.setLevel(old)
    db = parquedb.connect(f"memory://logs-{uuid.uuid4().hex}")
    assert not db.hooks.active
    db.close()


def test_configure_logging_replaces_its_handler():
    lg = logging.getLogger("parquedb")
    old_level, buf1, buf2 = lg.level, io.StringIO(), io.StringIO()
    try:
        h1 = configure_logging("INFO", json=True, stream=buf1)
        h2 = configure_logging(logging.INFO, json=True, stream=buf2)
        assert h1 not in lg.handlers and h2 in lg.handlers
        logging.getLogger("parquedb.engine").info("commit %d", 5)
        assert buf1.getvalue() == "" and json.loads(buf2.getvalue())["message"] == "commit 5"
    finally:
        lg.removeHandler(h2)
        lg.setLevel(old_level)


def test_apply_environment_sets_the_level():
    lg = logging.getLogger("parquedb")
    old = lg.level
    try:
        assert apply_environment({"PARQUEDB_LOG_LEVEL": "error"}) == logging.ERROR
        assert lg.level == logging.ERROR
        assert apply_environment({"PARQUEDB_LOG_LEVEL": "15"}) == 15
        assert apply_environment({}) is None
        assert apply_environment({"PARQUEDB_LOG_LEVEL": "nonsense"}) is None
    finally:
        lg.setLevel(old)


def test_parquedb_log_level_is_honoured_from_the_environment():
    code = """
        import logging, uuid, parquedb
        db = parquedb.connect(f"memory://env-{uuid.uuid4().hex}")
        db.posts.create({"a": 1})
        print(logging.getLevelName(logging.getLogger("parquedb").level))
    """
    out = run_python(code, PARQUEDB_LOG_LEVEL="DEBUG", PARQUEDB_LOG_FORMAT="json")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "DEBUG"
    lines = [json.loads(x) for x in out.stderr.splitlines() if x.startswith("{")]
    assert any(d.get("operation") == "create" and d["logger"] == "parquedb.ops" for d in lines)
    quiet = run_python(code, PARQUEDB_LOG_LEVEL="WARNING")
    assert quiet.returncode == 0 and quiet.stdout.strip() == "WARNING"
    assert quiet.stderr == ""
    silent = run_python(code)
    assert silent.returncode == 0 and silent.stderr == ""


# -- secrets -------------------------------------------------------------------------------
KEY = "AKIA" + "QWERTYUIOPASDFGH"
SECRET = "wJalr/" + uuid.uuid4().hex + "+Zz"


def test_secrets_never_reach_logs_or_error_messages(json_log, caplog):
    pytest.importorskip("s3fs")
    lg = logging.getLogger("parquedb")
    with (caplog.at_level(logging.DEBUG, logger="parquedb"),
          pytest.raises(Exception) as ei):  # nothing listens on port 9
        db = parquedb.connect(
            "s3://bucket/prefix",
            storage_options={"key": KEY, "secret": SECRET,
                             "endpoint_url": "http://127.0.0.1:9",
                             "config_kwargs": {"connect_timeout": 0.5, "read_timeout": 0.5,
                                               "retries": {"max_attempts": 1}}})
        db.close()
    assert lg.level == logging.DEBUG  # the fixture's level: everything was logged
    err = ei.value
    texts = [str(err), repr(err), json_log.getvalue()]
    texts += [r.getMessage() for r in caplog.records]
    if isinstance(err, ParqueDBError):
        texts.append(json.dumps(err.to_dict(include_stack=True)))
    for text in texts:
        assert SECRET not in text and KEY not in text
    # the credentials were registered when the database bound its storage
    assert redact(f"x {SECRET} {KEY} y") == "x *** *** y"


def test_credentials_in_messages_are_masked_in_every_output(mdb, json_log):
    class Leaky:
        def on_query_start(self, ctx):
            logging.getLogger("parquedb.app").warning(
                "opening s3://%s:%s@bucket with secret=%s", "AKIAABCDEFGHIJKLMNOP", "pw123456",
                "topsecret1")

    mdb.hooks.register(Leaky())
    mdb.posts.count()
    out = json_log.getvalue()
    assert "pw123456" not in out and "AKIAABCDEFGHIJKLMNOP" not in out
    assert "topsecret1" not in out and "s3://***@bucket" in out
    err = parquedb.errors.ConfigurationError(
        "cannot open s3://AKIAABCDEFGHIJKLMNOP:pw123456@bucket/p", uri="s3://u:pw123456@b")
    assert "pw123456" not in str(err) and "pw123456" not in json.dumps(err.to_dict())
    assert err.context["uri"] == "s3://***@b"
