"""Opening an ``s3://`` store (AWS S3, Cloudflare R2, MinIO, SeaweedFS...) with its options.

``storage_options`` are s3fs's (``key``, ``secret``, ``endpoint_url``, ``client_kwargs``...)
plus these of ParqueDB's own, removed before s3fs sees them:

=========================  =======  ===========================================================
option                     default  meaning
=========================  =======  ===========================================================
``timeout``                30       seconds to wait for a response (botocore ``read_timeout``)
``connect_timeout``        5        seconds to wait for a connection
``retries``                3        retries of a transient failure (timeouts, 5xx, throttling)
``retry_backoff``          0.05     first backoff in seconds; doubles per retry, up to 2 s
``retry_deadline``         60       seconds one request may take, retries included
``circuit_breaker``        on       ``{"fail_max": 5, "reset_timeout": 10}``, or False
``check_conditional_writes`` True   prove at connect that a second create of a key fails
``cache_dir``              None     also keep immutable files on local disk, in this folder
=========================  =======  ===========================================================

Retries live in one place, here: s3fs's and botocore's own retry loops are turned off, so a
request is attempted ``1 + retries`` times, not multiplied across three layers.
"""

from __future__ import annotations

from typing import Any

from parquedb.errors import ConfigurationError, ErrorCode
from parquedb.storage.fsspec_store import FsspecStorage
from parquedb.storage.resilience import BreakerPolicy, Resilience, RetryPolicy


def _number(opts: dict[str, Any], name: str, default: float, *, minimum: float = 0) -> float:
    value = opts.pop(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise ConfigurationError(f"storage option {name!r} must be a number >= {minimum}",
                                 code=ErrorCode.INVALID_CONFIG, option=name)
    return value


def open_s3(scheme: str, rest: str, options: dict[str, Any]) -> FsspecStorage:
    try:
        import s3fs
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ConfigurationError("s3:// needs the s3 extra: pip install 'parquedb[s3]'",
                                 cause=e) from e
    opts = dict(options)
    bucket_prefix = rest.strip("/")
    if "@" in bucket_prefix.split("/", 1)[0]:
        raise ConfigurationError("put credentials in storage_options, not in the URI",
                                 code=ErrorCode.INVALID_CONFIG)
    if not bucket_prefix:
        raise ConfigurationError("an s3:// URI needs a bucket", uri=f"{scheme}://")

    timeout = _number(opts, "timeout", 30, minimum=0.001)
    connect_timeout = _number(opts, "connect_timeout", 5, minimum=0.001)
    retry = RetryPolicy(retries=int(_number(opts, "retries", 3)),
                        base=_number(opts, "retry_backoff", 0.05),
                        deadline=_number(opts, "retry_deadline", 60, minimum=0.001))
    cb = opts.pop("circuit_breaker", True)
    if cb is True or cb is None:
        breaker: BreakerPolicy | None = BreakerPolicy()
    elif cb is False:
        breaker = None
    elif isinstance(cb, dict) and set(cb) <= {"fail_max", "reset_timeout"}:
        breaker = BreakerPolicy(**cb)
    else:
        raise ConfigurationError("circuit_breaker must be True, False or "
                                 "{'fail_max': n, 'reset_timeout': seconds}",
                                 code=ErrorCode.INVALID_CONFIG, option="circuit_breaker")
    check = bool(opts.pop("check_conditional_writes", True))
    cache_dir = opts.pop("cache_dir", None)

    endpoint = opts.pop("endpoint_url", None)
    client_kwargs = dict(opts.pop("client_kwargs", {}) or {})
    if endpoint:
        client_kwargs["endpoint_url"] = endpoint
    config_kwargs = dict(opts.pop("config_kwargs", {}) or {})
    config_kwargs.setdefault("connect_timeout", connect_timeout)
    config_kwargs.setdefault("read_timeout", timeout)
    config_kwargs.setdefault("retries", {"total_max_attempts": 1})
    # no listings cache: other processes write the same prefix, and a cached listing
    # would hide their commits (s3fs also answers info/exists from it)
    opts.setdefault("use_listings_cache", False)
    fs = s3fs.S3FileSystem(client_kwargs=client_kwargs, config_kwargs=config_kwargs,
                           skip_instance_cache=True, **opts)
    fs.retries = 1  # one attempt per s3fs call: our Resilience does the retrying
    uri = f"s3://{bucket_prefix}"
    store = FsspecStorage(fs, bucket_prefix, uri=uri, cache_dir=cache_dir,
                          endpoint=str(endpoint or ""))
    store.resilience = Resilience(uri, retry=retry, breaker=breaker)
    store.check_conditional_writes = check
    return store
