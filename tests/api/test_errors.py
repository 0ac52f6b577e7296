"""parquedb.errors: codes, hierarchy, context fields, the JSON wire format (hypothesis over
messages and contexts, every class), cause chains, stacks, guards, retryability, HTTP mapping
and redaction of secrets."""

from __future__ import annotations

import builtins
import json
import pickle

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parquedb import errors as E
from parquedb.errors import ErrorCode, ParqueDBError

ALL_CLASSES = [
    E.ParqueDBError, E.ValidationError, E.NotFoundError, E.EntityNotFoundError,
    E.CollectionNotFoundError, E.ConflictError, E.VersionConflictError, E.AlreadyExistsError,
    E.CommitConflictError, E.QueryError, E.InvalidFilterError, E.StorageError,
    E.PathTraversalError, E.NetworkError, E.CircuitOpenError, E.AuthorizationError,
    E.ConfigurationError, E.TimeoutError, E.MVError,
]


# -- codes ---------------------------------------------------------------------------------
def test_codes_are_str_enum_equal_to_their_names():
    for c in ErrorCode:
        assert c.value == c.name and isinstance(c, str) and str(c) == c.name
        assert ErrorCode(c.name) is c


@pytest.mark.parametrize("code,cat", [
    ("UNKNOWN", "general"), ("INTERNAL", "general"), ("TIMEOUT", "general"),
    ("VALIDATION_FAILED", "validation"), ("REQUIRED_FIELD", "validation"),
    ("ENTITY_NOT_FOUND", "not_found"), ("VERSION_CONFLICT", "conflict"),
    ("CIRCULAR_RELATIONSHIP", "relationship"), ("INVALID_FILTER", "query"),
    ("PATH_TRAVERSAL", "storage"), ("NETWORK_ERROR", "storage"),
    ("PERMISSION_DENIED", "authorization"), ("MISSING_CONFIG", "configuration"),
    ("RPC_UNAVAILABLE", "backend"), ("INDEX_BUILD_ERROR", "index"), ("EVENT_ERROR", "event"),
    ("MV_ERROR", "materialized_view"),
])
def test_every_category_has_its_codes(code, cat):
    assert E.category(code) == cat
    assert E.category(ErrorCode(code)) == cat


def test_every_code_has_a_category():
    assert set(E.CATEGORIES) == set(ErrorCode)
    assert E.category("NOT_A_CODE") == "general"


# -- hierarchy and context -----------------------------------------------------------------
@pytest.mark.parametrize("cls", ALL_CLASSES)
def test_every_class_default_code_and_builtin_base(cls):
    e = cls("boom")
    assert isinstance(e, ParqueDBError) and e.code == cls.default_code
    assert e.message == "boom" and str(e) == f"[{e.code.value}] boom"
    assert cls.__name__ in repr(e)


def test_builtin_bases_keep_plain_handlers_working():
    assert isinstance(E.ValidationError("x"), ValueError)
    assert isinstance(E.QueryError("x"), ValueError)
    assert isinstance(E.NotFoundError("x"), LookupError)
    assert isinstance(E.StorageError("x"), OSError)
    assert isinstance(E.TimeoutError("x"), builtins.TimeoutError)
    with pytest.raises(OSError):
        raise E.NetworkError("down")


def test_context_fields_and_properties():
    e = E.VersionConflictError("stale", collection="posts", entity_id="posts/1",
                               operation="update", expected=3, actual=4, field="title",
                               path="posts/data/x.parquet", ignored=None)
    assert e.context == {"collection": "posts", "entity_id": "posts/1", "operation": "update",
                         "expected": 3, "actual": 4, "field": "title",
                         "path": "posts/data/x.parquet"}
    assert (e.collection, e.namespace, e.entity_id, e.operation, e.expected, e.actual,
            e.field, e.path) == ("posts", "posts", "posts/1", "update", 3, 4, "title",
                                 "posts/data/x.parquet")
    e2 = E.NotFoundError("x", namespace="users")
    assert e2.collection == "users" and e2.namespace == "users"
    e2.entity_id = "users/7"
    assert e2.context["entity_id"] == "users/7"
    assert E.ParqueDBError("x").collection is None


