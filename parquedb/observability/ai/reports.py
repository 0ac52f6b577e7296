"""AI cost reports in the forms people and tools read: a table for a terminal, CSV and JSON
files, Prometheus text, OpenTelemetry metrics, and a chart of daily cost by model (SVG).

Every amount stays a ``Decimal`` until it is written: CSV and JSON carry it as exact decimal
text, Prometheus as the nearest float (that format has no other number).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from html import escape
from typing import Any

from parquedb.errors import ErrorCode, ValidationError
from parquedb.observability.prometheus import escape_help, escape_label
from parquedb.support.plain import to_plain

BY = ("day", "model", "provider", "tenant", "app")


def cost_rows(usage: Any, by: str, start: datetime | None = None,
              end: datetime | None = None) -> list[dict[str, Any]]:
    """Rows of requests, errors, tokens, cost and savings grouped by ``by`` (``day``,
    ``model``, ``provider``, ``tenant`` or ``app``), in ``[start, end)``."""
    if by not in BY:
        raise ValidationError(f"group by one of {', '.join(BY)}", code=ErrorCode.INVALID_INPUT)
    groups: dict[Any, dict[str, Any]] = {}
    for r in usage.rows(start, end):
        key = r["period"].date() if by == "day" else r[by]
        g = groups.setdefault(key, {by: key, "requests": 0, "errors": 0, "cached": 0,
                                    "input_tokens": 0, "output_tokens": 0,
                                    "cost": Decimal(0), "saved": Decimal(0), "unpriced": 0})
        for k in ("requests", "errors", "cached", "input_tokens", "output_tokens", "unpriced"):
            g[k] += r[k]
        g["cost"] += r["cost"]
        g["saved"] += r["saved"]
    return [groups[k] for k in sorted(groups, key=lambda k: (k is None, str(k)))]


def to_json(value: Any) -> str:
    """Strict JSON: amounts as exact decimal text, dates as ISO 8601."""
    return json.dumps(to_plain(value), indent=2, allow_nan=False)


def to_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """CSV with a header row; amounts as exact decimal text."""
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        for r in rows:
            writer.writerow({k: to_plain(v) if v is not None else "" for k, v in r.items()})
    return out.getvalue()


def to_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A plain-text table for a terminal (numbers right-aligned)."""
    if not rows:
        return "(no usage in this range)\n"
    cols = list(rows[0])
    cells = [[_cell(r[c]) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    numeric = [all(isinstance(r[c], (int, float, Decimal)) for r in rows) for c in cols]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w)
                         for v, w, num in zip(values, widths, numeric, strict=True)).rstrip()

    out = [line(cols), line(["-" * w for w in widths]), *(line(c) for c in cells)]
    return "\n".join(out) + "\n"


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, Decimal):
        return f"{v:.6f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def prometheus_text(usage: Any, *, prefix: str = "parquedb_ai_") -> str:
    """Counters since the first logged request, per model, provider and tenant: requests,
    errors, tokens by type and cost in USD (the exposition format, version 0.0.4)."""
    totals: dict[tuple[Any, Any, Any], dict[str, Any]] = {}
    for r in usage.rows():
        t = totals.setdefault((r["model"], r["provider"], r["tenant"]), {
            "requests": 0, "errors": 0, "unpriced": 0, "cost": Decimal(0),
            **dict.fromkeys(_TOKEN_TYPES.values(), 0)})
        t["requests"] += r["requests"]
        t["errors"] += r["errors"]
        t["unpriced"] += r["unpriced"]
        t["cost"] += r["cost"]
        for k in _TOKEN_TYPES.values():
            t[k] += r[k]
    lines: list[str] = []

    def family(name: str, help_: str) -> str:
        full = f"{prefix}{name}_total"  # named as the other counters of prometheus.py
        lines.append(f"# HELP {full} {escape_help(help_)}")
        lines.append(f"# TYPE {full} counter")
        return full

    def labels(key: tuple[Any, Any, Any], **extra: str) -> str:
        pairs = {"model": key[0], "provider": key[1], "tenant": key[2], **extra}
        return ",".join(f'{k}="{escape_label("" if v is None else str(v))}"'
                        for k, v in pairs.items())

    for name, help_, field in (("requests", "AI requests logged", "requests"),
                               ("errors", "AI requests that failed", "errors"),
                               ("unpriced_requests",
                                "AI requests without a known price (left out of the cost)",
                                "unpriced"),
                               ("cost_usd", "cost of AI requests in US dollars", "cost")):
        metric = family(name, help_)
        for key, t in sorted(totals.items(), key=lambda kv: str(kv[0])):
            lines.append(f"{metric}{{{labels(key)}}} {float(t[field])!r}")
    metric = family("tokens", "tokens of AI requests, by type")
    for key, t in sorted(totals.items(), key=lambda kv: str(kv[0])):
        for kind, field in _TOKEN_TYPES.items():
            lines.append(f"{metric}{{{labels(key, type=kind)}}} {t[field]}")
    return "\n".join(lines) + "\n"


