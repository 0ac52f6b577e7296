"""Public API (API.md "Errors"): classes, codes, built-in bases, wire format, and that a bad
input writes NOTHING (the files under the store root are unchanged) and never escapes the root.
"""

from __future__ import annotations

import builtins
import json
import pickle
from datetime import date, time, timedelta
from decimal import Decimal

import pytest

from parquedb import errors as E
from parquedb.errors import ErrorCode, ParqueDBError

from helpers import walk_tree

#: the codes API.md allows on a ValidationError (INVALID_OPERATOR only for unknown update ops)
VALIDATION_CODES = {"VALIDATION_FAILED", "INVALID_TYPE", "REQUIRED_FIELD", "INVALID_INPUT"}


# =========================================================================================
# the hierarchy
# =========================================================================================
HIERARCHY = [
    ("ValidationError", "ParqueDBError", ValueError, "VALIDATION_FAILED"),
    ("NotFoundError", "ParqueDBError", LookupError, None),
    ("EntityNotFoundError", "NotFoundError", LookupError, "ENTITY_NOT_FOUND"),
    ("CollectionNotFoundError", "NotFoundError", LookupError, "COLLECTION_NOT_FOUND"),
    ("ConflictError", "ParqueDBError", None, None),
    ("VersionConflictError", "ConflictError", None, "VERSION_CONFLICT"),
    ("AlreadyExistsError", "ConflictError", None, "ALREADY_EXISTS"),
    ("CommitConflictError", "ConflictError", None, "COMMIT_CONFLICT"),
    ("QueryError", "ParqueDBError", ValueError, "QUERY_ERROR"),
    ("InvalidFilterError", "QueryError", ValueError, "INVALID_FILTER"),
    ("StorageError", "ParqueDBError", OSError, "STORAGE_ERROR"),
    ("PathTraversalError", "StorageError", OSError, "PATH_TRAVERSAL"),
    ("NetworkError", "StorageError", OSError, "NETWORK_ERROR"),
    ("CircuitOpenError", "StorageError", OSError, "CIRCUIT_OPEN"),
    ("AuthorizationError", "ParqueDBError", None, "AUTHORIZATION_ERROR"),
    ("ConfigurationError", "ParqueDBError", None, "CONFIGURATION_ERROR"),
    ("TimeoutError", "ParqueDBError", builtins.TimeoutError, "TIMEOUT"),
    ("MVError", "ParqueDBError", None, "MV_ERROR"),
]


@pytest.mark.parametrize("name,parent,builtin,code", HIERARCHY)
def test_error_class_hierarchy(name, parent, builtin, code):
    cls = getattr(E, name)
    assert issubclass(cls, getattr(E, parent))
    assert issubclass(cls, ParqueDBError) and issubclass(cls, Exception)
    if builtin is not None:
        assert issubclass(cls, builtin)
    err = cls("boom")
    if code is not None:
        assert err.code == code and err.code == ErrorCode(code)
        assert isinstance(err.code, str) and err.code.value == code
    assert err.message == "boom"
    assert isinstance(err.context, dict)
    d = err.to_dict()
    json.dumps(d)
    back = ParqueDBError.from_dict(json.loads(json.dumps(d)))
    assert type(back) is cls and back.code == err.code and back.message == "boom"


def test_error_code_enum_values_equal_names():
    for c in ErrorCode:
        assert c.value == c.name
    assert isinstance(ErrorCode.VERSION_CONFLICT, str)


def test_type_guards():
    assert E.is_not_found_error(E.EntityNotFoundError("x"))
    assert not E.is_not_found_error(E.ValidationError("x"))
    assert E.is_conflict_error(E.AlreadyExistsError("x"))
    assert E.is_conflict_error(E.VersionConflictError("x"))
    assert E.is_version_conflict_error(E.VersionConflictError("x"))
    assert not E.is_version_conflict_error(E.AlreadyExistsError("x"))
    assert E.is_storage_error(E.PathTraversalError("x"))
    assert not E.is_storage_error(E.QueryError("x"))
    for cls in (E.NetworkError, E.CircuitOpenError, E.TimeoutError, E.CommitConflictError):
        assert E.is_retryable(cls("x")), cls
    for cls in (E.ValidationError, E.VersionConflictError, E.AlreadyExistsError, E.QueryError,
                E.StorageError, E.PathTraversalError, E.EntityNotFoundError, E.MVError):
        assert not E.is_retryable(cls("x")), cls
    assert not E.is_retryable(ValueError("x"))