def test_validation_error_only_carries_documented_codes():
    allowed = {"VALIDATION_FAILED", "INVALID_TYPE", "REQUIRED_FIELD", "INVALID_INPUT",
               "INVALID_OPERATOR"}
    for code in ErrorCode:
        e = E.ValidationError("x", code=code)
        assert e.code.value in allowed
        if code.value not in allowed:
            assert e.context["detail_code"] == code.value
    assert E.ValidationError("x", code="RESERVED_FIELD").code == "INVALID_INPUT"


def test_cause_is_kept():
    root = OSError(5, "disk on fire")
    e = E.StorageError("write failed", cause=root, path="_log/1.json")
    assert e.__cause__ is root


# -- wire format ---------------------------------------------------------------------------
def _json_roundtrip(d: dict) -> dict:
    return json.loads(json.dumps(d))


json_scalars = (st.none() | st.booleans() | st.integers(min_value=-2**63, max_value=2**63 - 1)
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30))
json_values = st.recursive(json_scalars,
                           lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                           max_leaves=12)
contexts = st.dictionaries(
    st.sampled_from(["collection", "entity_id", "operation", "path", "field", "expected",
                     "actual"]) | st.text(min_size=1, max_size=10),
    json_values, max_size=6)
# messages without anything the redactor would rewrite (that is tested separately)
messages = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1,
                   max_size=60).filter(lambda m: E.redact(m) == m)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cls=st.sampled_from(ALL_CLASSES), message=messages, context=contexts,
       chain=st.lists(st.tuples(st.sampled_from([*ALL_CLASSES, OSError, ValueError, KeyError]),
                                messages), max_size=3))
def test_wire_roundtrip_every_class(cls, message, context, chain):
    ctx = {k: v for k, v in context.items() if v is not None}
    err = cls(message, context=ctx)
    # build a cause chain: err <- c1 <- c2 ...
    tail = err
    for ccls, cmsg in chain:
        cause = ccls(cmsg) if not issubclass(ccls, ParqueDBError) else ccls(cmsg, operation="x")
        tail.__cause__ = cause
        tail = cause
    wire = _json_roundtrip(err.to_dict())
    back = ParqueDBError.from_dict(wire)
    assert type(back) is cls
    assert back.code == err.code and back.message == err.message
    assert back.context == _json_roundtrip(err.context)
    # the chain comes back, class by class
    a, b = err.__cause__, back.__cause__
    for _ in chain:
        assert type(b) is type(a)
        if isinstance(a, ParqueDBError):
            assert b.message == a.message and b.code == a.code and b.context == a.context
        else:
            assert str(b) == str(a)
        a, b = a.__cause__, b.__cause__
    assert b is None
    # and the wire form is a fixed point
    assert _json_roundtrip(back.to_dict()) == wire


@pytest.mark.parametrize("cls", ALL_CLASSES)
def test_wire_roundtrip_keeps_a_non_default_code(cls):
    err = cls("m", code=ErrorCode.SNAPSHOT_NOT_FOUND if cls is E.NotFoundError
              else cls.default_code)
    back = ParqueDBError.from_dict(_json_roundtrip(err.to_dict()))
    assert type(back) is cls and back.code == err.code


def test_wire_shape_and_stack_only_when_asked():
    try:
        try:
            raise OSError(5, "io")
        except OSError as inner:
            raise E.NetworkError("GET x failed", path="x", cause=inner) from inner
    except E.NetworkError as caught:
        err = caught
    d = err.to_dict()
    assert set(d) == {"name", "code", "message", "context", "cause"}
    assert d["name"] == "NetworkError" and d["code"] == "NETWORK_ERROR"
    assert d["cause"]["name"] == "OSError" and d["cause"]["code"] == "UNKNOWN"
    assert "stack" not in json.dumps(d)
    ds = err.to_dict(include_stack=True)
    assert "test_errors.py" in ds["stack"] and "stack" in ds["cause"]
    back = ParqueDBError.from_dict(_json_roundtrip(ds))
    assert back.remote_stack == ds["stack"] and "remote_stack" not in back.context
    assert "cause" not in err.to_dict(include_cause=False)


def test_wire_unknown_names_and_codes():
    back = ParqueDBError.from_dict({"name": "SomeFutureError", "code": "NOT_A_CODE",
                                    "message": "m", "context": {"a": 1}})
    assert type(back) is ParqueDBError and back.code == ErrorCode.UNKNOWN
    assert back.to_dict()["name"] == "SomeFutureError"
    assert back.context == {"a": 1}
    with pytest.raises(TypeError):
        ParqueDBError.from_dict("nope")  # type: ignore[arg-type]


