"""Running test code in other processes: worker processes that report through a queue (the
multi-process tests), and a fresh interpreter for a snippet (what a process does at start-up,
with a clean environment)."""

from __future__ import annotations

import multiprocessing as mp
import os
import queue as queue_mod
import subprocess
import sys
import textwrap
import time
from typing import Any

#: workers start with "spawn": a fresh interpreter, as a separate program would be (fork would
#: copy the parent's open connections and locks)
CTX = mp.get_context("spawn")
TIMEOUT = 120.0


def run_workers(specs: list[tuple[Any, tuple[Any, ...]]], q: Any,
                timeout: float = TIMEOUT) -> tuple[list[tuple[Any, ...]], dict[int, Any]]:
    """Start one process per ``(target, args)``; collect messages until every worker said
    ``done`` (or failed). Returns (messages, {wid: summary}).

    The protocol (see tests/system/workers/mp_workers.py): ``("ack", wid, payload)`` after a
    call returned, then ``("done", wid, summary)``, or ``("error", wid, traceback)``.
    """
    procs = [CTX.Process(target=t, args=a, daemon=True) for t, a in specs]
    for p in procs:
        p.start()
    msgs: list[tuple[Any, ...]] = []
    summaries: dict[int, Any] = {}
    errors: list[str] = []
    deadline = time.monotonic() + timeout
    try:
        while len(summaries) + len(errors) < len(procs):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"workers timed out; done: {sorted(summaries)}")
            try:
                m = q.get(timeout=min(left, 1.0))
            except queue_mod.Empty:
                dead = [p for p in procs if p.exitcode not in (None, 0)]
                if dead and q.empty():
                    # a worker died without reporting (e.g. killed): give the queue a moment
                    time.sleep(0.5)
                    if q.empty():
                        raise AssertionError(
                            f"worker exited with {[p.exitcode for p in dead]} without reporting"
                        ) from None
                continue
            if m[0] == "done":
                summaries[m[1]] = m[2]
            elif m[0] == "error":
                errors.append(f"worker {m[1]}:\n{m[2]}")
            else:
                msgs.append(m)
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
                p.join()
    assert not errors, "\n".join(errors)
    return msgs, summaries


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    """Run ``code`` (dedented) in a fresh interpreter, without any PARQUEDB_* variable of this
    environment, plus ``env``."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PARQUEDB_")}
    full_env.update(env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=full_env, timeout=60, check=False)
