"""The ``parquedb`` command: look into a store and run its maintenance from a shell.

    parquedb info ./parquedb-data
    parquedb sql ./parquedb-data "SELECT status, count(*) FROM posts GROUP BY 1"
    parquedb compact ./parquedb-data [--collection posts]
    parquedb vacuum ./parquedb-data [--retain-hours 168] [--force]
    wrangler tail my-worker --format json | parquedb tail-ingest ./parquedb-data
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from parquedb.database import connect
from parquedb.errors import ParqueDBError


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


def _info(args: argparse.Namespace) -> int:
    with connect(args.uri) as db:
        names = db.list_collections()
        _print_json({"uri": db.uri,
                     "collections": {n: db.collection(n).count() for n in names},
                     "health": db.health()})
    return 0


def _sql(args: argparse.Namespace) -> int:
    with connect(args.uri) as db:
        table = db.sql(args.query)
    for row in table.to_pylist():
        print(json.dumps(row, default=str))
    return 0


def _compact(args: argparse.Namespace) -> int:
    with connect(args.uri) as db:
        _print_json(db.compact(args.collection))
    return 0


def _vacuum(args: argparse.Namespace) -> int:
    with connect(args.uri) as db:
        _print_json(db.vacuum(retain=timedelta(hours=args.retain_hours), force=args.force))
    return 0


def _tail_ingest(args: argparse.Namespace) -> int:
    from parquedb.streaming import WorkerLogsMV
    from parquedb.streaming.ingest import Interruptible, check_batch, ingest_stream, open_input
    from parquedb.support.progress import progress_printer

    batch = check_batch(args.batch)
    results = []
    current: list[Interruptible] = []
    # SIGTERM ends the run as the input's end would: what was read is committed first
    signal.signal(signal.SIGTERM, lambda *_: current[-1].stop() if current else sys.exit(143))
    with connect(args.uri) as db:
        logs = WorkerLogsMV(db, args.dataset, flush_threshold=10 * batch + 1,
                            max_buffered=max(100_000, 20 * batch))
        show = progress_printer(None if not args.quiet else False)
        for path in args.files or ["-"]:
            name = args.name if path == "-" else path
            with open_input(path) as stream:
                current.append(Interruptible(iter(stream)))
                results.append(ingest_stream(logs, current[-1], name, batch_lines=batch,
                                             interval=args.interval, progress=show))
            if current[-1].stopped:
                break
    _print_json(results if len(results) > 1 else results[0])
    return 143 if current and current[-1].stopped else 0


def _date(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (use YYYY-MM-DD)") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _ai_costs(args: argparse.Namespace) -> int:
    from parquedb.observability.ai import AIUsageMV, Pricing
    from parquedb.observability.ai.reports import cost_chart_svg, cost_rows, to_csv, to_json
    from parquedb.observability.ai.reports import to_table as text_table

    with connect(args.uri) as db:
        usage = AIUsageMV(db, args.granularity, pricing=Pricing(file=args.pricing))
        usage.refresh()
        summary = usage.get_summary(args.start, args.end)
        if summary["stale_prices"]:  # the report is in the prices given, whatever came before
            usage.refresh(reprice=True)
            summary = usage.get_summary(args.start, args.end)
        rows = cost_rows(usage, args.by, args.start, args.end)
        if args.chart:
            with open(args.chart, "w", encoding="utf-8") as f:
                f.write(cost_chart_svg(usage.get_daily_costs(args.start, args.end)))
    if args.json:
        print(to_json({"rows": rows, "summary": summary}))
    elif args.csv:
        sys.stdout.write(to_csv(rows))
    else:
        sys.stdout.write(text_table(rows))
        print(f"\ntotal {summary['cost']} USD over {summary['requests']:,} requests "
              f"(saved by caching: {summary['saved']} USD)")
    if summary["unpriced_models"]:
        print("parquedb: no price for " + ", ".join(summary["unpriced_models"]) +
              " (their requests are counted as unpriced, not as $0; add them with --pricing)",
              file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="parquedb", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("info", help="collections, entity counts and health")
    p.add_argument("uri")
    p.set_defaults(run=_info)
    p = sub.add_parser("sql", help="run one read-only SELECT; prints one JSON object per row")
    p.add_argument("uri")
    p.add_argument("query")
    p.set_defaults(run=_sql)
    p = sub.add_parser("compact", help="merge small files into large sorted ones")
    p.add_argument("uri")
    p.add_argument("--collection", default=None)
    p.set_defaults(run=_compact)
    p = sub.add_parser("vacuum", help="delete files no snapshot inside the window needs")
    p.add_argument("uri")
    p.add_argument("--retain-hours", type=float, default=24 * 7)
    p.add_argument("--force", action="store_true", help="allow a window under one hour")
    p.set_defaults(run=_vacuum)
    p = sub.add_parser("tail-ingest", help="Workers tail events (NDJSON: wrangler tail --format "
                       "json, Logpush) into a dataset; resumes where a killed run stopped")
    p.add_argument("uri")
    p.add_argument("files", nargs="*", help="NDJSON files, gzip or not (default: stdin)")
    p.add_argument("--dataset", default="logs/workers")
    p.add_argument("--batch", type=int, default=5000, help="lines per commit")
    p.add_argument("--interval", type=float, default=5.0,
                   help="seconds between commits while lines arrive (a live stream)")
    p.add_argument("--name", default=None,
                   help="a name for stdin, to keep its resume offset (a replayable input)")
    p.add_argument("--quiet", action="store_true", help="no progress on the terminal")
    p.set_defaults(run=_tail_ingest)
    p = sub.add_parser("ai-costs", help="AI usage and cost per day, model, provider, tenant "
                       "or app, from the requests logged in ai_logs")
    p.add_argument("uri")
    p.add_argument("--from", dest="start", type=_date, default=None, help="YYYY-MM-DD (UTC)")
    p.add_argument("--to", dest="end", type=_date, default=None, help="YYYY-MM-DD, excluded")
    p.add_argument("--by", choices=["day", "model", "provider", "tenant", "app"], default="day")
    p.add_argument("--granularity", choices=["hour", "day"], default="day")
    p.add_argument("--pricing", default=None, help="a JSON file of price overrides")
    p.add_argument("--csv", action="store_true", help="CSV on stdout")
    p.add_argument("--json", action="store_true", help="strict JSON on stdout")
    p.add_argument("--chart", default=None, help="also write daily cost by model as SVG")
    p.set_defaults(run=_ai_costs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except ParqueDBError as e:
        print(f"parquedb: {e}", file=sys.stderr)
        return 1


