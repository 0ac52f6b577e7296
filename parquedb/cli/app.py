"""The ``parquedb`` group: global flags, the subcommands, and how a run ends (exit status).

Start-up stays fast: this module and the command modules import only click and the small
helpers of this package; pyarrow, DuckDB and the database are imported inside the commands.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import click

from parquedb._version import __version__
from parquedb.cli.admin import compact, vacuum, verify
from parquedb.cli.backup import backup, restore
from parquedb.cli.failures import OK, report
from parquedb.cli.info import info
from parquedb.cli.ingest import ai_costs, tail_ingest
from parquedb.cli.publish import publish
from parquedb.cli.read import find, get, history
from parquedb.cli.serve import serve
from parquedb.cli.sql import sql
from parquedb.cli.transfer import export, import_
from parquedb.cli.views import views


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", "-V", prog_name="parquedb",
                      message="%(prog)s %(version)s")
@click.option("--debug", is_flag=True, help="Show the traceback of an error (or PARQUEDB_DEBUG=1).")
def cli(debug: bool) -> None:
    """Look into a ParqueDB store, query it, move data in and out, and look after it.

    URI is a folder, s3://bucket/prefix or r2://bucket/prefix; it may be left out when
    PARQUEDB_URI is set. Reading commands never create a store. Every command takes --json.
    Exit status: 0 ok, 1 a problem found or an operation failed, 2 bad usage or no store.
    """
    if debug:
        os.environ["PARQUEDB_DEBUG"] = "1"


for command in (info, find, get, history, sql, import_, export, compact, vacuum, verify, backup,
                restore, tail_ingest, views, ai_costs, publish, serve):
    cli.add_command(command)


def run(argv: Sequence[str] | None = None) -> int:
    """Run the command line; the exit status (never raises, never prints a traceback unless
    asked to)."""
    try:
        result = cli.main(args=list(argv) if argv is not None else None, prog_name="parquedb",
                          standalone_mode=False)
    except click.exceptions.Exit as e:
        return int(e.exit_code)
    except SystemExit:
        if _reader_went_away():  # click exits 1 on EPIPE; `parquedb export ... | head` is fine
            return OK
        raise
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        return report(e)
    finally:
        try:
            sys.stdout.flush()
        except BrokenPipeError:  # the reader went away (`| head`): nothing more to say
            _silence_stdout()
    return result if isinstance(result, int) else OK


def _reader_went_away() -> bool:
    # click wraps stdout in its PacifyFlushWrapper when it met EPIPE
    if type(sys.stdout).__name__.lstrip("_") == "PacifyFlushWrapper":
        _silence_stdout()
        return True
    return False


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


__all__ = ["cli", "run"]
