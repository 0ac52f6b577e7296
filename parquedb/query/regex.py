"""``$regex`` that cannot stall a process: RE2 (linear time) whenever it can give Python's
answer, otherwise a backtracking engine bounded by a timeout per match.

Filters keep Python's ``re`` syntax and meaning (the contract). A pattern is parsed by Python's
own parser and re-emitted as an RE2 pattern in which nothing depends on engine defaults:
``.`` becomes ``[^\\n]`` (or any character with ``s``), ``^``/``$``/``\\A``/``\\Z`` become the
RE2 anchors with Python's meaning (``$`` outside ``m`` also matches before a final newline,
Python's ``\\Z`` is RE2's ``\\z``), ``\\d \\w \\s`` become the exact character sets of this
Python's Unicode tables. Verbose (``x``) patterns are already flattened by the parser.

What RE2 cannot say goes to the ``regex`` package with ``timeout=`` (default 1 s a match,
``PARQUEDB_REGEX_TIMEOUT`` or :func:`set_match_timeout`): backreferences, lookaround, atomic
groups and possessive repeats, ``$`` not at the end of the pattern, counted repeats over 1000.
Two narrow cases are decided per value: a Unicode ``\\b``/``\\B`` runs on RE2 for an ASCII
string only, and with ``i`` a string holding a Turkish dotted/dotless i (U+0130 and U+0131, the only
characters whose case folding differs between Python and RE2) takes the bounded engine.

An :class:`Regex` whose :attr:`Regex.re2` is set answers exactly like RE2 with that pattern
on every string: DuckDB's ``regexp_matches`` (RE2 as well) may evaluate it in SQL.
"""

from __future__ import annotations

import builtins
import functools
import importlib
import os
import re
import threading
from collections.abc import Callable
from typing import Any

import re2
import regex as _bounded

from parquedb.errors import ErrorCode, InvalidFilterError, QueryError
from parquedb.errors.echo import shown as _cut
from parquedb.support import deadline as _deadline

# Python's own regex parser and its opcodes (``re._parser``, ``re._constants`` since 3.11)
_sre_parse: Any = importlib.import_module("re._parser")
C: Any = importlib.import_module("re._constants")

__all__ = ["MAX_PATTERN_LENGTH", "Regex", "compile_regex", "match_timeout", "set_match_timeout"]

#: longest pattern accepted, in characters (MongoDB's own limit is 32,764 bytes)
MAX_PATTERN_LENGTH = 8192
_MAX_CODE = 0x10FFFF
_SURROGATES = (0xD800, 0xDFFF)
_TURKISH_I = (0x130, 0x131)  # U+0130/U+0131: Python folds them with i/I, RE2 does not
_USER_FLAGS = re.IGNORECASE | re.MULTILINE | re.DOTALL | re.VERBOSE | re.ASCII

_timeout_lock = threading.Lock()
_match_timeout = 1.0


def _env_timeout() -> float:
    raw = os.environ.get("PARQUEDB_REGEX_TIMEOUT")
    try:
        value = float(raw) if raw else 1.0
    except ValueError:
        return 1.0
    return value if value > 0 else 1.0


_match_timeout = _env_timeout()


def match_timeout() -> float:
    """The bound, in seconds, on one match by the backtracking engine."""
    return _match_timeout


def set_match_timeout(seconds: float) -> float:
    """Set the bound on one backtracking match; returns the previous one."""
    global _match_timeout
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError("the regex match timeout is a number of seconds")
    if not 0 < seconds < float("inf"):
        raise ValueError("the regex match timeout must be a finite number of seconds > 0")
    with _timeout_lock:
        old, _match_timeout = _match_timeout, float(seconds)
    return old


# -- the compiled pattern ---------------------------------------------------------------------
#: with ``i``, Python folds U+0130 and U+0131 together with i and I; RE2 keeps them apart
_TURKISH_TO_I = str.maketrans({"\u0130": "i", "\u0131": "i"})
FOLD_NONE, FOLD_MAP, FOLD_BOUNDED = "none", "map", "bounded"