def test_wire_non_json_context_values_are_made_safe():
    from datetime import UTC, datetime

    e = E.ValidationError("x", context={"when": datetime(2026, 1, 2, tzinfo=UTC),
                                        "t": (1, 2), "nan": float("nan"), "b": b"\x00",
                                        "obj": object()})
    d = _json_roundtrip(e.to_dict())
    assert d["context"]["when"] == "2026-01-02T00:00:00+00:00"
    assert d["context"]["t"] == [1, 2] and d["context"]["nan"] == "nan"
    assert isinstance(d["context"]["obj"], str)
    json.dumps(e.to_dict(), allow_nan=False)


def test_pickle_keeps_class_context_and_cause():
    e = E.AlreadyExistsError("dup", entity_id="posts/1", cause=ValueError("v"))
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is E.AlreadyExistsError and back.context == e.context
    assert isinstance(back.__cause__, ValueError)


def test_cause_cycle_does_not_loop():
    a, b = E.StorageError("a"), E.StorageError("b")
    a.__cause__, b.__cause__ = b, a
    d = a.to_dict()
    depth = 0
    while "cause" in d:
        d, depth = d["cause"], depth + 1
    assert depth <= 16


# -- guards and retry ----------------------------------------------------------------------
def test_guards():
    assert E.is_parquedb_error(E.MVError("x")) and not E.is_parquedb_error(ValueError())
    assert E.is_not_found_error(E.CollectionNotFoundError("x"))
    assert E.is_conflict_error(E.CommitConflictError("x"))
    assert E.is_version_conflict_error(E.VersionConflictError("x"))
    assert E.is_already_exists_error(E.AlreadyExistsError("x"))
    assert E.is_storage_error(E.CircuitOpenError("x"))
    assert E.is_network_error(E.NetworkError("x"))
    assert E.is_circuit_open_error(E.CircuitOpenError("x"))
    assert E.is_query_error(E.InvalidFilterError("x"))
    assert E.is_validation_error(E.ValidationError("x"))
    assert E.is_authorization_error(E.AuthorizationError("x"))
    assert E.is_configuration_error(E.ConfigurationError("x"))
    assert E.is_timeout_error(E.TimeoutError("x"))
    assert not E.is_timeout_error(builtins.TimeoutError("x"))
    assert E.is_mv_error(E.MVError("x"))


@pytest.mark.parametrize("cls", ALL_CLASSES)
def test_is_retryable_exactly_the_documented_classes(cls):
    expected = cls in (E.NetworkError, E.CircuitOpenError, E.TimeoutError, E.CommitConflictError)
    assert E.is_retryable(cls("x")) is expected
    # and the verdict survives the wire
    assert E.is_retryable(ParqueDBError.from_dict(cls("x").to_dict())) is expected


def test_is_retryable_foreign():
    assert not E.is_retryable(OSError("x")) and not E.is_retryable(None)


# -- HTTP ----------------------------------------------------------------------------------
@pytest.mark.parametrize("err,status", [
    (E.ValidationError("x"), 400), (E.QueryError("x"), 400), (E.InvalidFilterError("x"), 400),
    (E.NotFoundError("x"), 404), (E.EntityNotFoundError("x"), 404),
    (E.VersionConflictError("x"), 409), (E.AlreadyExistsError("x"), 409),
    (E.CommitConflictError("x"), 409), (E.ConflictError("x", code="ETAG_MISMATCH"), 412),
    (E.AuthorizationError("x"), 403),
    (E.AuthorizationError("x", code="AUTHENTICATION_REQUIRED"), 401),
    (E.TimeoutError("x"), 504), (E.NetworkError("x"), 502), (E.CircuitOpenError("x"), 503),
    (E.PathTraversalError("x"), 400), (E.StorageError("x"), 500),
    (E.StorageError("x", code="QUOTA_EXCEEDED"), 507), (E.ConfigurationError("x"), 500),
    (E.ConfigurationError("x", code="DATABASE_CLOSED"), 503), (E.MVError("x"), 500),
    (E.ParqueDBError("x"), 500), (E.ParqueDBError("x", code="NOT_SUPPORTED"), 501),
    (ValueError("x"), 400), (KeyError("x"), 404), (RuntimeError("x"), 500),
])
def test_http_status(err, status):
    assert E.http_status(err) == status


