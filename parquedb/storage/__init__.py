"""Storage: one interface over a local folder or any fsspec filesystem; path safety."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigurationError, ErrorCode
from .base import FileMeta, Storage
from .fsspec_store import FsspecStorage
from .local import LocalStorage
from .memory import MemoryStorage
from .paths import check_key, join


def open_storage(uri: str, storage_options: dict[str, Any] | None = None) -> Storage:
    """Build the storage for a connection string: a path, ``memory://name`` or ``s3://b/p``."""
    opts = dict(storage_options or {})
    if "://" not in uri:
        return LocalStorage(uri, **opts)
    scheme, rest = uri.split("://", 1)
    if scheme == "file":
        return LocalStorage(rest, **opts)
    if scheme == "memory":
        name = rest.strip("/") or "default"
        check_key(name.replace("/", "_"))
        return MemoryStorage(name)
    if scheme in ("s3", "s3a", "r2"):
        try:
            import s3fs
        except ImportError as e:  # pragma: no cover - depends on the install
            raise ConfigurationError("s3:// needs the s3 extra: pip install 'parquedb[s3]'",
                                     cause=e) from e
        endpoint = opts.pop("endpoint_url", None)
        client_kwargs = dict(opts.pop("client_kwargs", {}) or {})
        if endpoint:
            client_kwargs["endpoint_url"] = endpoint
        # no listings cache: other processes write the same prefix, and a cached listing
        # would hide their commits (s3fs also answers info/exists from it)
        opts.setdefault("use_listings_cache", False)
        fs = s3fs.S3FileSystem(client_kwargs=client_kwargs, skip_instance_cache=True, **opts)
        bucket_prefix = rest.strip("/")
        if "@" in bucket_prefix.split("/", 1)[0]:
            raise ConfigurationError("put credentials in storage_options, not in the URI",
                                     code=ErrorCode.INVALID_CONFIG)
        if not bucket_prefix:
            raise ConfigurationError("an s3:// URI needs a bucket", uri=f"{scheme}://")
        return FsspecStorage(fs, bucket_prefix, uri=f"s3://{bucket_prefix}")
    raise ConfigurationError(f"unsupported storage scheme {scheme!r}", scheme=scheme)


__all__ = ["FileMeta", "FsspecStorage", "LocalStorage", "MemoryStorage", "Storage", "check_key", "join",
           "open_storage"]
