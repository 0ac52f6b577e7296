"""``$regex`` in SQL: DuckDB's ``regexp_matches`` (RE2) answers exactly as the Python matcher,
both on the RE2 form alone and through ``find``/``count`` over data files."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import parquedb
from parquedb.query import compile_filter
from parquedb.query import regex as R
from parquedb.query.sql import translate

ALPHABET = "aAbB_1 \n\t\u00e9\u00c9\u0663\u00a0\u2028iI\u0130\u0131k\u212a.-"
_ATOMS = ["a", "b", "A", "k", ".", r"\d", r"\W", r"\s", r"\S", "[ab]", "[^a]", "[a-z]",
          "\u00e9", r"\n", "i", "^", "$", r"\A", r"\Z", r"\b", r"\w"]


def _patterns() -> st.SearchStrategy[str]:
    def grow(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.lists(inner, min_size=1, max_size=3).map("".join),
            st.tuples(inner, inner).map(lambda p: f"{p[0]}|{p[1]}"),
            st.tuples(inner, st.sampled_from(["*", "+", "?", "{1,2}"])).map(
                lambda p: f"(?:{p[0]}){p[1]}"),
            inner.map(lambda p: f"(?i:{p})"),
        )
    return st.recursive(st.sampled_from(_ATOMS), grow, max_leaves=6)


_OPTIONS = st.sampled_from(["", "i", "m", "s", "im", "ms", "ims"])
TEXTS = ["", "a", "A", "ab\n", "a\nb", "\u00e9t\u00e9", "\u0663\u0663", "k\u212a", "I\u0131",
         "\u0130i", "a b", "a\u00a0b", "x\u2028y", "__1", "B.b-", "\n", "aaa\n\n", "\u00c9A"]


@pytest.fixture(scope="module")
def db() -> Iterator[parquedb.Database]:
    name = f"memory://rx-{uuid.uuid4().hex}"
    d = parquedb.connect(name)
    d.notes.create_many([{"$id": f"n{i}", "s": t} for i, t in enumerate(TEXTS)]
                        + [{"$id": f"m{i}", "s": f"{t} {u}"} for i, (t, u)
                           in enumerate(zip(TEXTS, reversed(TEXTS), strict=True))])
    d.compact()  # data files: reads go through DuckDB
    yield d
    d.close()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pattern=_patterns(), options=_OPTIONS)
def test_regexp_matches_gives_the_matchers_answer(pattern: str, options: str) -> None:
    flags = sum(getattr(re, o.upper()) for o in options)
    try:
        rx = R.compile_regex(pattern, flags)
    except parquedb.errors.InvalidFilterError:
        return
    if rx.sql is None:
        return
    con = duckdb.connect()
    got = con.execute("SELECT s, regexp_matches(s, ?) FROM unnest(?) t(s)",
                      [rx.sql, TEXTS]).fetchall()
    for text, answer in got:
        assert answer == (re.search(pattern, text, flags) is not None), (pattern, options,
                                                                         text, rx.sql)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(pattern=_patterns(), options=_OPTIONS)
def test_find_with_pushdown_equals_the_matcher(db: parquedb.Database, pattern: str,
                                               options: str) -> None:
    flt = {"s": {"$regex": pattern, "$options": options}}
    try:
        pred = compile_filter(flt)
    except parquedb.errors.InvalidFilterError:
        return
    everything = db.notes.find(limit=None)
    expected = sorted(e["$id"] for e in everything if pred(e))
    assert sorted(e["$id"] for e in db.notes.find(flt)) == expected
    assert db.notes.count(flt) == len(expected)


def test_regex_is_exact_in_sql_when_re2_can_say_it() -> None:
    where, params, exact = translate({"s": {"$regex": "^ab+$", "$options": "i"}},
                                     {"s": "string"})
    assert exact and "regexp_matches" in where and params
    _w, _p, exact = translate({"s": {"$regex": r"(a)\1"}}, {"s": "string"})
    assert not exact  # a backreference: the matcher decides
    _w, _p, exact = translate({"s": {"$regex": r"\bab\b"}}, {"s": "string"})
    assert not exact  # Unicode \b: RE2 answers for ASCII strings only
    _w, _p, exact = translate({"s": {"$regex": "a|(?i:a)"}}, {"s": "string"})
    assert not exact  # DuckDB's older RE2 factors this alternation wrongly


def test_a_compiled_pattern_as_a_value_goes_through_sql_too(db: parquedb.Database) -> None:
    by_value = db.notes.find({"s": re.compile("^a", re.I)})
    by_operator = db.notes.find({"s": {"$regex": "^a", "$options": "i"}})
    assert [e["$id"] for e in by_value] == [e["$id"] for e in by_operator]
    assert len(by_value) > 0
    assert db.notes.count({"s": re.compile("^a", re.I)}) == len(by_value)
