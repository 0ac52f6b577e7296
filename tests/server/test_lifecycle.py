"""Starting and stopping: SIGTERM lets a request in flight finish, refuses new connections,
flushes and closes, and the process exits 0 with every acknowledged batch readable; bad
settings and a missing extra are coded errors; importing the package needs no extra."""

from __future__ import annotations

import json
import signal
import socket
import time
from typing import Any

import pytest

import parquedb
from parquedb.errors import ConfigurationError
from parquedb.server.config import is_loopback
from parquedb.streaming import WorkerLogsMV

from helpers.processes import run_python
from helpers.serverproc import TOKEN, free_port, records_of, trace_item


def stored(uri: str, script: str) -> int:
    with parquedb.connect(uri) as db:
        return len(WorkerLogsMV(db).query(script=script))


def test_sigterm_finishes_the_request_in_flight_then_exits_0(server: Any, tmp_path: Any) -> None:
    uri = str(tmp_path / "db")
    proc = server(uri, TOKEN)
    first = [trace_item(i, script="before-stop") for i in range(5)]
    assert proc.post("/ingest/tail", first).status == 200
    second = json.dumps([trace_item(100 + i, script="in-flight") for i in range(5)]).encode()
    sock = socket.create_connection(("127.0.0.1", proc.port), timeout=30)
    try:
        head = (f"POST /ingest/tail HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(second)}\r\n\r\n").encode()
        sock.sendall(head + second[:100])  # the request has begun; its body is not all there
        time.sleep(0.5)
        proc.terminate()
        time.sleep(1.0)
        assert proc.proc.poll() is None, "the server left before its request finished"
        with pytest.raises(OSError):  # no new connection is accepted meanwhile
            socket.create_connection(("127.0.0.1", proc.port), timeout=2).close()
        sock.sendall(second[100:])
        answer = sock.makefile("rb").read()  # the server closes after answering
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1]) == {"records": 5}
    assert proc.wait(60) == 0, proc.log
    assert "Application shutdown complete" in proc.log
    assert stored(uri, "before-stop") == records_of(first)
    assert stored(uri, "in-flight") == 5


def test_sigint_stops_cleanly_too(server: Any, tmp_path: Any) -> None:
    proc = server(str(tmp_path / "db"), TOKEN)
    assert proc.post("/ingest/tail", [trace_item(1, script="x")]).status == 200
    proc.proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 0, proc.log


def test_a_taken_port_is_a_coded_error(tmp_path: Any) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = run_python(f"""
            from parquedb.errors import ConfigurationError
            from parquedb.server import serve
            try:
                serve({str(tmp_path / "db")!r}, port={port}, log_level="critical")
            except ConfigurationError as e:
                print("CODE", e.code.value)
        """)
    assert "CODE INVALID_CONFIG" in r.stdout, r.stdout + r.stderr


def test_bad_settings_are_coded_errors(tmp_path: Any) -> None:
    from parquedb.server import create_app, serve

    with pytest.raises(ConfigurationError) as e:
        serve(str(tmp_path / "db"), port=70000)
    assert e.value.code.value == "INVALID_CONFIG"
    with pytest.raises(ConfigurationError):
        serve(str(tmp_path / "db"), port=free_port(), host="")
    with pytest.raises(ConfigurationError):
        create_app("memory://server-bad", max_body_bytes=0)
    with pytest.raises(ConfigurationError):
        create_app("memory://server-bad", token=123)  # type: ignore[arg-type]


def test_create_app_is_a_starlette_app(monkeypatch: pytest.MonkeyPatch) -> None:
    from starlette.applications import Starlette

    from parquedb.server import create_app

    monkeypatch.setenv("PARQUEDB_INGEST_TOKEN", "from-env")
    app = create_app("memory://server-app")
    assert isinstance(app, Starlette)
    assert app.state.server.config.token == "from-env"
    assert app.state.server.config.ingest_enabled
    monkeypatch.setenv("PARQUEDB_INGEST_TOKEN", "")
    assert not create_app("memory://server-app").state.server.config.ingest_enabled
    paths = {getattr(r, "path", None) for r in app.routes}
    assert {"/", "/api/dashboard", "/health", "/metrics", "/ingest/tail",
            "/ingest/ai"} <= paths


def test_import_needs_no_extra_and_a_missing_extra_says_how_to_install() -> None:
    r = run_python("""
        import sys
        import parquedb.server
        print("LOADED", sorted(m for m in ("starlette", "uvicorn") if m in sys.modules))
        sys.modules["starlette"] = None      # as if the extra were not installed
        from parquedb.errors import ConfigurationError
        try:
            parquedb.server.create_app("memory://x")
        except ConfigurationError as e:
            print("CODE", e.code.value, "|", e.message)
    """)
    assert "LOADED []" in r.stdout, r.stdout + r.stderr
    assert "CODE MISSING_CONFIG" in r.stdout
    assert "pip install 'parquedb[server]'" in r.stdout


def test_loopback_hosts() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.10")


def test_a_store_that_fails_answers_5xx_logs_it_and_still_stops_cleanly(
        server: Any, tmp_path: Any) -> None:
    import shutil

    from parquedb.errors import ParqueDBError

    root = tmp_path / "db"
    proc = server(str(root), TOKEN)
    assert proc.post("/ingest/tail", [trace_item(1, script="ok-before")]).status == 200
    shutil.rmtree(root)  # the store is gone: the next flush cannot write
    r = proc.post("/ingest/tail", [trace_item(2, script="never-acknowledged")])
    assert r.status >= 500, r.body
    err = ParqueDBError.from_dict(r.json())  # a coded error, with its cause
    assert err.code.value in ("INTERNAL", "STORAGE_ERROR", "NETWORK_ERROR")
    metrics = proc.request("GET", "/metrics")
    assert metrics.status == 200
    assert f'parquedb_server_ingest_errors_total{{endpoint="tail",status="{r.status}"}} 1' \
        in metrics.text
    assert "parquedb_server_buffered_records 1" in metrics.text  # kept for a retry
    assert proc.request("GET", "/").status == 200
    assert proc.stop() == 0
    log = proc.log
    assert "final flush failed; 1 buffered records were never acknowledged" in log, log


def test_embedded_app_over_an_open_database(tmp_path: Any) -> None:
    """create_app(db) served by the application's own uvicorn (in a thread here): the
    database stays the caller's, open after the server stopped."""
    import threading
    import urllib.request

    import uvicorn

    from parquedb.server import create_app

    db = parquedb.connect(str(tmp_path / "db"))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(db, token=TOKEN), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/ingest/tail", method="POST",
            data=json.dumps([trace_item(i, script="embedded") for i in range(3)]).encode(),
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            assert r.status == 200 and json.load(r) == {"records": 3}
    finally:
        server.should_exit = True
        thread.join(30)
    assert not thread.is_alive()
    assert len(WorkerLogsMV(db).query(script="embedded")) == 3  # still open: the caller's
    db.close()


def test_serve_refuses_a_missing_store_when_asked_not_to_create(tmp_path: Any) -> None:
    from parquedb.errors import NotFoundError
    from parquedb.server import serve

    missing = tmp_path / "no-store"
    with pytest.raises(NotFoundError) as e:  # connect's own error, before anything listens
        serve(str(missing), port=free_port(), create=False)
    assert e.value.code.value == "STORE_NOT_FOUND"
    assert not missing.exists()