# =========================================================================================
# helpers: every bad call must raise a coded error and write nothing
# =========================================================================================
@pytest.fixture
def seeded(local_db, local_store):
    local_db.posts.create({"$id": "a", "n": 1, "s": "text", "tags": ["x"]})
    local_db.posts.create({"$id": "b", "n": 2})
    local_db.posts.create({"$id": "gone", "n": 3})
    local_db.posts.delete("gone")
    return local_db


class Unchanged:
    """Snapshot the store root and its parent; on exit both must be exactly as before,
    and every entity the API can see must be unchanged too."""

    def __init__(self, db, store):
        self.db, self.store = db, store

    def _entities(self):
        return {n: list(self.db[n].find(include_deleted=True)) for n in self.db.list_collections()}

    def __enter__(self):
        self.root = walk_tree(self.store.root)
        self.parent = walk_tree(self.store.parent)
        self.state = self._entities()
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            assert walk_tree(self.store.root) == self.root, "a failed call wrote files"
            assert walk_tree(self.store.parent) == self.parent, "a file appeared next to the root"
            assert self._entities() == self.state
        return False


def raises_coded(cls, code=None, codes=None):
    class _Ctx:
        def __enter__(self):
            self._cm = pytest.raises(cls)
            self.info = self._cm.__enter__()
            return self.info

        def __exit__(self, *exc):
            handled = self._cm.__exit__(*exc)
            if handled:
                err = self.info.value
                assert isinstance(err, ParqueDBError)
                assert isinstance(err.code, ErrorCode)
                if code is not None:
                    assert err.code == code, f"code {err.code}, expected {code}: {err}"
                if codes is not None:
                    assert err.code in codes, f"code {err.code} not in {sorted(codes)}: {err}"
                d = err.to_dict()
                json.dumps(d)
                back = ParqueDBError.from_dict(d)
                assert type(back) is type(err) and back.code == err.code
            return handled
    return _Ctx()


# =========================================================================================
# ValidationError on create
# =========================================================================================
RESERVED = ["version", "createdAt", "createdBy", "updatedAt", "updatedBy", "deletedAt",
            "deletedBy"]


@pytest.mark.parametrize("field", RESERVED)
def test_create_reserved_field_is_validation_error(seeded, local_store, field):
    with Unchanged(seeded, local_store), raises_coded(E.ValidationError):
        seeded.posts.create({"x": 1, field: "v"})


def test_create_reserved_field_code_is_a_documented_validation_code(seeded):
    """API.md: ValidationError.code is VALIDATION_FAILED, or INVALID_TYPE / REQUIRED_FIELD /
    INVALID_INPUT (INVALID_OPERATOR only for an unknown update operator)."""
    for field in RESERVED:
        with raises_coded(E.ValidationError, codes=VALIDATION_CODES):
            seeded.posts.create({"x": 1, field: "v"})


class Weird:
    pass


