"""The ``parquedb`` command driven as a user drives it: a real subprocess per call (for
tests/cli/, whose conftest makes fixtures of these).

``cli(*args, input=..., env=...)`` runs ``python -m parquedb ARGS`` from a temp folder with a
clean environment (no ``PARQUEDB_*`` or ``AWS_*`` from the caller) and returns the completed
process; ``cli.json(*args)`` also checks the exit status and parses stdout as strict JSON.
``sample_store`` is a folder store holding ``posts`` with every kind of user value.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import parquedb

REPO = Path(__file__).resolve().parents[2]


def _strict(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise ValueError(f"not strict JSON: {name}")
    return json.loads(text, parse_constant=refuse)


class Cli:
    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("PARQUEDB_", "AWS_"))}
        env["PYTHONPATH"] = str(REPO)
        env.update(extra or {})
        return env

    def __call__(self, *args: str, input: str | bytes | None = None,
                 env: dict[str, str] | None = None,
                 timeout: float = 120) -> subprocess.CompletedProcess[str]:
        data = input.encode() if isinstance(input, str) else input
        proc = subprocess.run([sys.executable, "-m", "parquedb", *args], input=data,
                              capture_output=True, cwd=self.cwd, env=self.env(env),
                              timeout=timeout, check=False)
        return subprocess.CompletedProcess(proc.args, proc.returncode,
                                           proc.stdout.decode("utf-8", "replace"),
                                           proc.stderr.decode("utf-8", "replace"))

    def json(self, *args: str, **kw: Any) -> Any:
        out = self(*args, "--json", **kw)
        assert out.returncode == 0, out.stderr
        return _strict(out.stdout)


WHEN = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)


def sample_docs(n: int = 5) -> list[dict[str, Any]]:
    return [{"$id": f"p{i}", "title": f"post {i}", "status": "draft" if i % 2 else "published",
             "views": i * 10, "score": i / 4, "when": WHEN, "blob": bytes([i, 0, 255]),
             "tags": ["a", f"t{i}"], "meta": {"depth": {"n": i}}, "flag": i % 3 == 0}
            for i in range(n)]


def make_sample_store(path: str) -> str:
    with parquedb.connect(path) as db:
        docs = sample_docs()
        docs[4]["score"] = math.nan
        db.posts.create_many(docs)
        db.posts.update("p1", {"$set": {"views": 11}})
    return path


def tree(path: Path) -> dict[str, int]:
    """Every file under ``path``: relative path -> size."""
    return {str(p.relative_to(path)): p.stat().st_size for p in sorted(path.rglob("*"))
            if p.is_file()}