_TOKEN_TYPES = {"input": "input_tokens", "output": "output_tokens",
                "cache_read": "cache_read_tokens", "cache_write": "cache_write_tokens",
                "reasoning": "reasoning_tokens"}


# -- the chart ---------------------------------------------------------------------------------
_PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
            "#ff9da7", "#9c755f", "#bab0ac")


def cost_chart_svg(daily: Iterable[Mapping[str, Any]], *, title: str = "AI cost per day",
                   width: int = 900, height: int = 420) -> str:
    """Daily cost stacked by model, as a standalone SVG document (no script, no font file)."""
    days: dict[Any, dict[str, Decimal]] = {}
    models: dict[str, Decimal] = {}
    for r in daily:
        model = str(r["model"])
        days.setdefault(r["date"], {})
        days[r["date"]][model] = days[r["date"]].get(model, Decimal(0)) + r["cost"]
        models[model] = models.get(model, Decimal(0)) + r["cost"]
    order = sorted(models, key=lambda m: (-models[m], m))
    shown = order[:len(_PALETTE) - 1]
    colour = {m: _PALETTE[i] for i, m in enumerate(shown)}
    left, right, top, bottom = 70, 200, 40, 50
    plot_w, plot_h = width - left - right, height - top - bottom
    dates = sorted(days)
    peak = max((sum(v.values(), Decimal(0)) for v in days.values()), default=Decimal(0))
    scale = float(peak) if peak > 0 else 1.0
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">')
    out = [head,
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left}" y="24" font-size="16" font-weight="bold">{escape(title)}</text>']
    for i in range(5):  # gridlines and USD axis
        y = top + plot_h - plot_h * i / 4
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
                   f'stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
                   f'${scale * i / 4:,.2f}</text>')
    if dates:
        bar = plot_w / len(dates)
        for i, day in enumerate(dates):
            x = left + i * bar
            y = top + plot_h
            for model in order:
                amount = days[day].get(model)
                if not amount:
                    continue
                h = plot_h * float(amount) / scale
                y -= h
                fill = colour.get(model, _PALETTE[-1])
                out.append(f'<rect x="{x + bar * 0.1:.1f}" y="{y:.1f}" width="{bar * 0.8:.1f}" '
                           f'height="{h:.1f}" fill="{fill}"><title>{escape(str(day))} '
                           f'{escape(model)}: ${amount}</title></rect>')
            if len(dates) <= 31 or i % max(1, len(dates) // 15) == 0:
                label = day.strftime("%m-%d") if hasattr(day, "strftime") else str(day)
                out.append(f'<text x="{x + bar / 2:.1f}" y="{top + plot_h + 16}" '
                           f'text-anchor="middle" font-size="10">{escape(label)}</text>')
    else:
        out.append(f'<text x="{left + plot_w / 2}" y="{top + plot_h / 2}" '
                   'text-anchor="middle">no usage in this range</text>')
    legend = [*shown, *(["other models"] if len(order) > len(shown) else [])]
    for i, model in enumerate(legend):
        y = top + 10 + i * 20
        fill = colour.get(model, _PALETTE[-1])
        out.append(f'<rect x="{left + plot_w + 20}" y="{y - 10}" width="12" height="12" '
                   f'fill="{fill}"/>')
        out.append(f'<text x="{left + plot_w + 38}" y="{y}">{escape(model[:24])}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


__all__ = ["BY", "cost_chart_svg", "cost_rows", "prometheus_text", "to_csv", "to_json",
           "to_table"]
