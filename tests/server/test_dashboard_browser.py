"""The dashboard in a real browser: Debian's chromium, headless, driven over the DevTools
protocol. The page must load and refresh without a console error or exception, show the
figures of what was ingested, show hostile text as text, and look like something (the
screenshot is kept as a test artefact).

Chromium is required, not optional: CI installs it (.ci/run), so its absence fails."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import websocket

from helpers.serverproc import TOKEN, records_of, trace_item

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("PARQUEDB_TEST_ARTIFACTS")
                 or Path(__file__).resolve().parents[1] / "artifacts")
EVIL = "<script>window.__pwned = 1</script><i>not italic</i>"


class DevTools:
    """One page of a headless chromium, over the DevTools protocol."""

    def __init__(self, ws_url: str) -> None:
        self.ws = websocket.create_connection(ws_url, timeout=30, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise AssertionError(f"{method}: {msg['error']}")
                result: dict[str, Any] = msg.get("result", {})
                return result
            self.events.append(msg)

    def wait_event(self, method: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        seen = len(self.events)
        while time.monotonic() < deadline:
            for e in self.events[seen:]:
                if e.get("method") == method:
                    return e
            seen = len(self.events)
            self.ws.settimeout(max(0.1, deadline - time.monotonic()))
            self.events.append(json.loads(self.ws.recv()))
        raise AssertionError(f"no {method} within {timeout} s")

    def evaluate(self, expression: str) -> Any:
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                      awaitPromise=True)
        if "exceptionDetails" in r:
            raise AssertionError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def problems(self) -> list[str]:
        """Console errors and warnings, uncaught exceptions, and browser log errors
        (CSP violations, failed loads) seen so far."""
        out = []
        for e in self.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "warning",
                                                                     "assert"):
                out.append(f"console.{p['type']}: {p.get('args')}")
            elif m == "Runtime.exceptionThrown":
                out.append(f"exception: {p.get('exceptionDetails')}")
            elif m == "Log.entryAdded" and p["entry"]["level"] in ("error", "warning"):
                out.append(f"log {p['entry']['level']}: {p['entry'].get('text')}")
        return out

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[DevTools]:
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        # CI installs chromium and sets PARQUEDB_REQUIRE_BROWSER=1: there a missing browser
        # fails the test; on a fresh machine without one, the README's test command skips it
        message = "chromium is required: apt-get install -y chromium (CI's .ci/run installs it)"
        if os.environ.get("PARQUEDB_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    exe = CHROMIUM if Path(CHROMIUM).exists() else str(shutil.which("chromium"))
    proc = subprocess.Popen(
        [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--no-default-browser-check", "--disable-extensions", "--remote-debugging-port=0",
         "--remote-debugging-address=127.0.0.1", f"--user-data-dir={tmp_path / 'profile'}",
         "--window-size=1280,1800", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        browser_ws = None
        deadline = time.monotonic() + 30
        assert proc.stderr is not None
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line and proc.poll() is not None:
                break
            found = re.search(r"DevTools listening on (ws://\S+)", line)
            if found:
                browser_ws = found.group(1)
                break
        assert browser_ws, "chromium did not report its DevTools address"
        port = browser_ws.split("//", 1)[1].split("/", 1)[0]
        with urllib.request.urlopen(f"http://{port}/json/list", timeout=10) as r:
            targets = json.load(r)
        page = next(t for t in targets if t["type"] == "page")
        tools = DevTools(page["webSocketDebuggerUrl"])
        try:
            yield tools
        finally:
            tools.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the browser we started and its helpers
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_dashboard_in_a_real_browser(server: Any, tmp_path: Path, browser: DevTools) -> None:
    proc = server(str(tmp_path / "db"), TOKEN)
    batch = [trace_item(i, script="checkout-worker") for i in range(30)]
    batch += [trace_item(100 + i, script="checkout-worker", exception=f"card declined {i}")
              for i in range(4)]
    batch.append(trace_item(200, script="search-worker", exception=EVIL))
    assert proc.post("/ingest/tail", batch).status == 200
    now = datetime.now(UTC).replace(microsecond=0).isoformat()
    ai = [{"id": f"ai-{i}", "model": m, "provider": p, "input_tokens": 2000,
           "output_tokens": 700, "latency_ms": 900.0, "timestamp": now}
          for i, (m, p) in enumerate([("gpt-4o-2024-08-06", "openai")] * 3
                                     + [("claude-3-5-sonnet-20241022", "anthropic")] * 2)]
    assert proc.post("/ingest/ai", ai).json()["stored"] == 5

    for domain in ("Runtime", "Log", "Page"):
        browser.call(f"{domain}.enable")
    browser.call("Emulation.setDeviceMetricsOverride", width=1280, height=1800,
                 deviceScaleFactor=1, mobile=False)
    browser.call("Page.navigate", url=f"http://127.0.0.1:{proc.port}/")
    browser.wait_event("Page.loadEventFired")

    figures = browser.evaluate("""Object.fromEntries([...document.querySelectorAll('.figure')]
        .map(f => [f.querySelector('span').textContent, f.querySelector('b').textContent]))""")
    total = records_of(batch)
    assert figures["log records in logs/workers"] == str(total)
    assert figures["log records ingested here"] == str(total)
    assert figures["AI requests ingested here"] == "5"
    assert figures["health"] == "ok"
    text = browser.evaluate("document.body.innerText")
    assert "checkout-worker" in text and "card declined" in text
    chart = browser.evaluate("document.querySelector('#sec-ai svg').textContent")
    assert "gpt-4o-2024-08-06" in chart and "claude-3-5-sonnet-20241022" in chart
    # hostile text is shown as text, never run or parsed as markup
    assert EVIL in text
    assert browser.evaluate("window.__pwned === undefined") is True
    assert browser.evaluate("document.querySelectorAll('main i, main script').length") == 0

    # the page's own refresh (the inline script, admitted by the CSP hash) works
    assert proc.post("/ingest/tail", [trace_item(300, script="late-worker")]).status == 200
    browser.evaluate("window.parquedbRefresh()")
    assert "late-worker" not in text
    assert "updated" in browser.evaluate("document.getElementById('updated').textContent")
    again = browser.evaluate("""Object.fromEntries([...document.querySelectorAll('.figure')]
        .map(f => [f.querySelector('span').textContent, f.querySelector('b').textContent]))""")
    assert again["log records in logs/workers"] == str(total + 1)
    assert browser.evaluate("window.__pwned === undefined") is True

    shot = base64.b64decode(browser.call("Page.captureScreenshot", format="png")["data"])
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "dashboard.png").write_bytes(shot)
    width, height = png_size(shot)
    assert (width, height) == (1280, 1800)
    assert len(shot) > 30_000, "a blank page compresses to almost nothing"
    time.sleep(0.3)  # let late console messages arrive
    browser.call("Runtime.evaluate", expression="1")
    assert browser.problems() == []
