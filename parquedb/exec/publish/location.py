"""Where a published table lives, and how the table's own writer reaches it.

``<root>/_published/<format>/<name>/``: a local folder path, or an ``s3://`` URI with the
credentials and endpoint of the store's own connection translated for deltalake (object_store
keys) and pyiceberg (FileIO properties). Names are checked here, before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from parquedb.errors import ConfigurationError, ErrorCode, PathTraversalError, ValidationError
from parquedb.storage import Storage
from parquedb.storage.paths import check_key

FORMATS = ("delta", "iceberg")
PREFIX = "_published"


@dataclass
class Location:
    key: str  #: the table's folder as a storage key (``_published/delta/posts``)
    uri: str  #: what an outside reader opens: a local path or ``s3://bucket/.../posts``
    delta_options: dict[str, str] = field(default_factory=dict)
    iceberg_properties: dict[str, str] = field(default_factory=dict)


def check_format(fmt: Any) -> str:
    if fmt not in FORMATS:
        raise ValidationError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r:.40}",
                              code=ErrorCode.INVALID_INPUT, format=str(fmt)[:40])
    return str(fmt)


def check_name_safe(name: Any) -> str:
    """Refuse a name that could leave ``_published/<format>/`` (``..``, ``/x``, ``a\\b``)."""
    if not isinstance(name, str) or not name:
        raise ValidationError("publish needs a collection or dataset name",
                              code=ErrorCode.INVALID_INPUT)
    try:
        check_key(name)
    except PathTraversalError:
        raise PathTraversalError(f"{name!r:.80} is not a collection or dataset name",
                                 path=name[:200]) from None
    return name


def locate(storage: Storage, fmt: str, name: str,
           extra_options: dict[str, str] | None = None) -> Location:
    """The location of table ``name`` in ``fmt`` on ``storage`` (only local folders and S3
    stores have one an outside engine can open)."""
    key = check_key(f"{PREFIX}/{fmt}/{name}")
    local = storage.local_path(key) if storage.is_local else None
    if local is not None:
        return Location(key, local, dict(extra_options or {}))
    fs = getattr(storage, "fs", None)
    if not getattr(storage, "is_s3", False) or fs is None:
        raise ConfigurationError(
            f"{storage.uri} is not a place other engines can read: publish from a store on a "
            "local folder or S3", code=ErrorCode.NOT_SUPPORTED, uri=storage.uri)
    root = str(getattr(storage, "root", "")).strip("/")
    loc = Location(key, f"s3://{root}/{key}")
    loc.delta_options, loc.iceberg_properties = _s3_options(fs)
    loc.delta_options.update(extra_options or {})
    return loc


def _s3_options(fs: Any) -> tuple[dict[str, str], dict[str, str]]:
    """The s3fs connection's credentials, endpoint and region, for deltalake and pyiceberg.

    deltalake commits a Delta version with a conditional PUT (``If-None-Match``), the same
    primitive ParqueDB's own commits use: ``conditional_put = etag`` makes two publishers safe
    without a lock service (AWS S3, R2, MinIO, SeaweedFS honour it)."""
    kwargs = dict(getattr(fs, "client_kwargs", None) or {})
    endpoint = kwargs.get("endpoint_url") or getattr(fs, "endpoint_url", None)
    region = kwargs.get("region_name") or "us-east-1"
    creds = {"key": getattr(fs, "key", None), "secret": getattr(fs, "secret", None),
             "token": getattr(fs, "token", None)}
    delta = {"AWS_REGION": region, "conditional_put": "etag"}
    # pyiceberg writes through s3fs, like the store itself (pyarrow's S3 client signs
    # multipart uploads in a way some S3 look-alikes, SeaweedFS among them, refuse)
    ice = {"s3.region": region, "py-io-impl": "pyiceberg.io.fsspec.FsspecFileIO"}
    if endpoint:
        delta["AWS_ENDPOINT_URL"] = endpoint
        ice["s3.endpoint"] = endpoint
        if str(endpoint).startswith("http://"):
            delta["AWS_ALLOW_HTTP"] = "true"
    for ours, dname, iname in (("key", "AWS_ACCESS_KEY_ID", "s3.access-key-id"),
                               ("secret", "AWS_SECRET_ACCESS_KEY", "s3.secret-access-key"),
                               ("token", "AWS_SESSION_TOKEN", "s3.session-token")):
        value = creds[ours]
        if isinstance(value, str) and value:
            delta[dname] = value
            ice[iname] = value
    return delta, ice
