"""views list/refresh/drop, and serve: it answers /health on 127.0.0.1 and refuses a store
that is not there."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import parquedb
from parquedb.views import define_view

from helpers.cliproc import REPO, Cli
from helpers.serverproc import free_port


def test_views_list_refresh_drop(cli: Cli, tmp_path: Path) -> None:
    store = str(tmp_path / "db")
    with parquedb.connect(store) as db:
        db.orders.create_many([{"status": "paid" if i % 2 else "open", "total": i}
                               for i in range(10)])
        define_view(db, "order_totals", "orders",
                    [{"$group": {"_id": "$status", "n": {"$sum": 1}}}])
        db.orders.create({"status": "paid", "total": 100})
    listed = cli.json("views", "list", store)
    assert [(v["name"], v["commits"], v["rows"]) for v in listed] == [("order_totals", 1, 1)]
    assert cli.json("views", "refresh", store, "order_totals")["changes"] == 1
    assert cli.json("views", "list", store)[0]["commits"] == 0
    rows = cli.json("find", store, "order_totals", "--sort", "_id")["items"]
    assert [(r["_id"], r["n"]) for r in rows] == [("open", 5), ("paid", 6)]
    assert cli.json("views", "drop", store, "order_totals") == {"dropped": "order_totals"}
    assert cli.json("views", "list", store) == []
    unknown = cli("views", "refresh", store, "nope")
    assert unknown.returncode == 1 and unknown.stderr.startswith("error [")


def test_serve_answers_health_and_refuses_a_missing_store(cli: Cli, tmp_path: Path) -> None:
    missing = cli("serve", str(tmp_path / "absent"))
    assert missing.returncode == 2 and missing.stderr.startswith("error [STORE_NOT_FOUND]")
    assert not (tmp_path / "absent").exists()
    store = str(tmp_path / "db")
    parquedb.connect(store).close()
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "parquedb", "serve", store, "--port",
                             str(port)], cwd=REPO, env=cli.env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    assert json.loads(r.read())["status"] == "ok"
                    break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_serve_without_the_server_extra(cli: Cli, tmp_path: Path) -> None:
    store = str(tmp_path / "db")
    parquedb.connect(store).close()
    code = ("import sys; sys.modules['uvicorn'] = None\n"  # as if the extra were not installed
            "from parquedb.cli import main; sys.exit(main(sys.argv[1:]))")
    out = subprocess.run([sys.executable, "-c", code, "serve", store], capture_output=True,
                         text=True, cwd=REPO, env=cli.env(), timeout=60, check=False)
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("error [MISSING_CONFIG]: ")
    assert "pip install 'parquedb[server]'" in out.stderr and "Traceback" not in out.stderr
