"""Where a command works: the URI (an argument, or ``PARQUEDB_URI``) and its storage options
(flags, or the environment). Secrets come from the environment only and are never printed."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import click

from parquedb.cli.failures import BadUsage

if TYPE_CHECKING:
    from parquedb.database import Database

URI_ENV = "PARQUEDB_URI"
ENDPOINT_ENV = "PARQUEDB_S3_ENDPOINT"
_S3_SCHEMES = ("s3://", "s3a://", "r2://")
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Target:
    uri: str
    endpoint: str | None = None
    anon: bool = False

    @property
    def is_s3(self) -> bool:
        return self.uri.startswith(_S3_SCHEMES)

    def storage_options(self) -> dict[str, Any] | None:
        """s3fs options for an S3/R2 URI (None for anything else)."""
        if not self.is_s3:
            return None
        opts: dict[str, Any] = {}
        if self.endpoint:
            opts["endpoint_url"] = self.endpoint
        if self.anon:
            opts["anon"] = True
        else:
            key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get(
                "AWS_SECRET_ACCESS_KEY")
            if key and secret:
                opts["key"], opts["secret"] = key, secret
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if region:
            opts["client_kwargs"] = {"region_name": region}
        return opts

    def describe(self) -> dict[str, Any]:
        """What may be shown: the URI and the endpoint, never a credential."""
        return {"uri": self.uri, **({"endpoint": self.endpoint} if self.is_s3 else {})}

    def open(self, *, create: bool = False) -> Database:
        """The database. Reading commands pass ``create=False`` and never make a store;
        writing ones make one in a new or empty place, never in a folder of other files."""
        from parquedb.database import connect
        from parquedb.errors import ErrorCode, StoreNotFoundError

        options = self.storage_options()
        try:
            return connect(self.uri, create=False, storage_options=options)
        except StoreNotFoundError as e:
            if not create or e.code != ErrorCode.STORE_NOT_FOUND:
                raise
        return connect(self.uri, create=True, storage_options=options)

    def storage(self) -> Any:
        """The raw storage (for verify, backup and restore, which copy and check files)."""
        from parquedb.storage import open_storage

        return open_storage(self.uri, self.storage_options())


def storage_flags(fn: F) -> F:
    """``--s3-endpoint`` and ``--anon``, on every command that opens a store."""
    fn = click.option("--anon", is_flag=True, help="S3: no credentials (a public bucket).")(fn)
    return click.option("--s3-endpoint", envvar=ENDPOINT_ENV, default=None, metavar="URL",
                        help=f"S3-compatible endpoint (R2, MinIO...); env {ENDPOINT_ENV}.")(fn)


def json_flag(fn: F) -> F:
    return click.option("--json", "as_json", is_flag=True,
                        help="Strict JSON on stdout (see 'JSON output' in the guide).")(fn)


def split_uri(args: Sequence[str], required: int, optional: int = 0, *,
              takes_optional: Callable[[Sequence[str]], bool] | None = None
              ) -> tuple[str, list[str]]:
    """``[URI] ARG...``: the URI comes first, or from ``PARQUEDB_URI`` when it is left out.

    ``required``/``optional``: how many positional arguments follow the URI. With the
    environment set, a call with one argument fewer than the longest form is read as "no URI"
    unless ``takes_optional`` says the last one is the optional argument (a filter, say).
    """
    rest = list(args)
    env_uri = os.environ.get(URI_ENV) or None
    n = len(rest)
    if n > required + optional + 1:
        raise BadUsage(f"too many arguments: {' '.join(rest[required + optional + 1:])}")
    no_uri = n == required or (
        env_uri is not None and optional and n == required + optional
        and (takes_optional is None or takes_optional(rest)))
    if no_uri:
        if env_uri is None:
            raise BadUsage(f"missing the store URI (an argument, or set {URI_ENV})")
        return env_uri, rest
    if n < required:
        raise BadUsage("missing arguments" if n else "missing the store URI")
    return rest[0], rest[1:]


def target(uri: str, s3_endpoint: str | None, anon: bool) -> Target:
    if not uri:
        raise BadUsage("the store URI is empty")
    if s3_endpoint and not s3_endpoint.startswith(("http://", "https://")):
        raise BadUsage(f"--s3-endpoint must be an http:// or https:// URL, not {s3_endpoint!r}")
    return Target(uri, s3_endpoint or None, anon)


__all__ = ["ENDPOINT_ENV", "URI_ENV", "Target", "json_flag", "split_uri", "storage_flags",
           "target"]