BAD_DOCS = {
    "dollar_key": ({"$x": 1}, "INVALID_INPUT"),
    "nested_dollar_key": ({"a": {"$x": 1}}, "INVALID_INPUT"),
    "dollar_key_in_list": ({"a": [{"$where": 1}]}, "INVALID_INPUT"),
    "dollar_id_nested": ({"a": {"$id": "x"}}, "INVALID_INPUT"),
    "dotted_key": ({"a.b": 1}, "INVALID_INPUT"),
    "nested_dotted_key": ({"a": {"b.c": 1}}, "INVALID_INPUT"),
    "int_too_big": ({"n": 2**63}, "INVALID_INPUT"),
    "int_too_small": ({"n": -(2**63) - 1}, "INVALID_INPUT"),
    "int_too_big_nested": ({"n": [1, {"m": 2**70}]}, "INVALID_INPUT"),
    "lone_surrogate": ({"s": "a\ud800b"}, "INVALID_INPUT"),
    "lone_surrogate_key": ({"a\udfff": 1}, "INVALID_INPUT"),
    "lone_surrogate_nested": ({"s": ["\udc00"]}, "INVALID_INPUT"),
    "set": ({"x": {1, 2}}, "INVALID_TYPE"),
    "tuple": ({"x": (1, 2)}, "INVALID_TYPE"),
    "frozenset": ({"x": frozenset()}, "INVALID_TYPE"),
    "decimal": ({"x": Decimal("1.5")}, "INVALID_TYPE"),
    "object": ({"x": Weird()}, "INVALID_TYPE"),
    "date": ({"x": date(2020, 1, 1)}, "INVALID_TYPE"),
    "time": ({"x": time(1, 2)}, "INVALID_TYPE"),
    "timedelta": ({"x": timedelta(1)}, "INVALID_TYPE"),
    "bytearray": ({"x": bytearray(b"a")}, "INVALID_TYPE"),
    "complex": ({"x": 1j}, "INVALID_TYPE"),
    "nested_set": ({"x": {"y": [{1}]}}, "INVALID_TYPE"),
    "non_str_key": ({"x": {1: "a"}}, None),
    "type_not_str": ({"$type": 5}, None),
    "id_not_str": ({"$id": 5}, None),
}


@pytest.mark.parametrize("case", sorted(BAD_DOCS))
def test_create_bad_document(seeded, local_store, case):
    doc, code = BAD_DOCS[case]
    with (Unchanged(seeded, local_store),
          raises_coded(E.ValidationError, code=code, codes=VALIDATION_CODES)):
        seeded.posts.create(doc)


@pytest.mark.parametrize("case", sorted(BAD_DOCS))
def test_create_many_bad_document(seeded, local_store, case):
    doc, code = BAD_DOCS[case]
    with (Unchanged(seeded, local_store),
          raises_coded(E.ValidationError, code=code, codes=VALIDATION_CODES)):
        seeded.posts.create_many([{"ok": 1}, doc, {"ok": 2}])


@pytest.mark.parametrize("case", sorted(k for k in BAD_DOCS if not k.endswith("not_str")))
def test_update_set_bad_value(seeded, local_store, case):
    doc, code = BAD_DOCS[case]
    with Unchanged(seeded, local_store):
        with raises_coded(E.ValidationError, code=code, codes=VALIDATION_CODES):
            seeded.posts.update("a", {"$set": {"v": doc}})
        with raises_coded(E.ValidationError, code=code, codes=VALIDATION_CODES):
            seeded.posts.update_many({}, {"$set": {"v": doc}})
        with raises_coded(E.ValidationError, code=code, codes=VALIDATION_CODES):
            seeded.posts.upsert({"k": "new"}, {"$set": {"v": doc}})
        with raises_coded(E.ValidationError, code=code, codes=VALIDATION_CODES):
            seeded.posts.update("zz", {"$set": {"v": doc}}, upsert=True)


def test_create_not_a_dict(seeded, local_store):
    with Unchanged(seeded, local_store):
        for bad in ("x", 1, None, [{"a": 1}]):
            with pytest.raises((E.ValidationError, TypeError)):
                seeded.posts.create(bad)
        for bad in ([1], ["x"], [None]):
            with pytest.raises((E.ValidationError, TypeError)):
                seeded.posts.create_many(bad)


def test_id_of_another_collection_is_rejected(seeded, local_store):
    with Unchanged(seeded, local_store), raises_coded(E.ValidationError, codes=VALIDATION_CODES):
        seeded.posts.create({"$id": "users/x"})


