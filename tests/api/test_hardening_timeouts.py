"""``timeout=`` on reads and SQL: past it a coded ``TimeoutError``, promptly, and the database
stays usable."""

from __future__ import annotations

import builtins
import time
import uuid
from collections.abc import Iterator

import pytest

import parquedb
from parquedb.errors import ErrorCode, TimeoutError, ValidationError  # noqa: A004

SLOW_REGEX = {"s": {"$regex": r"(a|aa)+\1$"}}  # a backreference: the bounded engine, ~20 ms


@pytest.fixture
def db() -> Iterator[parquedb.Database]:
    d = parquedb.connect(f"memory://timeouts-{uuid.uuid4().hex}")
    yield d
    d.close()


def _fill(db: parquedb.Database, n: int = 400) -> None:
    db.notes.create_many([{"s": "a" * 20 + "!", "n": i} for i in range(n)])


def _assert_prompt_timeout(call: object, limit: float, timeout: float) -> TimeoutError:
    started = time.perf_counter()
    with pytest.raises(TimeoutError) as info:
        call()  # type: ignore[operator]
    took = time.perf_counter() - started
    err = info.value
    assert err.code is ErrorCode.TIMEOUT
    assert isinstance(err, builtins.TimeoutError) and parquedb.errors.is_retryable(err)
    assert took < limit, took
    assert f"{timeout:g} s" in err.message
    return err


@pytest.mark.parametrize("compacted", [False, True], ids=["inline-rows", "data-files"])
def test_find_stops_at_its_timeout(db: parquedb.Database, compacted: bool) -> None:
    _fill(db)
    if compacted:
        db.compact()
    err = _assert_prompt_timeout(lambda: db.notes.find(SLOW_REGEX, timeout=0.3), 1.5, 0.3)
    assert err.context["operation"] == "find"
    # the database answers the next read normally
    assert db.notes.count({"n": {"$lt": 5}}) == 5
    assert len(db.notes.find({"n": 1}, timeout=5)) == 1


def test_count_and_aggregate_stop_at_their_timeout(db: parquedb.Database) -> None:
    _fill(db)
    _assert_prompt_timeout(lambda: db.notes.count(SLOW_REGEX, timeout=0.3), 1.5, 0.3)
    pipeline = [{"$match": SLOW_REGEX}, {"$group": {"_id": None, "c": {"$sum": 1}}}]
    _assert_prompt_timeout(lambda: db.notes.aggregate(pipeline, timeout=0.3), 1.5, 0.3)
    assert db.notes.aggregate([{"$count": "c"}], timeout=5) == [{"c": 400}]


def test_find_one_passes_the_timeout(db: parquedb.Database) -> None:
    _fill(db)
    _assert_prompt_timeout(lambda: db.notes.find_one({**SLOW_REGEX, "n": {"$gte": 399}},
                                                     timeout=0.2), 1.5, 0.2)


def test_sql_is_interrupted_at_its_timeout(db: parquedb.Database) -> None:
    _fill(db, 10)
    slow = ("SELECT count(*) FROM range(100000000) a, range(100000) b "
            "WHERE a.range + b.range = 7")
    err = _assert_prompt_timeout(lambda: db.sql(slow, timeout=0.3), 1.5, 0.3)
    assert err.context["operation"] == "sql"
    assert db.sql("SELECT count(*) AS c FROM notes").to_pylist() == [{"c": 10}]
    assert db.sql("SELECT 42 AS x", timeout=5).to_pylist() == [{"x": 42}]
    assert db.notes.count() == 10


def test_a_timeout_that_is_not_reached_changes_nothing(db: parquedb.Database) -> None:
    _fill(db, 50)
    assert len(db.notes.find({"n": {"$lt": 10}}, timeout=10)) == 10
    time.sleep(0.05)
    # no stray interrupt from the disarmed timer reaches a later query
    assert db.sql("SELECT count(*) AS c FROM notes").to_pylist() == [{"c": 50}]


def test_the_regex_bound_yields_to_a_shorter_deadline(db: parquedb.Database) -> None:
    db.notes.create({"s": "a" * 60 + "!"})  # one match alone would take minutes
    _assert_prompt_timeout(lambda: db.notes.find(SLOW_REGEX, timeout=0.2), 1.2, 0.2)


@pytest.mark.parametrize("bad", ["1", True, [1]])
def test_timeout_must_be_a_number(db: parquedb.Database, bad: object) -> None:
    for call in (lambda: db.notes.find(timeout=bad), lambda: db.notes.count(timeout=bad),
                 lambda: db.notes.aggregate([], timeout=bad),
                 lambda: db.sql("SELECT 1", timeout=bad)):
        with pytest.raises(builtins.TypeError):
            call()


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf")])
def test_timeout_must_be_positive_and_finite(db: parquedb.Database, bad: float) -> None:
    with pytest.raises(ValidationError) as info:
        db.notes.find(timeout=bad)
    assert info.value.code is ErrorCode.INVALID_INPUT
