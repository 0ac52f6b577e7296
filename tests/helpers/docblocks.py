"""The code blocks of a markdown file, and how the docs test runs them.

A fenced block runs when its language is ``python`` or ``bash`` (``sh``, ``shell``); blocks of
every other language are prose (shown, not run). The line right before a fence may carry one
mark, an HTML comment that readers of the rendered page never see:

* ``<!-- docs-test: skip (reason) -->`` -- the block is not run; the reason is required.
* ``<!-- docs-test: s3 -->`` -- a python or bash block that needs an S3-compatible store: it
  runs with ``PARQUEDB_S3_URI``, ``PARQUEDB_S3_ENDPOINT``, ``AWS_ACCESS_KEY_ID`` and
  ``AWS_SECRET_ACCESS_KEY`` set (the test server's), and is skipped only where there is none.
* ``<!-- docs-test: run -->`` -- a block of another language is checked: ``json`` must parse as
  JSON, ``toml`` as TOML. On a language with no runner or checker the mark is an error.

A mark that is not one of these, a skip without a reason, or a mark not followed by a fence on
the next line is an error (a mark that silently does nothing would let a guide drift).

``plan(path)`` parses a file into :class:`Block` objects; ``run_file`` runs them in order in one
fresh Python process (``tests/helpers/docrun.py``), so the python blocks of a file share their
variables like the cells of a notebook and a bash block sees what earlier blocks wrote.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

#: fence languages and what runs them
PYTHON = {"python", "py", "python3"}
BASH = {"bash", "sh", "shell"}
CHECKED = {"json", "toml"}  # parsed when marked ``run``

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\n]*)$")
MARK = re.compile(r"^\s*<!--\s*docs-test:(?P<body>.*?)-->\s*$")  # a whole line
SKIP = re.compile(r"^skip(?:\s*\((?P<reason>.*)\))?$")

DRIVER = Path(__file__).with_name("docrun.py")


class DocsTestError(Exception):
    """A mark the harness cannot honour (unknown, a skip without reason, run on prose...)."""


@dataclass
class Block:
    line: int          # 1-based line of the first line of code (after the opening fence)
    lang: str          # the fence's language, lower case ("" when none)
    code: str          # the code, the fence's indentation removed
    action: str        # "python" | "bash" | "check" | "skip" | "prose"
    s3: bool = False
    reason: str = ""


def _mark(lines: list[str], i: int) -> str | None:
    """The docs-test mark on line ``i - 1`` (the line before a fence), if any."""
    if i == 0:
        return None
    m = MARK.match(lines[i - 1])
    return None if m is None else m.group("body").strip()


def plan(path: Path) -> list[Block]:
    """Every fenced block of ``path`` with what the docs test does with it."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    marks_used: set[int] = set()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m is None:
            i += 1
            continue
        indent, fence = m.group("indent"), m.group("fence")
        info = m.group("info").strip()
        lang = info.split()[0].lower() if info else ""
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines):
            closing = lines[i].strip()
            if closing.startswith(fence[0] * len(fence)) and set(closing) == {fence[0]}:
                break
            line = lines[i]
            body.append(line[len(indent):] if line.startswith(indent) else line.lstrip())
            i += 1
        else:
            raise DocsTestError(f"{path}:{start + 1}: a fence that is never closed")
        i += 1
        where = f"{path}:{start + 1}"
        mark = _mark(lines, start)
        if mark is not None:
            marks_used.add(start - 1)
        blocks.append(_block(where, start + 2, lang, "\n".join(body) + "\n", mark))
    for n, line in enumerate(lines):
        if MARK.match(line) and n not in marks_used:
            raise DocsTestError(f"{path}:{n + 1}: a docs-test mark must be on the line right "
                                "before a fence")
    return blocks


def _block(where: str, line: int, lang: str, code: str, mark: str | None) -> Block:
    runnable = lang in PYTHON or lang in BASH
    default = "python" if lang in PYTHON else "bash" if lang in BASH else "prose"
    if mark is None:
        return Block(line, lang, code, default)
    skip = SKIP.match(mark)
    if skip is not None:
        reason = (skip.group("reason") or "").strip()
        if not reason:
            raise DocsTestError(f"{where}: `docs-test: skip` needs a reason: "
                                "<!-- docs-test: skip (why) -->")
        return Block(line, lang, code, "skip", reason=reason)
    if mark == "s3":
        if not runnable:
            raise DocsTestError(f"{where}: `docs-test: s3` on a ```{lang or '(none)'} block; "
                                "only python and bash blocks run")
        return Block(line, lang, code, default, s3=True)
    if mark == "run":
        if runnable:
            return Block(line, lang, code, default)
        if lang in CHECKED:
            return Block(line, lang, code, "check")
        raise DocsTestError(f"{where}: `docs-test: run` on a ```{lang or '(none)'} block: "
                            f"nothing runs that language (runs: {sorted(PYTHON | BASH)}, "
                            f"checks: {sorted(CHECKED)})")
    raise DocsTestError(f"{where}: unknown docs-test mark {mark!r} "
                        "(known: skip (reason), s3, run)")