# =========================================================================================
# ValidationError on updates
# =========================================================================================
@pytest.mark.parametrize("field", RESERVED)
@pytest.mark.parametrize("op", ["$set", "$unset", "$inc", "$setOnInsert", "$currentDate",
                                "$max", "$rename_to", "$rename_from"])
def test_update_reserved_field(seeded, local_store, field, op):
    if op == "$rename_to":
        upd = {"$rename": {"n": field}}
    elif op == "$rename_from":
        upd = {"$rename": {field: "n2"}}
    elif op == "$unset":
        upd = {"$unset": {field: ""}}
    elif op == "$currentDate":
        upd = {"$currentDate": {field: True}}
    else:
        upd = {op: {field: 1}}
    with Unchanged(seeded, local_store):
        with raises_coded(E.ValidationError):
            seeded.posts.update("a", upd)
        with raises_coded(E.ValidationError):
            seeded.posts.update_many({}, upd)
        with raises_coded(E.ValidationError):
            seeded.posts.upsert({"k": 1}, upd)


def test_update_reserved_field_code_is_a_documented_validation_code(seeded):
    for field in RESERVED:
        with raises_coded(E.ValidationError, codes=VALIDATION_CODES):
            seeded.posts.update("a", {"$set": {field: 1}})


@pytest.mark.parametrize("upd", [{"n": 5}, {"n": 5, "$set": {"m": 1}}, {"$set": {"m": 1}, "n": 5}])
def test_update_without_operators(seeded, local_store, upd):
    with Unchanged(seeded, local_store):
        with raises_coded(E.ValidationError, codes=VALIDATION_CODES):
            seeded.posts.update("a", upd)
        with raises_coded(E.ValidationError, codes=VALIDATION_CODES):
            seeded.posts.update_many({}, upd)
        with raises_coded(E.ValidationError, codes=VALIDATION_CODES):
            seeded.posts.upsert({"k": 1}, upd)
        with raises_coded(E.ValidationError, codes=VALIDATION_CODES):
            seeded.posts.update("missing", upd, upsert=True)


@pytest.mark.parametrize("op", ["$foo", "$setx", "$where", "$"])
def test_unknown_update_operator(seeded, local_store, op):
    with Unchanged(seeded, local_store):
        with raises_coded(E.ValidationError, code="INVALID_OPERATOR"):
            seeded.posts.update("a", {op: {"n": 1}})
        with raises_coded(E.ValidationError, code="INVALID_OPERATOR"):
            seeded.posts.update_many({}, {op: {"n": 1}})
        with raises_coded(E.ValidationError, code="INVALID_OPERATOR"):
            seeded.posts.upsert({"k": 1}, {op: {"n": 1}})
        with raises_coded(E.ValidationError, code="INVALID_OPERATOR"):
            seeded.posts.update("missing", {op: {"n": 1}}, upsert=True)


@pytest.mark.parametrize("upd", [
    {"$inc": {"s": 1}},
    {"$inc": {"n": "1"}},
    {"$inc": {"tags": 1}},
    {"$inc": {"n": None}},
    {"$mul": {"s": 2}},
])
def test_inc_on_non_number(seeded, local_store, upd):
    with Unchanged(seeded, local_store):
        with raises_coded(E.ValidationError, codes=VALIDATION_CODES):
            seeded.posts.update("a", upd)
        with raises_coded(E.ValidationError, codes=VALIDATION_CODES):
            seeded.posts.update_many({}, upd)


def test_update_bad_dotted_or_dollar_paths(seeded, local_store):
    with Unchanged(seeded, local_store):
        for upd in ({"$set": {"a.$b": 1}}, {"$set": {"$x": 1}}, {"$set": {"x": {"a.b": 1}}},
                    {"$set": {"x": {"$y": 1}}}, {"$set": {"x": 2**64}}, {"$push": {"tags": {1}}}):
            with raises_coded(E.ValidationError, codes=VALIDATION_CODES):
                seeded.posts.update("a", upd)