class Regex:
    """A compiled ``$regex``: :meth:`search` says whether it matches somewhere in a string."""

    __slots__ = ("pattern", "flags", "re2", "sql", "_fast", "_slow", "_ascii_only", "_fold",
                 "_on_empty", "search")

    def __init__(self, pattern: str, flags: int, re2_pattern: str | None = None,
                 ascii_only: bool = False, fold: str = FOLD_NONE,
                 nonboundary: bool = False, case_switch: bool = False) -> None:
        self.pattern = pattern
        self.flags = flags
        #: the equivalent RE2 pattern when RE2 gives Python's answer on every string as it is
        self.re2: str | None = re2_pattern if not (
            ascii_only or nonboundary or fold != FOLD_NONE) else None
        #: the pattern for DuckDB's ``regexp_matches``: its bundled RE2 is older and factors
        #: ``a|(?i:a)`` wrongly, so a pattern that switches case folding stays in Python
        self.sql: str | None = None if case_switch else self.re2
        # Python's \B never matches in an empty string (RE2's and regex's do): that one answer
        # comes from ``re`` itself, once (no backtracking blow-up is possible without input)
        self._on_empty: bool | None = None
        if nonboundary:
            self._on_empty = re.compile(pattern, flags).search("") is not None
        self._fast: Callable[[str], bool] | None = None
        if re2_pattern is not None:
            self._fast = _re2_search(re2_pattern)
        self._slow: Any = None
        self._ascii_only = ascii_only
        self._fold = fold
        if self.re2 is not None:
            self.search: Callable[[str], bool] = self._search_re2
        else:
            self.search = self._search_mixed

    @property
    def engine(self) -> str:
        """``"re2"``, ``"bounded"`` or ``"mixed"`` (RE2 for some strings)."""
        if self._fast is None:
            return "bounded"
        return "re2" if self.re2 is not None else "mixed"

    def engine_for(self, s: str) -> str:
        """``"re2"`` or ``"bounded"``: which engine answers for ``s``."""
        return "re2" if self._re2_subject(s) is not None else "bounded"

    def _re2_subject(self, s: str) -> str | None:
        """``s`` as RE2 must see it to give Python's answer, or None if it cannot."""
        if self._fast is None or (self._ascii_only and not s.isascii()):
            return None
        if self._fold != FOLD_NONE and ("\u0130" in s or "\u0131" in s):
            return s.translate(_TURKISH_TO_I) if self._fold == FOLD_MAP else None
        return s

    def _search_re2(self, s: str) -> bool:
        assert self._fast is not None
        try:
            return self._fast(s)
        except UnicodeEncodeError:  # a lone surrogate: not UTF-8, RE2 cannot read it
            return self._bounded_search(s)

    def _search_mixed(self, s: str) -> bool:
        if not s and self._on_empty is not None:
            return self._on_empty
        subject = self._re2_subject(s)
        if subject is not None:
            return self._search_re2(subject)
        return self._bounded_search(s)

    def _bounded_search(self, s: str) -> bool:
        if self._slow is None:
            try:
                self._slow = _bounded.compile(self.pattern, self.flags | _bounded.VERSION0)
            except _bounded.error as e:  # a corner where the two syntaxes differ
                raise InvalidFilterError(
                    f"$regex {_cut(self.pattern)} needs backtracking, and the bounded engine "
                    f"cannot compile it: {e}", pattern=_cut(self.pattern), cause=e) from e
        limit = _match_timeout
        left = _deadline.remaining()
        if left is not None and left < limit:
            limit = max(left, 0.001)
        try:
            # concurrent: the GIL is released, other threads run while this one backtracks
            return self._slow.search(s, timeout=limit, concurrent=True) is not None
        except builtins.TimeoutError as e:  # what ``regex`` raises past ``timeout=``
            d = _deadline.current()
            if d is not None and limit < _match_timeout:
                raise _deadline.expired_error(d) from e
            raise QueryError(
                f"$regex {_cut(self.pattern)} gave up after {limit:g} s on a "
                f"{len(s)}-character string: the pattern needs backtracking (backreferences or "
                "lookaround) and backtracks too much; simplify it or raise "
                "PARQUEDB_REGEX_TIMEOUT", code=ErrorCode.REGEX_TIMEOUT,
                pattern=_cut(self.pattern), timeout=limit, cause=e) from e

    def __repr__(self) -> str:
        return f"Regex({self.pattern!r}, flags={self.flags}, engine={self.engine!r})"


