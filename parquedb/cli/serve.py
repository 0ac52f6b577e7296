"""``parquedb serve``: the HTTP sidecar (health, metrics, ingest) of ``parquedb.server``."""

from __future__ import annotations

import click

from parquedb.cli.target import json_flag, split_uri, storage_flags, target

INSTALL_HINT = "the server needs the 'server' extra: pip install 'parquedb[server]'"


@click.command(short_help="The HTTP server: health, metrics, ingest.")
@click.argument("args", nargs=-1, metavar="[URI]")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (another than 127.0.0.1 is reachable from outside).")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option("--create", is_flag=True, help="Create the store if there is none.")
@json_flag
@storage_flags
def serve(args: tuple[str, ...], host: str, port: int, create: bool, as_json: bool,
          s3_endpoint: str | None, anon: bool) -> None:
    """Serve the store over HTTP until SIGTERM or SIGINT. The ingest endpoints need
    PARQUEDB_INGEST_TOKEN (without it, ingest is off)."""
    uri, _ = split_uri(args, 0)
    where = target(uri, s3_endpoint, anon)
    try:
        from parquedb.server import serve as run_server
    except ImportError as e:
        from parquedb.errors import ConfigurationError, ErrorCode

        raise ConfigurationError(INSTALL_HINT, code=ErrorCode.MISSING_CONFIG) from e
    run_server(where.uri, host=host, port=port, storage_options=where.storage_options(),
               create=create)


__all__ = ["serve"]
