"""The dashboard page: one self-contained HTML document (inline CSS, an inline script, an
inline SVG chart; no external file, font or script, so it works offline).

Every value that comes from data — script names, error messages, URLs, model names — goes
through :func:`html.escape`; the chart comes from ``cost_chart_svg``, which escapes its own
labels. The script only swaps in section HTML rendered here (``GET /api/dashboard`` returns
it in ``sections``), and the page's Content-Security-Policy admits that script by its hash.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from html import escape
from typing import Any

#: seconds between refreshes of the open page
REFRESH_SECONDS = 10
#: what an empty cell shows
DASH = "\N{EN DASH}"

SCRIPT = """
(function () {
  var status = document.getElementById("updated");
  function refresh() {
    return fetch("/api/dashboard", {cache: "no-store", headers: {"Accept": "application/json"}})
      .then(function (r) {
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.json();
      })
      .then(function (d) {
        var sections = d.sections || {};
        Object.keys(sections).forEach(function (k) {
          var el = document.getElementById("sec-" + k);
          if (el) { el.innerHTML = sections[k]; }
        });
        status.textContent = "updated " + new Date().toLocaleTimeString();
      })
      .catch(function (e) { status.textContent = "refresh failed: " + e.message; });
  }
  window.parquedbRefresh = refresh;
  setInterval(refresh, REFRESH_MS);
})();
""".replace("REFRESH_MS", str(REFRESH_SECONDS * 1000))

CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; connect-src 'self'; "
       f"script-src 'sha256-{base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()}'"
       "; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f6f7f9;
color:#1d2330}
header{background:#1d2330;color:#fff;padding:12px 24px;display:flex;gap:24px;
align-items:baseline}
header h1{font-size:20px;margin:0}header small{color:#b8c0cc}
main{padding:16px 24px;display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));
gap:16px}
section{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:12px 16px;
overflow:auto}
section.wide{grid-column:1/-1}
h2{font-size:15px;margin:0 0 8px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:4px 6px;border-bottom:1px solid #eef0f3;vertical-align:top}
th{color:#5b6573;font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.figures{display:flex;flex-wrap:wrap;gap:16px;margin-bottom:12px}
.figure{min-width:120px}.figure b{display:block;font-size:22px}
.figure span{color:#5b6573;font-size:12px}
.ok{color:#1a7f37}.degraded{color:#9a6700}.down,.error,.open{color:#cf222e}
.msg{font-family:ui-monospace,monospace;white-space:pre-wrap;word-break:break-word}
.muted{color:#5b6573}
"""


def _num(v: Any) -> str:
    if v is None:
        return DASH
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.2f}"
    return escape(str(v))


def _usd(v: Any) -> str:
    if v is None:
        return DASH
    return escape(f"${Decimal(v):,.4f}")


def _when(v: Any) -> str:
    if isinstance(v, datetime):
        return escape(v.strftime("%Y-%m-%d %H:%M:%S"))
    if isinstance(v, (int, float)):
        return escape(datetime.fromtimestamp(v, tz=UTC).strftime("%Y-%m-%d %H:%M:%S"))
    return escape(str(v)) if v is not None else DASH


def _text(v: Any) -> str:
    return DASH if v is None else escape(str(v))


def _figure(value: str, label: str, css: str = "") -> str:
    cls = f' class="{css}"' if css else ""
    return f'<div class="figure"><b{cls}>{value}</b><span>{escape(label)}</span></div>'


