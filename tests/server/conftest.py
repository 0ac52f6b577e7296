"""Fixtures: servers in subprocesses (``server`` per test, ``shared`` per module), stopped
with SIGTERM afterwards. The helpers themselves are in ``helpers.serverproc``."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers.serverproc import SHARED_LIMIT, TOKEN, ServerProcess


def _stop_all(started: list[ServerProcess]) -> None:
    for proc in started:
        if proc.proc is not None and proc.proc.poll() is None:
            proc.proc.send_signal(signal.SIGTERM)
            try:
                proc.proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.proc.kill()
                proc.proc.wait()


def _starter(folder: Path, started: list[ServerProcess]) -> Any:
    def start(uri: str, token: str | None = None, **options: Any) -> ServerProcess:
        proc = ServerProcess(uri, folder / f"server-{len(started)}.log", token, **options)
        started.append(proc)
        return proc.start()
    return start


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Any]:
    """Start servers (``server(uri, token, **options)``); each is stopped after the test."""
    started: list[ServerProcess] = []
    yield _starter(tmp_path, started)
    _stop_all(started)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server with ingest on (token ``TOKEN``) over a local folder, for a module."""
    folder = tmp_path_factory.mktemp("shared")
    started: list[ServerProcess] = []
    proc = _starter(folder, started)(str(folder / "db"), TOKEN, max_body_bytes=SHARED_LIMIT)
    yield proc
    _stop_all(started)