def test_update_not_a_dict(seeded, local_store):
    with Unchanged(seeded, local_store):
        for bad in ("x", None, [("$set", {"a": 1})]):
            with pytest.raises((E.ValidationError, TypeError)):
                seeded.posts.update("a", bad)


def test_bad_return_document(seeded, local_store):
    with Unchanged(seeded, local_store), pytest.raises((E.ValidationError, TypeError)):
        seeded.posts.update("a", {"$set": {"n": 9}}, return_document="middle")


def test_bad_actor(seeded, local_store):
    with Unchanged(seeded, local_store):
        for bad in ("", 5):
            with pytest.raises((E.ValidationError, TypeError)):
                seeded.posts.create({"x": 1}, actor=bad)


def test_validation_error_is_a_value_error(seeded):
    with pytest.raises(ValueError):
        seeded.posts.create({"version": 1})
    with pytest.raises(ValueError):
        seeded.posts.update("a", {"$nope": {"x": 1}})


def test_validation_error_names_the_field(seeded):
    with pytest.raises(E.ValidationError) as ei:
        seeded.posts.create({"outer": {"inner": [1, {1, 2}]}})
    assert "outer" in str(ei.value)


# =========================================================================================
# AlreadyExistsError, VersionConflictError, NotFoundError
# =========================================================================================
def test_already_exists(seeded, local_store):
    with Unchanged(seeded, local_store):
        for eid in ("a", "posts/a", "gone", "posts/gone"):
            with raises_coded(E.AlreadyExistsError, code="ALREADY_EXISTS") as ei:
                seeded.posts.create({"$id": eid, "x": 1})
            assert isinstance(ei.value, E.ConflictError)
            assert E.is_conflict_error(ei.value)
            assert not E.is_retryable(ei.value)
        with raises_coded(E.AlreadyExistsError, code="ALREADY_EXISTS"):
            seeded.posts.create_many([{"$id": "new"}, {"$id": "a"}])


def test_version_conflict(seeded, local_store):
    with Unchanged(seeded, local_store):
        for ev in (0, 2, 99):
            with raises_coded(E.VersionConflictError, code="VERSION_CONFLICT") as ei:
                seeded.posts.update("a", {"$set": {"n": 5}}, expected_version=ev)
            assert isinstance(ei.value, E.ConflictError)
            assert E.is_version_conflict_error(ei.value) and E.is_conflict_error(ei.value)
            with raises_coded(E.VersionConflictError, code="VERSION_CONFLICT"):
                seeded.posts.delete("a", expected_version=ev)
            with raises_coded(E.VersionConflictError, code="VERSION_CONFLICT"):
                seeded.posts.delete("a", hard=True, expected_version=ev)


def test_version_conflict_on_a_missing_entity(seeded, local_store):
    """expected_version=1 on an entity that does not exist (or is soft-deleted) differs."""
    with Unchanged(seeded, local_store):
        with raises_coded(E.VersionConflictError, code="VERSION_CONFLICT"):
            seeded.posts.update("missing", {"$set": {"n": 5}}, expected_version=1)
        with raises_coded(E.VersionConflictError, code="VERSION_CONFLICT"):
            seeded.posts.update("gone", {"$set": {"n": 5}}, expected_version=2)


def test_restore_not_found(seeded, local_store):
    with Unchanged(seeded, local_store):
        with pytest.raises(E.NotFoundError) as ei:
            seeded.posts.restore("missing")
        assert isinstance(ei.value, LookupError)
        assert E.is_not_found_error(ei.value)


# =========================================================================================
# InvalidFilterError / QueryError
# =========================================================================================
BAD_FILTERS = [
    {"n": {"$foo": 1}},
    {"$foo": [{"n": 1}]},
    {"n": {"$gt": 1, "$bogus": 2}},
    {"$and": [{"n": {"$nope": 1}}]},
    {"tags": {"$elemMatch": {"$zzz": 1}}},
    {"n": {"$not": {"$what": 1}}},
]