def _re2_search(pattern: str) -> Callable[[str], bool]:
    """``text -> bool`` for an RE2 pattern. The binding's own ``search`` builds a match object
    with offsets in characters (about 5 µs a call); asking the compiled program directly for
    the span of the whole match costs a quarter of that."""
    compiled = re2.compile(pattern, _RE2_OPTIONS)
    program = getattr(compiled, "_regexp", None)
    anchor = getattr(getattr(re2, "_Anchor", None), "UNANCHORED", None)
    if program is None or anchor is None or not hasattr(program, "Match"):
        search = compiled.search
        return lambda text: search(text) is not None  # pragma: no cover - other bindings
    match = program.Match

    def fast(text: str) -> bool:
        raw = text.encode()  # UnicodeEncodeError for a lone surrogate: the caller falls back
        return bool(match(anchor, raw, 0, len(raw))[0][0] != -1)
    return fast


def _make_options() -> Any:
    o = re2.Options()
    o.log_errors = False  # a refused pattern falls back quietly
    o.never_capture = True  # only "does it match" is ever asked
    o.max_mem = 64 << 20
    return o


_RE2_OPTIONS = _make_options()


@functools.lru_cache(maxsize=1024)
def _compile_cached(pattern: str, flags: int) -> Regex:
    try:
        re.compile(pattern, flags)  # Python's syntax is the contract: its errors are ours
    except re.error as e:
        raise InvalidFilterError(f"invalid $regex {_cut(pattern)}: {e}", pattern=_cut(pattern),
                                 cause=e) from e
    emitted = _to_re2(pattern, flags)
    if emitted is None:
        return Regex(pattern, flags, nonboundary="\\B" in pattern)
    text, ascii_only, fold, nonboundary, case_switch = emitted
    try:
        re2.compile(text, _RE2_OPTIONS)
    except re2.error:
        # e.g. a repeat count over 1000
        return Regex(pattern, flags, nonboundary="\\B" in pattern)
    return Regex(pattern, flags, text, ascii_only, fold, nonboundary, case_switch)


