"""A real ``parquedb.server`` in a subprocess on 127.0.0.1, and Tail Worker batches shaped as
Cloudflare sends them (for tests/server/).

``ServerProcess(uri, log_path, token, **options).start()`` runs ``serve`` in a fresh
interpreter on a free port and returns once ``GET /health`` answers; ``request(method, path,
body, headers)`` is one HTTP exchange over a new connection; ``stop()`` sends SIGTERM and
returns the exit status.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

READY_TIMEOUT = 30.0
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Answer:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()


class ServerProcess:
    def __init__(self, uri: str, log_path: Path, token: str | None = None,
                 **options: Any) -> None:
        self.uri, self.token, self.options = uri, token, options
        self.port = free_port()
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ServerProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PARQUEDB_")}
        if self.token is not None:
            env["PARQUEDB_INGEST_TOKEN"] = self.token
        code = ("from parquedb.server import serve; "
                f"serve({self.uri!r}, port={self.port}, log_level='info', "
                f"**{self.options!r})")
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in wait()
        self.proc = subprocess.Popen([sys.executable, "-c", code], env=env,
                                     stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.log}")
            try:
                if self.request("GET", "/health", timeout=2).status in (200, 503):
                    return self
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"server not ready in {READY_TIMEOUT} s:\n{self.log}")

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def connection(self, timeout: float = 30.0) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method: str, path: str, body: Any = None,
                headers: dict[str, str] | None = None, *, timeout: float = 30.0) -> Answer:
        conn = self.connection(timeout)
        try:
            data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
            hdrs = {"Content-Type": "application/json"} if data is not None else {}
            hdrs.update(headers or {})
            conn.request(method, path, body=data, headers=hdrs)
            r = conn.getresponse()
            return Answer(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        finally:
            conn.close()

    def post(self, path: str, body: Any, token: str | None = None) -> Answer:
        token = self.token if token is None else token
        return self.request("POST", path, body, {"Authorization": f"Bearer {token}"})

    def terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 60.0) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()

    def stop(self) -> int:
        self.terminate()
        return self.wait()


def trace_item(i: int, *, script: str = "api-worker", exception: str | None = None,
               status: int = 200, message: str | None = None) -> dict[str, Any]:
    """One TraceItem as a Tail Worker's ``tail(events)`` receives it (a fetch invocation)."""
    ts = T0 + i * 1000
    return {
        "scriptName": script,
        "entrypoint": None,
        "scriptVersion": {"id": "3f6a9b2c-0d1e-4f5a-8b7c-6d5e4f3a2b1c"},
        "eventTimestamp": ts,
        "eventType": "fetch",
        "executionModel": "stateless",
        "outcome": "exception" if exception else "ok",
        "cpuTime": 2 + i % 5,
        "wallTime": 10 + i % 40,
        "truncated": False,
        "dispatchNamespace": None,
        "scriptTags": [],
        "event": {
            "request": {
                "url": f"https://api.example.com/v1/items/{i}?token=s3cret",
                "method": "GET",
                "headers": {"cf-ray": f"8f{i:014x}-SJC", "user-agent": "curl/8.5.0",
                            "authorization": "Bearer do-not-store"},
                "cf": {"colo": "SJC", "country": "US", "asn": 13335},
            },
            "response": None if exception else {"status": status},
        },
        "logs": [{"message": [message or f"handled item {i}"], "level": "log",
                  "timestamp": ts + 1}],
        "exceptions": [] if exception is None else
        [{"name": "Error", "message": exception, "timestamp": ts + 2,
          "stack": "Error: boom\n    at handler (index.js:10:5)"}],
        "diagnosticsChannelEvents": [],
    }


def records_of(items: list[dict[str, Any]]) -> int:
    """Records a batch gives: one per log line and per exception (or one per bare item)."""
    return sum(max(1, len(it["logs"]) + len(it["exceptions"])) for it in items)



TOKEN = "test-token-5f2c"
#: the body limit of the shared server (small, so 413 is cheap to provoke)
SHARED_LIMIT = 256 * 1024


__all__ = ["SHARED_LIMIT", "T0", "TOKEN", "Answer", "ServerProcess", "free_port", "records_of",
           "trace_item"]