@pytest.mark.parametrize("flt", BAD_FILTERS)
def test_unknown_filter_operator(seeded, local_store, flt):
    c = seeded.posts
    calls = [
        lambda: c.find(flt), lambda: c.find_one(flt), lambda: c.count(flt),
        lambda: c.update_many(flt, {"$set": {"z": 1}}), lambda: c.delete_many(flt),
        lambda: c.delete_many(flt, hard=True), lambda: c.upsert(flt, {"$set": {"z": 1}}),
    ]
    with Unchanged(seeded, local_store):
        for call in calls:
            with raises_coded(E.InvalidFilterError, code="INVALID_FILTER") as ei:
                call()
            assert isinstance(ei.value, E.QueryError) and isinstance(ei.value, ValueError)


def test_unknown_filter_operator_on_empty_collection(db):
    with raises_coded(E.InvalidFilterError, code="INVALID_FILTER"):
        db.empty.find({"n": {"$foo": 1}})
    with raises_coded(E.InvalidFilterError, code="INVALID_FILTER"):
        db.empty.count({"n": {"$foo": 1}})


def test_bad_regex_is_query_error(seeded):
    with pytest.raises(E.QueryError):
        seeded.posts.find({"s": {"$regex": "("}})


def test_bad_find_arguments_are_query_errors(seeded, local_store):
    with Unchanged(seeded, local_store):
        for kw in ({"limit": -1}, {"skip": -1}, {"cursor": "not-a-cursor"},
                   {"sort": {"n": 2}}, {"project": {"n": 1, "s": 0}}):
            with raises_coded(E.QueryError) as ei:
                seeded.posts.find(**kw)
            assert isinstance(ei.value, ValueError)


def test_query_error_code_is_a_documented_code(seeded):
    """API.md's code table: QueryError -> QUERY_ERROR, InvalidFilterError -> INVALID_FILTER."""
    for kw in ({"limit": -1}, {"cursor": "not-a-cursor"}, {"sort": {"n": 2}},
               {"project": {"n": 1, "s": 0}}):
        with raises_coded(E.QueryError, codes={"QUERY_ERROR", "INVALID_FILTER"}):
            seeded.posts.find(**kw)


# =========================================================================================
# path safety
# =========================================================================================
BAD_IDS = ["../x", "/etc/passwd", "a/../../b", "posts/../../x", "..", ".", "posts/..",
           "posts/.", "x\x00y", "\x00", "posts/a/b", "a/b", "", "posts/", "/", "//x",
           "posts//x", "../../../../../../tmp/evil", "\n", "x\ny"]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_bad_id_on_create_is_a_coded_error(local_db, local_store, bad):
    with Unchanged(local_db, local_store):
        with raises_coded((E.ValidationError, E.PathTraversalError)):
            local_db.posts.create({"$id": bad, "x": 1})
        with raises_coded((E.ValidationError, E.PathTraversalError)):
            local_db.posts.create_many([{"$id": "fine"}, {"$id": bad}])
    assert local_db.posts.get("fine") is None


@pytest.mark.parametrize("bad", BAD_IDS)
def test_bad_id_on_other_calls_never_escapes(seeded, local_store, bad):
    c = seeded.posts
    calls = [
        lambda: c.get(bad), lambda: c.get(bad, include_deleted=True),
        lambda: c.update(bad, {"$set": {"x": 1}}),
        lambda: c.update(bad, {"$set": {"x": 1}}, upsert=True),
        lambda: c.delete(bad), lambda: c.delete(bad, hard=True),
        lambda: c.restore(bad), lambda: c.history(bad),
        lambda: c.find({"$id": bad}), lambda: c.count({"$id": bad}),
        lambda: c.upsert({"$id": bad}, {"$set": {"x": 1}}),
    ]
    with Unchanged(seeded, local_store):
        for call in calls:
            try:
                r = call()
            except (E.ValidationError, E.PathTraversalError, E.NotFoundError) as err:
                assert isinstance(err.code, ErrorCode)
            else:
                assert (r in (None, False, []) or (hasattr(r, "items") and r.items == [])
                        or r == 0), (bad, r)