def compile_regex(pattern: str, flags: int = 0, *, field: str | None = None) -> Regex:
    """The compiled form of a ``$regex`` (cached). ``flags`` are ``re`` flags."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise InvalidFilterError(
            f"$regex {_cut(pattern)} is too long: patterns are at most {MAX_PATTERN_LENGTH} "
            "characters", code=ErrorCode.REGEX_TOO_LONG, field=field, length=len(pattern),
            limit=MAX_PATTERN_LENGTH)
    try:
        return _compile_cached(pattern, flags & _USER_FLAGS)
    except InvalidFilterError as e:
        if field is not None and e.field is None:
            e.context["field"] = field
        raise


# -- Python's parse tree -> RE2 ---------------------------------------------------------------
class _Unsupported(Exception):
    """The pattern needs the bounded engine."""


class _Emitter:
    def __init__(self) -> None:
        self.ascii_only = False  # a Unicode \b: RE2 answers for ASCII strings only
        self.folds_i = False  # a case-insensitive i or I: U+0130/U+0131 need care
        self.exact_i = False  # a case-sensitive i, I, U+0130 or U+0131
        self.nonboundary = False  # a \B: Python's never matches in an empty string
        self.case_switch = False  # a group that turns i on or off

    def seq(self, items: Any, flags: int, tail: bool) -> str:
        items = list(items)
        out = []
        for i, (op, av) in enumerate(items):
            out.append(self.item(op, av, flags, tail and i == len(items) - 1))
        return "".join(out)

    def item(self, op: Any, av: Any, flags: int, tail: bool) -> str:
        if op is C.LITERAL:
            self._note_chars([(av, av)], flags)
            return _char(av)
        if op is C.NOT_LITERAL:
            self._note_chars([(av, av)], flags)
            return "[^" + _class_char(av) + "]"
        if op is C.ANY:
            return "[\\x{0}-\\x{10ffff}]" if flags & re.DOTALL else "[^\\n]"
        if op is C.IN:
            return self.klass(av, flags)
        if op is C.BRANCH:
            return "(?:" + "|".join(self.seq(b, flags, tail) for b in av[1]) + ")"
        if op is C.SUBPATTERN:
            _group, add, remove, body = av
            inner = (flags | add) & ~remove
            if (add | remove) & re.ASCII and inner & re.IGNORECASE:
                raise _Unsupported  # ASCII-only case folding: RE2 folds Unicode
            text = self.seq(body, inner, tail)
            if bool(inner & re.IGNORECASE) != bool(flags & re.IGNORECASE):
                self.case_switch = True
                return ("(?i:" if inner & re.IGNORECASE else "(?-i:") + text + ")"
            return "(?:" + text + ")"
        if op is C.MAX_REPEAT or op is C.MIN_REPEAT:
            lo, hi, body = av
            text = "(?:" + self.seq(body, flags, False) + ")"
            if hi is C.MAXREPEAT:
                rep = "*" if lo == 0 else "+" if lo == 1 else f"{{{lo},}}"
            else:
                rep = f"{{{lo}}}" if lo == hi else f"{{{lo},{hi}}}"
            return text + rep + ("?" if op is C.MIN_REPEAT else "")
        if op is C.AT:
            return self.at(av, flags, tail)
        raise _Unsupported  # backreferences, lookaround, atomic groups, possessive repeats

    def at(self, code: Any, flags: int, tail: bool) -> str:
        if code is C.AT_BEGINNING_STRING:
            return "\\A"
        if code is C.AT_END_STRING:
            return "\\z"  # Python's \Z is the very end
        if code is C.AT_BEGINNING:
            return "(?m:^)" if flags & re.MULTILINE else "\\A"
        if code is C.AT_END:
            if flags & re.MULTILINE:
                return "(?m:$)"  # before any newline, or at the end: as Python
            if tail:  # at the end, or before a final newline; nothing follows it
                return "(?:\\n?\\z)"
            raise _Unsupported
        if code is C.AT_BOUNDARY or code is C.AT_NON_BOUNDARY:
            self.nonboundary = self.nonboundary or code is C.AT_NON_BOUNDARY
            if not flags & re.ASCII:
                self.ascii_only = True  # RE2's \b knows ASCII word characters only
            return "\\b" if code is C.AT_BOUNDARY else "\\B"
        raise _Unsupported

    def klass(self, items: Any, flags: int) -> str:
        negate = False
        ranges: list[tuple[int, int]] = []
        explicit: list[tuple[int, int]] = []
        for op, av in items:
            if op is C.NEGATE:
                negate = True
            elif op is C.LITERAL:
                explicit.append((av, av))
            elif op is C.RANGE:
                explicit.append((av[0], av[1]))
            elif op is C.CATEGORY:
                ranges.extend(_category(av, bool(flags & re.ASCII)))
            else:
                raise _Unsupported
        self._note_chars(explicit, flags)
        merged = _merge(ranges + explicit)
        if not merged:
            return "[\\x{0}-\\x{10ffff}]" if negate else "[^\\x{0}-\\x{10ffff}]"
        return ("[^" if negate else "[") + "".join(_class_range(a, b) for a, b in merged) + "]"

    def _note_chars(self, ranges: list[tuple[int, int]], flags: int) -> None:
        for lo, hi in ranges:
            if lo >= _SURROGATES[0] and hi <= _SURROGATES[1]:
                raise _Unsupported  # only surrogates: not UTF-8, RE2 cannot hold them
            turkish = lo <= _TURKISH_I[1] and hi >= _TURKISH_I[0]
            plain_i = any(lo <= c <= hi for c in (ord("i"), ord("I")))
            if flags & re.IGNORECASE:
                if flags & re.ASCII or turkish:
                    raise _Unsupported  # folding RE2 cannot reproduce on any string
                self.folds_i = self.folds_i or plain_i
            else:
                self.exact_i = self.exact_i or plain_i or turkish

    def fold(self) -> str:
        """How strings holding U+0130/U+0131 are answered: as they are (nothing in the pattern
        folds an i), mapped to i (Python folds all four together; exact when no
        case-sensitive part of the pattern names an i), else by the bounded engine."""
        if not self.folds_i:
            return FOLD_NONE
        return FOLD_BOUNDED if self.exact_i else FOLD_MAP


def _to_re2(pattern: str, flags: int) -> tuple[str, bool, str, bool, bool] | None:
    """``(re2_pattern, ascii_only, fold, nonboundary, case_switch)``, or None when only the
    bounded engine can answer."""
    try:
        tree = _sre_parse.parse(pattern, flags)
    except Exception:
        return None
    top = tree.state.flags
    if top & re.ASCII and top & re.IGNORECASE:
        return None  # ASCII-only case folding
    em = _Emitter()
    try:
        body = em.seq(tree, top, True)
    except (_Unsupported, RecursionError):
        return None
    text = ("(?i)" if top & re.IGNORECASE else "") + body
    return text, em.ascii_only, em.fold(), em.nonboundary, em.case_switch


# -- characters and sets ----------------------------------------------------------------------
def _char(c: int) -> str:
    ch = chr(c)
    if ch.isascii() and (ch.isalnum() or ch == "_"):
        return ch
    return f"\\x{{{c:x}}}"


def _class_char(c: int) -> str:
    return _char(c)


def _class_range(a: int, b: int) -> str:
    return _class_char(a) if a == b else f"{_class_char(a)}-{_class_char(b)}"


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, merged, surrogates cut out (RE2 works on UTF-8)."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        for a, b in _without_surrogates(lo, hi):
            if out and a <= out[-1][1] + 1:
                if b > out[-1][1]:
                    out[-1] = (out[-1][0], b)
            else:
                out.append((a, b))
    return out


def _without_surrogates(lo: int, hi: int) -> list[tuple[int, int]]:
    s_lo, s_hi = _SURROGATES
    if hi < s_lo or lo > s_hi:
        return [(lo, hi)]
    parts = []
    if lo < s_lo:
        parts.append((lo, s_lo - 1))
    if hi > s_hi:
        parts.append((s_hi + 1, hi))
    return parts


def _complement(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out, at = [], 0
    for lo, hi in ranges:
        if lo > at:
            out.append((at, lo - 1))
        at = hi + 1
    if at <= _MAX_CODE:
        out.append((at, _MAX_CODE))
    return out


_ASCII_SETS = {
    "digit": [(0x30, 0x39)],
    "word": [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)],
    "space": [(0x09, 0x0D), (0x20, 0x20)],
}


@functools.cache
def _unicode_sets() -> dict[str, tuple[tuple[int, int], ...]]:
    """Exactly the characters Python's ``\\d``/``\\w``/``\\s`` match (its Unicode tables),
    computed once (about 0.1 s) by asking ``re`` itself."""
    every = "".join(map(chr, range(_MAX_CODE + 1)))
    return {kind: tuple((m.start(), m.end() - 1) for m in re.finditer(probe, every))
            for kind, probe in (("digit", r"\d+"), ("word", r"\w+"), ("space", r"\s+"))}


def _category(code: Any, ascii_only: bool) -> list[tuple[int, int]]:
    names = {C.CATEGORY_DIGIT: ("digit", False), C.CATEGORY_NOT_DIGIT: ("digit", True),
             C.CATEGORY_WORD: ("word", False), C.CATEGORY_NOT_WORD: ("word", True),
             C.CATEGORY_SPACE: ("space", False), C.CATEGORY_NOT_SPACE: ("space", True)}
    if code not in names:
        raise _Unsupported
    kind, negated = names[code]
    base = list(_ASCII_SETS[kind]) if ascii_only else list(_unicode_sets()[kind])
    return _complement(base) if negated else base