@pytest.mark.parametrize("status,cls,code,retryable", [
    (400, E.ValidationError, "INVALID_INPUT", False),
    (401, E.AuthorizationError, "AUTHENTICATION_REQUIRED", False),
    (403, E.AuthorizationError, "PERMISSION_DENIED", False),
    (404, E.NotFoundError, "NOT_FOUND", False),
    (408, E.TimeoutError, "TIMEOUT", True),
    (409, E.ConflictError, "CONFLICT", False),
    (412, E.ConflictError, "ETAG_MISMATCH", False),
    (422, E.ValidationError, "VALIDATION_FAILED", False),
    (429, E.NetworkError, "RATE_LIMITED", True),
    (418, E.ParqueDBError, "INVALID_INPUT", False),
    (500, E.ParqueDBError, "INTERNAL", False),
    (501, E.ParqueDBError, "NOT_SUPPORTED", False),
    (502, E.NetworkError, "NETWORK_ERROR", True),
    (503, E.NetworkError, "RPC_UNAVAILABLE", True),
    (504, E.TimeoutError, "TIMEOUT", True),
    (507, E.StorageError, "QUOTA_EXCEEDED", False),
])
def test_error_from_status(status, cls, code, retryable):
    e = E.error_from_status(status, "msg", url_path="/x")
    assert type(e) is cls and e.code == code and e.message == "msg"
    assert e.context == {"status": status, "url_path": "/x"}
    assert E.is_retryable(e) is retryable
    assert E.error_from_status(status).message == f"HTTP {status}"


def test_status_roundtrip_keeps_the_family():
    for cls in ALL_CLASSES:
        e = cls("x")
        back = E.error_from_status(E.http_status(e))
        assert E.http_status(back) == E.http_status(e) or E.http_status(e) == 500


# -- secrets -------------------------------------------------------------------------------
def test_messages_and_contexts_are_redacted():
    secret = "s3cr3t-Value-" + "Q" * 20
    E.register_secret(secret)
    e = E.StorageError(f"GET failed with {secret} inside", detail=f"x {secret} y",
                       nested={"k": [secret]})
    dumped = json.dumps(e.to_dict()) + str(e) + repr(e)
    assert secret not in dumped and "***" in e.message
    assert e.context["nested"] == {"k": ["***"]}


@pytest.mark.parametrize("text,leak", [
    ("s3://AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY@bucket/p", "wJalr"),
    ("s3://AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY@bucket/p", "AKIA"),
    ("storage_options={'key': 'k', 'secret': 'hunter2hunter2'}", "hunter2"),
    ('{"password": "p@ssw0rd!"}', "p@ssw0rd"),
    ("aws_secret_access_key=abcdEFGH1234", "abcdEFGH"),
    ("Authorization: Bearer eyJhbGciOi.payload.sig", "eyJhbGciOi"),
    ("https://x.r2.dev/o?X-Amz-Signature=deadbeefcafe&X-Amz-Credential=AKID%2F", "deadbeef"),
    ("token=tok_live_123456", "tok_live"),
])
def test_redact_patterns(text, leak):
    out = E.redact(text)
    assert leak not in out and "***" in out
    assert E.redact(out) == out  # idempotent


def test_redact_leaves_ordinary_messages_alone():
    for msg in ["a key that starts with $ is not allowed: '$x'",
                "posts/hello does not exist", "GET _log/00000000000000000001.json failed",
                "unknown top-level operator '$bad'", "expected version 3, found 4"]:
        assert E.redact(msg) == msg


def test_register_secrets_from_options_and_short_values_ignored():
    E.register_secrets({"key": "AKID-REGISTERED-1", "secret": "SECRET-REGISTERED-1",
                        "client_kwargs": {"aws_session_token": "TOKEN-REGISTERED-1"},
                        "endpoint_url": "http://localhost:9000", "anon": False})
    out = E.redact("AKID-REGISTERED-1 SECRET-REGISTERED-1 TOKEN-REGISTERED-1 "
                   "http://localhost:9000")
    assert out == "*** *** *** http://localhost:9000"
    E.register_secret("abc")  # too short to be a credential: ignored
    assert E.redact("abc") == "abc"