@pytest.mark.parametrize("bad", ["../x", "/etc", "a/b", "..", ".", "x\x00", "posts/../x",
                                 "posts\\..\\x", "C:", "s3://b", "memory://x", " posts", "posts "])
def test_bad_collection_name_is_a_coded_error(local_db, local_store, bad):
    with Unchanged(local_db, local_store):
        for get in (local_db.collection, local_db.__getitem__):
            with raises_coded(E.ValidationError) as ei:
                get(bad)
            assert isinstance(ei.value, ValueError)
        with pytest.raises(E.ValidationError), local_db.transaction() as tx:
            tx.collection(bad)
        with pytest.raises(E.ValidationError):
            local_db.compact(bad)


def test_odd_but_valid_ids_stay_inside_the_root(local_db, local_store):
    """Ids are data, not paths: whatever they hold, nothing may appear outside the root."""
    parent = walk_tree(local_store.parent)
    odd = ["..\\..\\x", "...", "..x", "x..", "%2e%2e", "~", "$HOME", "*", "CON", "a:b",
           "é/".rstrip("/"), "-rf", " ", "x" * 400]
    created = []
    for eid in odd:
        try:
            created.append(local_db.posts.create({"$id": eid})["$id"])
        except ParqueDBError as err:
            assert isinstance(err.code, ErrorCode)
    for eid in created:
        assert local_db.posts.get(eid)["$id"] == eid
    local_db.compact()
    after = walk_tree(local_store.parent)
    outside = {k for k in after if not k.startswith("db/") and k != "db/"}
    assert outside == {k for k in parent if not k.startswith("db/") and k != "db/"}


# =========================================================================================
# errors travel: pickle and JSON keep class, code, context
# =========================================================================================
def test_raised_errors_round_trip(seeded):
    raised = []
    for call in (lambda: seeded.posts.create({"$id": "a"}),
                 lambda: seeded.posts.update("a", {"$set": {"n": 1}}, expected_version=7),
                 lambda: seeded.posts.find({"n": {"$zz": 1}}),
                 lambda: seeded.posts.create({"version": 1})):
        with pytest.raises(ParqueDBError) as ei:
            call()
        raised.append(ei.value)
    for err in raised:
        back = ParqueDBError.from_dict(json.loads(json.dumps(err.to_dict())))
        assert type(back) is type(err)
        assert back.code == err.code and back.message == err.message
        assert back.context == json.loads(json.dumps(err.context))
        p = pickle.loads(pickle.dumps(err))
        assert type(p) is type(err) and p.code == err.code


# =========================================================================================
# other Database calls' documented errors
# =========================================================================================
def test_vacuum_short_retain_needs_force(seeded, local_store):
    with Unchanged(seeded, local_store), raises_coded(E.ValidationError):
        seeded.vacuum(retain=timedelta(minutes=5))


SQL_ESCAPES = [
    "COPY (SELECT 1) TO '{out}/evil.csv'",
    "ATTACH '{out}/evil.db' AS evil",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('/etc/hostname')",
    "SELECT * FROM read_parquet('{out}/../*.parquet')",
    "INSTALL httpfs",
    "CREATE TABLE t AS SELECT 1",
    "INSERT INTO posts VALUES (1)",
    "DELETE FROM posts",
    "SET enable_external_access = true",
    "SELECT 1; COPY (SELECT 1) TO '{out}/evil2.csv'",
    "PRAGMA version",
]


def test_sql_cannot_touch_files_or_write(seeded, local_store):
    """API.md: db.sql is read-only; COPY, ATTACH, read_csv('/etc/passwd') ... raise QueryError."""
    with Unchanged(seeded, local_store):
        for query in SQL_ESCAPES:
            q = query.format(out=local_store.parent)
            with pytest.raises(E.QueryError) as ei:
                seeded.sql(q)
            assert isinstance(ei.value, ValueError)