def _table(headers: Iterable[str], rows: Iterable[list[str]], numeric: set[int] | None = None,
           empty: str = "nothing yet") -> str:
    numeric = numeric or set()
    heads = "".join(f'<th{" class=num" if i in numeric else ""}>{escape(h)}</th>'
                    for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f'<td{" class=num" if i in numeric else ""}>{c}</td>'
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    if not body:
        return f'<p class="muted">{escape(empty)}</p>'
    return f"<table><thead><tr>{heads}</tr></thead><tbody>{body}</tbody></table>"


def _failed(part: dict[str, Any]) -> str | None:
    err = part.get("error")
    return f'<p class="error">could not read: {escape(str(err))}</p>' if err else None


def render_overview(d: dict[str, Any]) -> str:
    health = d["health"]
    status = str(health.get("status", "down"))
    storage = health.get("storage") or {}
    logs, ingest = d["logs"], d["ingest"]
    rates = ingest.get("rates", {})
    figures = [
        _figure(escape(status), "health", status),
        _figure(_num(storage.get("latency_ms")), "storage probe, ms"),
        _figure(_num(logs.get("records")), f"log records in {logs.get('dataset', '')}"),
        _figure(_num(ingest["records"].get("tail", 0)), "log records ingested here"),
        _figure(_num(ingest["records"].get("ai", 0)), "AI requests ingested here"),
        _figure(_num(rates.get("tail", {}).get("records_per_s", 0.0)),
                "log records/s, last minute"),
        _figure(_num(rates.get("ai", {}).get("records_per_s", 0.0)),
                "AI requests/s, last minute"),
        _figure("on" if ingest["enabled"] else "off", "ingest",
                "ok" if ingest["enabled"] else "degraded"),
    ]
    out = [f'<div class="figures">{"".join(figures)}</div>']
    if storage.get("error"):
        out.append(f'<p class="error">storage: {escape(str(storage["error"]))}</p>')
    if logs.get("last_error"):
        out.append(f'<p class="error">last flush error: {escape(str(logs["last_error"]))}</p>')
    circuits = health.get("circuits") or {}
    rows = [[_text(name), (f'<span class="{escape(str(c.get("state")))}">'
                           f'{_text(c.get("state"))}</span>'),
             _num(c.get("failures")), _text(c.get("last_error"))]
            for name, c in sorted(circuits.items()) if isinstance(c, dict)]
    out.append("<h2>Circuits</h2>" + _table(["circuit", "state", "failures", "last error"],
                                             rows, {2},
                                             "no circuit has opened a request yet"))
    return "".join(out)


def render_recent(d: dict[str, Any]) -> str:
    part = d["recent_errors"]
    failed = _failed(part)
    if failed:
        return failed
    rows = [[_when(r["timestamp"]), _text(r["scriptName"]),
             f'<span class="msg">{_text(r["message"])}</span>', _text(r["outcome"]),
             _num(r["httpStatus"])] for r in part["rows"]]
    return _table(["time (UTC)", "script", "message", "outcome", "status"], rows, {4},
                  "no error records")


def render_top(d: dict[str, Any]) -> str:
    part = d["top_errors"]
    failed = _failed(part)
    if failed:
        return failed
    rows = [[_num(r["count"]), _text(r["category"]), _text(r["severity"]),
             f'<span class="msg">{_text(r["message"])}</span>',
             _text(", ".join(str(s) for s in r["scripts"] or [])), _when(r["last_seen"])]
            for r in part["rows"]]
    return _table(["count", "category", "severity", "message", "scripts", "last seen (UTC)"],
                  rows, {0}, "no classified errors")


def render_views(d: dict[str, Any]) -> str:
    part = d["views"]
    failed = _failed(part)
    if failed:
        return failed
    rows = [[_text(v["view"]), _text(v.get("source")), _num(v.get("commits")),
             _num(v.get("rows")), _num(v.get("seconds"))] for v in part["rows"]]
    return _table(["view", "source", "commits behind", "rows behind", "seconds behind"], rows,
                  {2, 3, 4}, "no materialized views")


def render_ai(d: dict[str, Any]) -> str:
    part = d["ai"]
    failed = _failed(part)
    if failed:
        return failed
    if not part.get("available"):
        return f'<p class="muted">{_text(part.get("note"))}</p>'
    s = part["summary"]
    figures = [_figure(_usd(s["cost"]), f"cost, last {part['days']} days"),
               _figure(_num(s["requests"]), "requests"), _figure(_num(s["errors"]), "errors"),
               _figure(_num(s["input_tokens"]), "input tokens"),
               _figure(_num(s["output_tokens"]), "output tokens")]
    rows = [[_text(m), _num(v["requests"]), _usd(v["cost"])]
            for m, v in sorted(part["by_model"].items(), key=lambda kv: str(kv[0]))]
    out = [f'<div class="figures">{"".join(figures)}</div>', part["chart_svg"],
           _table(["model", "requests", "cost (USD)"], rows, {1, 2})]
    if part.get("unpriced_models"):
        out.append('<p class="muted">no known price (left out of the cost): '
                   f'{_text(", ".join(part["unpriced_models"]))}</p>')
    return "".join(out)


#: section id -> (title, renderer, full width)
SECTIONS: dict[str, tuple[str, Callable[[dict[str, Any]], str], bool]] = {
    "overview": ("Health and ingest", render_overview, False),
    "views": ("View staleness", render_views, False),
    "recent": ("Recent worker errors", render_recent, True),
    "top": ("Most frequent worker errors", render_top, True),
    "ai": ("AI cost per day by model", render_ai, True),
}


def render_sections(d: dict[str, Any]) -> dict[str, str]:
    return {key: render(d) for key, (_, render, _) in SECTIONS.items()}


def render_page(d: dict[str, Any]) -> str:
    sections = render_sections(d)
    body = "".join(
        f'<section{" class=wide" if wide else ""} aria-label="{escape(title)}">'
        f'<h2>{escape(title)}</h2><div id="sec-{key}">{sections[key]}</div></section>'
        for key, (title, _, wide) in SECTIONS.items())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>ParqueDB server</title><style>{STYLE}</style></head>
<body><header><h1>ParqueDB server</h1><small>generated {_when(d["generated_at"])} UTC</small>
<small id="updated">refreshes every {REFRESH_SECONDS} s</small></header>
<main>{body}</main>
<script>{SCRIPT}</script></body></html>
"""


__all__ = ["CSP", "REFRESH_SECONDS", "SCRIPT", "SECTIONS", "render_page", "render_sections"]