def check(block: Block) -> None:
    """Parse a ``run``-marked block of a checked language (raises on a syntax error)."""
    if block.lang == "json":
        json.loads(block.code)
    elif block.lang == "toml":
        tomllib.loads(block.code)


def clean_env(tmp: Path, s3: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a docs run: the venv's bin first on PATH, HOME and TMPDIR in the
    temp folder, no PARQUEDB_* settings of whoever runs the tests, and the S3 variables."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PARQUEDB_", "AWS_", "OTEL_"))}
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["HOME"] = str(tmp)
    env["TMPDIR"] = str(tmp)
    env["PYTHONUNBUFFERED"] = "1"
    env["NO_COLOR"] = "1"
    if s3:
        env.update(s3)
    return env


@dataclass
class Outcome:
    ok: bool
    report: str
    ran: int
    skipped: int


def run_file(path: Path, cwd: Path, *, s3: dict[str, str] | None = None,
             timeout: float = 180.0) -> Outcome:
    """Run the blocks of ``path`` in order in one fresh Python process whose working
    directory is ``cwd`` (s3-marked blocks are skipped when ``s3`` is None)."""
    blocks = plan(path)
    todo: list[dict[str, Any]] = []
    skipped = 0
    for b in blocks:
        if b.action == "check":
            try:
                check(b)
            except ValueError as e:  # json.JSONDecodeError and tomllib.TOMLDecodeError
                return Outcome(False, f"{path}:{b.line}: ```{b.lang} block does not parse: {e}",
                               0, skipped)
        elif b.action in ("python", "bash") and not (b.s3 and s3 is None):
            todo.append(asdict(b))
        elif b.action != "prose":
            skipped += 1
    if not todo:
        return Outcome(True, "", 0, skipped)
    with tempfile.TemporaryDirectory() as meta:
        plan_file = Path(meta) / "plan.json"
        result_file = Path(meta) / "result.json"
        plan_file.write_text(json.dumps({"file": str(path.resolve()), "blocks": todo}))
        try:
            run = subprocess.run([sys.executable, str(DRIVER), str(plan_file), str(result_file)],
                                 cwd=cwd, env=clean_env(cwd, s3), stdin=subprocess.DEVNULL,
                                 capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as e:
            out = (e.stderr or b"").decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
            return Outcome(False, f"{path}: did not finish within {timeout:.0f} s (a block "
                           f"hangs, or a thread keeps the process alive)\n{out[-3000:]}",
                           len(todo), skipped)
        failure = json.loads(result_file.read_text()) if result_file.exists() else None
    if run.returncode == 0 and failure is None:
        return Outcome(True, run.stdout, len(todo), skipped)
    if failure is None:
        report = (f"{path}: the process exited with {run.returncode} after its blocks ran "
                  f"(at exit)\n--- stderr ---\n{run.stderr[-3000:]}")
    else:
        report = (f"{path}:{failure['line']}: the ```{failure['lang']} block failed\n"
                  f"{failure['error']}\n--- stderr of the run (last 3000 characters) ---\n"
                  f"{run.stderr[-3000:]}")
    return Outcome(False, report, len(todo), skipped)


# -- links -----------------------------------------------------------------------------------
LINK = re.compile(r"(?<!!)\[[^\]]*\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(?P<text>.+?)\s*#*\s*$")


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"[`*_]|<[^>]+>", "", heading).strip().lower()
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link keeps its text
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a markdown file (repeated headings get -1, -2 ...)."""
    seen: dict[str, int] = {}
    out: set[str] = set()
    in_fence = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        m = None if in_fence else HEADING.match(line)
        if m is None:
            continue
        base = slug(m.group("text"))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def broken_links(path: Path) -> list[str]:
    """Relative links of ``path`` whose file, or whose #anchor in a markdown file, is missing
    (links inside code blocks or code spans, and to http(s)/mailto, are not checked)."""
    lines: list[str] = []
    in_fence = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
            lines.append("")
        else:
            lines.append("" if in_fence else re.sub(r"`[^`]*`", "", line))
    text = "\n".join(lines)  # the link text may wrap onto the next line
    problems: list[str] = []
    for m in LINK.finditer(text):
        n = text.count("\n", 0, m.start()) + 1
        target = m.group("target")
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue  # http:, https:, mailto: ...
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path.resolve()
        if not dest.exists():
            problems.append(f"{path}:{n}: {target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            problems.append(f"{path}:{n}: {target}: no heading #{anchor} in {dest.name}")
    return problems
