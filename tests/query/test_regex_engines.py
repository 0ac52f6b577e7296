"""``$regex`` engines: RE2 gives Python's ``re`` answers on the patterns it takes, hostile
patterns finish at once (RE2) or stop at their bound (the backtracking fallback), and the
limits are coded errors."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parquedb.errors import ErrorCode, InvalidFilterError, QueryError
from parquedb.query import compile_filter
from parquedb.query import regex as R

# characters chosen to hit every difference the translation handles: newlines (anchors, dot),
# word/non-word and ASCII/non-ASCII (\b, \w), digits of other scripts (\d), Unicode spaces
# (\s), case pairs (i), the Turkish i's and the Kelvin sign (case folding)
ALPHABET = "aAbB_1 \n\t\u00e9\u00c9\u0663\u00a0\u2028iI\u0130\u0131k\u212a.-"

_ATOMS = ["a", "b", "A", "i", "I", "k", ".", r"\d", r"\D", r"\w", r"\W", r"\s", r"\S",
          "[ab]", "[^a]", r"[\w.]", r"[^\s\d]", "[a-z]", "[A-Z_]", "\u00e9", "\u0663", r"\n",
          r"\.", "[^\n]", r"[\W\d]", "[i-k]"]
_ANCHORS = ["^", "$", r"\A", r"\Z", r"\b", r"\B"]


def _patterns() -> st.SearchStrategy[str]:
    atom = st.sampled_from(_ATOMS + _ANCHORS)

    def grow(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.lists(inner, min_size=1, max_size=4).map("".join),
            st.tuples(inner, inner).map(lambda p: f"{p[0]}|{p[1]}"),
            inner.map(lambda p: f"({p})"),
            inner.map(lambda p: f"(?:{p})"),
            st.tuples(inner, st.sampled_from(["*", "+", "?", "{2}", "{1,3}", "*?", "+?"])).map(
                lambda p: f"(?:{p[0]}){p[1]}"),
            inner.map(lambda p: f"(?i:{p})"),
            inner.map(lambda p: f"(?-i:{p})"),
        )
    return st.recursive(atom, grow, max_leaves=8)


_FLAGS = st.sets(st.sampled_from([re.IGNORECASE, re.MULTILINE, re.DOTALL])).map(
    lambda fs: sum(fs, 0))


def _python_says(pattern: str, flags: int, text: str) -> bool | None:
    try:
        rx = re.compile(pattern, flags)
    except re.error:
        return None
    return rx.search(text) is not None


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pattern=_patterns(), flags=_FLAGS, texts=st.lists(st.text(ALPHABET, max_size=10),
                                                        min_size=1, max_size=6))
def test_every_engine_answers_as_python_re(pattern: str, flags: int, texts: list[str]) -> None:
    try:
        rx = R.compile_regex(pattern, flags)
    except InvalidFilterError:
        assert _python_says(pattern, flags, "") is None
        return
    for text in texts:
        if _known_difference(rx, pattern, flags, text):
            continue
        assert rx.search(text) == _python_says(pattern, flags, text), (pattern, flags, text,
                                                                       rx.engine)


_TURKISH = ("\u0130", "\u0131")


def _known_difference(rx: R.Regex, pattern: str, flags: int, text: str) -> bool:
    """The one documented difference: the bounded engine (the ``regex`` package) folds the
    Turkish dotted/dotless i apart from i/I under option i, where ``re`` folds them together."""
    folds = bool(flags & re.IGNORECASE) or "(?i" in pattern
    turkish = any(t in text or t in pattern for t in _TURKISH)
    return folds and turkish and rx.engine_for(text) == "bounded"


@settings(max_examples=600, deadline=None)
@given(pattern=_patterns(), flags=_FLAGS, texts=st.lists(st.text(ALPHABET, max_size=10),
                                                        min_size=1, max_size=6))
def test_the_re2_form_alone_gives_python_answers(pattern: str, flags: int,
                                                 texts: list[str]) -> None:
    """What DuckDB would run (``Regex.re2``) is exact on every string, not only on some."""
    import re2

    try:
        rx = R.compile_regex(pattern, flags)
    except InvalidFilterError:
        return
    if rx.re2 is None:
        return
    options = re2.Options()
    options.log_errors = False
    plain = re2.compile(rx.re2, options)
    for text in texts:
        assert (plain.search(text) is not None) == _python_says(pattern, flags, text), (
            pattern, flags, text, rx.re2)


@pytest.mark.parametrize(("pattern", "flags", "text", "expected"), [
    ("a$", 0, "a\n", True),            # $ also matches before a final newline
    ("a$", 0, "a\n\n", False),
    ("a\\Z", 0, "a\n", False),         # Python's \Z is the very end
    ("(?m)a$", 0, "a\nb", True),
    ("^b", 0, "a\nb", False),
    ("(?m)^b", 0, "a\nb", True),
    ("(?m)^$", 0, "a\n", True),
    ("a.b", 0, "a\nb", False),
    ("a.b", re.DOTALL, "a\nb", True),
    ("\\d", 0, "\u0663", True),        # Unicode digits, as in Python
    ("(?a)\\d", 0, "\u0663", False),
    ("\\w", 0, "\u00e9", True),
    ("\\s", 0, "\u2028", True),
    ("\\bcaf\u00e9\\b", 0, "un caf\u00e9!", True),
    ("\\bcaf\\b", 0, "caf\u00e9", False),  # \u00e9 is a word character: no boundary
    ("k", re.IGNORECASE, "\u212a", True),
    ("i", re.IGNORECASE, "\u0130", True),
    ("[^i]", re.IGNORECASE, "\u0130", False),
    ("a b # comment", re.VERBOSE, "ab", True),
    ("x{1001}", 0, "x" * 1001, True),   # over RE2's repeat limit: the bounded engine
    ("(a)\\1", 0, "aa", True),
    ("a(?=b)", 0, "ab", True),
    ("a$b", 0, "a\nb", False),
])
def test_semantic_corners(pattern: str, flags: int, text: str, expected: bool) -> None:
    assert _python_says(pattern, flags, text) is expected
    assert R.compile_regex(pattern, flags).search(text) is expected


def test_engine_choice() -> None:
    assert R.compile_regex("(a+)+$").engine == "re2"
    assert R.compile_regex(r"(\w+)\s\1").engine == "bounded"
    assert R.compile_regex("(?<=a)b").engine == "bounded"
    assert R.compile_regex(r"\bword\b").engine == "mixed"
    assert R.compile_regex(r"(?a)\bword\b").engine == "re2"
    assert R.compile_regex("item", re.IGNORECASE).engine == "mixed"  # holds an i
    assert R.compile_regex("post", re.IGNORECASE).engine == "re2"


# -- hostile patterns ---------------------------------------------------------------------------
HOSTILE = [
    ("(a+)+$", "a" * 30 + "b"),
    ("(a|aa)+$", "a" * 40 + "b"),
    ("(.*a){20}", "a" * 19 + "b" * 20),
    ("^(a*)*b", "a" * 5000 + "!"),
    ("^(\\w+\\s?)*$", "word " * 30 + "!"),
    ("(x+x+)+y", "x" * 5000),
    ("(?i)(a|A)+$", "aA" * 2000 + "b"),
]


@pytest.mark.parametrize(("pattern", "text"), HOSTILE)
def test_hostile_patterns_finish_at_once(pattern: str, text: str) -> None:
    started = time.perf_counter()
    pred = compile_filter({"s": {"$regex": pattern}})
    assert pred({"s": text}) is False
    assert time.perf_counter() - started < 0.5


@pytest.fixture
def short_timeout() -> Iterator[float]:
    old = R.set_match_timeout(0.2)
    try:
        yield 0.2
    finally:
        R.set_match_timeout(old)


def test_a_backtracking_pattern_stops_at_its_bound(short_timeout: float) -> None:
    pred = compile_filter({"s": {"$regex": r"(a|aa)+\1$"}})
    started = time.perf_counter()
    with pytest.raises(QueryError) as info:
        pred({"s": "a" * 60 + "!"})
    took = time.perf_counter() - started
    assert info.value.code is ErrorCode.REGEX_TIMEOUT
    assert took < short_timeout + 0.5
    assert "backtrack" in info.value.message
    # a harmless string still answers through the same compiled pattern
    assert pred({"s": "aaaa"}) is True


def test_backreference_patterns_still_work() -> None:
    pred = compile_filter({"s": {"$regex": r"\b(\w+) \1\b"}})
    assert pred({"s": "it is is doubled"}) is True
    assert pred({"s": "nothing doubled"}) is False


def test_pattern_length_is_limited() -> None:
    with pytest.raises(InvalidFilterError) as info:
        compile_filter({"s": {"$regex": "a" * (R.MAX_PATTERN_LENGTH + 1)}})
    err = info.value
    assert err.code is ErrorCode.REGEX_TOO_LONG
    assert str(R.MAX_PATTERN_LENGTH) in err.message and err.field == "s"
    assert len(err.message) < 300
    compile_filter({"s": {"$regex": "a" * R.MAX_PATTERN_LENGTH}})  # the limit itself is fine


def test_invalid_patterns_are_coded_and_cut() -> None:
    with pytest.raises(InvalidFilterError) as info:
        compile_filter({"s": {"$regex": "(" + "a" * 3000}})
    assert info.value.code is ErrorCode.INVALID_FILTER
    assert "3001 characters" in info.value.message and len(info.value.message) < 300


def test_compiled_patterns_are_cached() -> None:
    assert R.compile_regex("cache-me", re.I) is R.compile_regex("cache-me", re.I)
    assert R.compile_regex("cache-me") is not R.compile_regex("cache-me", re.I)


def test_match_timeout_setting_is_checked() -> None:
    with pytest.raises(TypeError):
        R.set_match_timeout("1")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        R.set_match_timeout(0)

