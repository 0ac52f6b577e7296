"""``parquedb tail-ingest`` (Workers tail events into a dataset) and ``ai-costs`` (AI usage and
cost reports)."""

from __future__ import annotations

import os
import signal
import sys
from datetime import UTC, datetime
from typing import Any

import click

from parquedb.cli.failures import OK, BadUsage
from parquedb.cli.output import emit_json
from parquedb.cli.target import json_flag, storage_flags, target

SIGTERM_EXIT = 143


@click.command("tail-ingest", short_help="Workers tail events into a dataset.")
@click.argument("uri", metavar="URI", envvar="PARQUEDB_URI")
@click.argument("files", nargs=-1, metavar="[FILE]...")
@click.option("--dataset", default="logs/workers", show_default=True)
@click.option("--batch", type=int, default=5000, show_default=True, help="Lines per commit.")
@click.option("--interval", type=float, default=5.0, show_default=True,
              help="Seconds between commits while lines arrive (a live stream).")
@click.option("--name", default=None,
              help="A name for stdin, to keep its resume offset (a replayable input).")
@click.option("--quiet", is_flag=True, help="No progress on the terminal.")
@json_flag
@storage_flags
@click.pass_context
def tail_ingest(ctx: click.Context, uri: str, files: tuple[str, ...], dataset: str, batch: int,
                interval: float, name: str | None, quiet: bool, as_json: bool,
                s3_endpoint: str | None, anon: bool) -> None:
    """Workers tail events (NDJSON: wrangler tail --format json, Logpush; gzip or not) into a
    dataset; resumes where a killed run stopped. FILEs, or stdin when none.

    Prints its summary as JSON (with or without --json); SIGTERM commits what was read and
    exits 143.
    """
    from parquedb.streaming import WorkerLogsMV
    from parquedb.streaming.ingest import Interruptible, check_batch, ingest_stream, open_input
    from parquedb.support.progress import progress_printer

    size = check_batch(batch)
    for path in files:  # before the store is opened (or made): a typo creates nothing
        if path != "-" and not os.path.isfile(path):
            raise BadUsage(f"cannot read {path!r}: "
                           f"{'not a file' if os.path.exists(path) else 'no such file'}")
    results: list[dict[str, Any]] = []
    current: list[Interruptible] = []
    # SIGTERM ends the run as the input's end would: what was read is committed first
    signal.signal(signal.SIGTERM,
                  lambda *_: current[-1].stop() if current else sys.exit(SIGTERM_EXIT))
    with target(uri, s3_endpoint, anon).open(create=True) as db:
        logs = WorkerLogsMV(db, dataset, flush_threshold=10 * size + 1,
                            max_buffered=max(100_000, 20 * size))
        show = progress_printer(None if not quiet else False)
        for path in files or ("-",):
            label = name if path == "-" else path
            with open_input(path) as stream:
                current.append(Interruptible(iter(stream)))
                results.append(ingest_stream(logs, current[-1], label, batch_lines=size,
                                             interval=interval, progress=show))
            if current[-1].stopped:
                break
    emit_json(results if len(results) > 1 else results[0])
    ctx.exit(SIGTERM_EXIT if current and current[-1].stopped else OK)


def _date(_ctx: Any, _param: Any, text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"not a date: {text!r} (use YYYY-MM-DD)") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@click.command("ai-costs", short_help="AI usage and cost reports.")
@click.argument("uri", metavar="URI", envvar="PARQUEDB_URI")
@click.option("--from", "start", callback=_date, default=None, help="YYYY-MM-DD (UTC).")
@click.option("--to", "end", callback=_date, default=None, help="YYYY-MM-DD, excluded.")
@click.option("--by", type=click.Choice(["day", "model", "provider", "tenant", "app"]),
              default="day", show_default=True)
@click.option("--granularity", type=click.Choice(["hour", "day"]), default="day",
              show_default=True)
@click.option("--pricing", default=None, metavar="FILE", help="A JSON file of price overrides.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV on stdout.")
@json_flag
@click.option("--chart", default=None, metavar="FILE",
              help="Also write daily cost by model as SVG.")
@storage_flags
def ai_costs(uri: str, start: datetime | None, end: datetime | None, by: str, granularity: str,
             pricing: str | None, as_csv: bool, as_json: bool, chart: str | None,
             s3_endpoint: str | None, anon: bool) -> None:
    """AI usage and cost per day, model, provider, tenant or app, from the requests logged in
    ai_logs."""
    from parquedb.observability.ai import AIUsageMV, Pricing
    from parquedb.observability.ai.reports import cost_chart_svg, cost_rows, to_csv, to_json
    from parquedb.observability.ai.reports import to_table as text_table

    if as_csv and as_json:
        raise BadUsage("give --csv or --json, not both")
    with target(uri, s3_endpoint, anon).open() as db:
        usage = AIUsageMV(db, granularity, pricing=Pricing(file=pricing))
        usage.refresh()
        summary = usage.get_summary(start, end)
        if summary["stale_prices"]:  # the report is in the prices given, whatever came before
            usage.refresh(reprice=True)
            summary = usage.get_summary(start, end)
        rows = cost_rows(usage, by, start, end)
        if chart:
            with open(chart, "w", encoding="utf-8") as f:
                f.write(cost_chart_svg(usage.get_daily_costs(start, end)))
    if as_json:
        click.echo(to_json({"rows": rows, "summary": summary}))
    elif as_csv:
        click.echo(to_csv(rows), nl=False)
    else:
        click.echo(text_table(rows), nl=False)
        click.echo(f"\ntotal {summary['cost']} USD over {summary['requests']:,} requests "
                   f"(saved by caching: {summary['saved']} USD)")
    if summary["unpriced_models"]:
        click.echo("parquedb: no price for " + ", ".join(summary["unpriced_models"]) +
                   " (their requests are counted as unpriced, not as $0; add them with "
                   "--pricing)", err=True)


__all__ = ["ai_costs", "tail_ingest"]
