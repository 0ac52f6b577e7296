"""Any fsspec filesystem (``memory://`` for tests, ``s3://`` for S3 and R2).

Creates use ``pipe_file(mode="create")``: atomic on fsspec's memory filesystem (it opens with
"xb") and on S3 (``If-None-Match: *``). S3 servers that answer a lost race with a bare HTTP 412
(SeaweedFS) make s3fs raise ``OSError(EINVAL)``; when its cause is a 412 / PreconditionFailed
that is mapped to ``FileExistsError`` here (other EINVAL errors are real errors).
"""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
import threading
from typing import Any

from parquedb.errors import AuthorizationError, ConfigurationError, ErrorCode
from parquedb.storage.base import FileMeta, Storage
from parquedb.storage.classify import http_status
from parquedb.storage.paths import check_key


def _precondition_failed(e: OSError) -> bool:
    """Did the server refuse a conditional write (HTTP 412 PreconditionFailed)?

    s3fs turns a 412 without the ``Condition`` field (SeaweedFS) into ``OSError(EINVAL)``, the
    same errno it uses for malformed requests, bad tokens etc.; so look at the botocore error
    it chains as the cause, and only without one fall back to the message."""
    status, code = http_status(e)
    if status is not None or code is not None:
        return code == "PreconditionFailed" or status == 412
    text = str(e)
    return e.errno == errno.EINVAL and ("PreconditionFailed" in text or "pre-condition" in text)


_CACHE_CHUNK = 16 << 20  # bytes per request when filling the disk cache


class FsspecStorage(Storage):
    def __init__(self, fs: Any, root: str, *, uri: str, cache_dir: str | None = None,
                 endpoint: str = "") -> None:
        super().__init__()
        self.fs = fs
        self.root = root.rstrip("/")
        self.uri = uri
        self.endpoint = endpoint
        self.protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        self.cache_dir = cache_dir
        #: prove at connect that the server refuses a second create (see verify_conditional)
        self.check_conditional_writes = False
        #: S3's LastModified has whole seconds
        self.mtime_resolution = 1.0 if self.is_s3 else 0.0
        self.parallel_reads = 8 if self.is_s3 else 1

    @property
    def is_s3(self) -> bool:
        return self.protocol in ("s3", "s3a") and hasattr(self.fs, "call_s3")

    def _path(self, key: str) -> str:
        return f"{self.root}/{key}"

    def put_file(self, key: str, path: str) -> int:
        """Upload a local file without reading it into memory (s3fs streams large files as a
        multipart upload), then remove it."""
        check_key(key)
        size = os.path.getsize(path)
        self._request("PUT", key, lambda: self.fs.put_file(path, self._path(key)), size)
        os.unlink(path)
        return size

    def _do_get(self, key: str) -> bytes:
        return self.fs.cat_file(self._path(key))

    def cached_path(self, key: str) -> str | None:
        """Data and event files have unique names and never change, so a local copy made once
        stays valid for good (also across processes and restarts sharing ``cache_dir``)."""
        path = self._cache_file(key)
        if path is None:
            return None
        if os.path.exists(path):
            return path
        # in chunks, so a large file never sits whole in memory: the last chunk comes with the
        # size (one request for a file up to a chunk), then the ones before it
        tail, size = self.get_tail(key, _CACHE_CHUNK)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{secrets.token_hex(6)}.tmp"
        try:
            with open(tmp, "wb") as f:
                for start in range(0, size - len(tail), _CACHE_CHUNK):
                    f.write(self.get_range(key, start, min(start + _CACHE_CHUNK,
                                                           size - len(tail))))
                f.write(tail)
            os.replace(tmp, path)  # readers see the whole file or none
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        return path

    def cache_root(self) -> str | None:
        """The folder of this store's disk cache (None without ``cache_dir``)."""
        if not self.cache_dir:
            return None
        ident = hashlib.sha256(f"{self.endpoint}|{self.uri}".encode()).hexdigest()[:16]
        return os.path.join(os.path.abspath(self.cache_dir), ident)

    def _cache_file(self, key: str) -> str | None:
        root = self.cache_root()
        if root is None or not key.endswith(".parquet"):
            return None
        check_key(key)
        return os.path.join(root, *key.split("/"))

    def delete(self, key: str) -> None:
        super().delete(key)
        path = self._cache_file(key)
        if path is not None:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    def _do_get_range(self, key: str, start: int, end: int) -> bytes:
        if end <= start:
            return b""
        return self.fs.cat_file(self._path(key), start=start, end=end)

    def _do_get_tail(self, key: str, n: int) -> tuple[bytes, int]:
        if not self.is_s3:
            return super()._do_get_tail(key, n)
        from fsspec.asyn import sync

        bucket, obj, _ = self.fs.split_path(self._path(key))

        async def tail() -> tuple[bytes, int]:
            resp = await self.fs._call_s3("get_object", Bucket=bucket, Key=obj,
                                          Range=f"bytes=-{int(n)}")
            try:
                body = await resp["Body"].read()
            finally:
                resp["Body"].close()
            rng = resp.get("ContentRange") or ""
            total = int(rng.rsplit("/", 1)[1]) if "/" in rng else len(body)
            return body, total

        return sync(self.fs.loop, tail)

    def _do_stat(self, key: str) -> FileMeta:
        info = self.fs.info(self._path(key))
        if info.get("type") == "directory":
            raise FileNotFoundError(key)
        return FileMeta(key, int(info.get("size") or 0), _mtime(info))

    def _do_put(self, key: str, data: bytes) -> None:
        self.fs.pipe_file(self._path(key), data)

    def _do_create(self, key: str, data: bytes) -> None:
        try:
            self.fs.pipe_file(self._path(key), data, mode="create")
        except OSError as e:
            if isinstance(e, FileExistsError):
                raise
            if _precondition_failed(e):
                raise FileExistsError(key) from e
            raise

    def _do_delete(self, key: str) -> None:
        self.fs.rm_file(self._path(key))

    def _do_exists(self, key: str) -> bool:
        """Is there an object (not a folder) at ``key``? On S3 one HEAD request."""
        path = self._path(key)
        if self.protocol in ("s3", "s3a") and hasattr(self.fs, "call_s3"):
            bucket, obj, _ = self.fs.split_path(path)
            try:
                self.fs.call_s3("head_object", Bucket=bucket, Key=obj)
                return True
            except FileNotFoundError:
                return False
        try:
            info = self.fs.info(path)
        except FileNotFoundError:
            return False
        return info.get("type") != "directory"

    def _do_list(self, prefix: str) -> list[FileMeta]:
        base = self._path(prefix)
        try:
            found = self.fs.find(base, detail=True)
        except FileNotFoundError:
            return []
        out = []
        root = self.root.lstrip("/")
        for path, info in found.items():
            if info.get("type") == "directory":
                continue
            rel = path.lstrip("/")[len(root):].lstrip("/")
            out.append(FileMeta(rel, int(info.get("size") or 0), _mtime(info)))
        return out

    # -- the conditional-write check -----------------------------------------------------
    def verify_conditional(self) -> bool:
        """Does the server refuse to create an object that exists? Some S3 look-alikes ignore
        ``If-None-Match: *`` and overwrite; on such a store two writers could both "win" a
        commit and one of them would silently lose its write. Costs two PUTs and a DELETE,
        once per store and process (see :func:`conditional_writes_ok`)."""
        key = f"_probe/conditional-{secrets.token_hex(8)}"
        try:
            if not self.create(key, b"1"):
                return True  # cannot happen with a fresh random key; nothing was proven wrong
            return not self.create(key, b"2")
        finally:
            try:
                self.delete(key)
            except Exception:  # a leftover probe object is harmless
                pass


_VERIFIED: dict[tuple[str, str], bool] = {}
_VERIFIED_LOCK = threading.Lock()


def conditional_writes_ok(store: FsspecStorage) -> bool:
    """:meth:`FsspecStorage.verify_conditional`, remembered per (endpoint, store) in this
    process so that opening the same store again costs nothing."""
    ident = (store.endpoint, store.uri)
    with _VERIFIED_LOCK:
        known = _VERIFIED.get(ident)
    if known is None:
        known = store.verify_conditional()
        with _VERIFIED_LOCK:
            _VERIFIED[ident] = known
    return known


def refuse_unless_conditional(store: Storage) -> None:
    """Mark ``store`` read-only when it does not refuse a second create of a key, or when
    these credentials may not write at all (a read-only key can still open it to read).

    Takes any storage because the database asks every store it opens; only an fsspec store
    can prove the check (a local folder or memory creates atomically: nothing to do)."""
    if not isinstance(store, FsspecStorage):
        return
    try:
        ok = conditional_writes_ok(store)
    except AuthorizationError as e:
        store.write_refusal = AuthorizationError(
            f"{store.uri}: these credentials may not write (the conditional-write check was "
            f"refused: {e.message}); the store is open for reading only",
            code=ErrorCode.PERMISSION_DENIED, uri=store.uri, cause=e)
        return
    if not ok:
        store.write_refusal = ConfigurationError(
            f"{store.uri} ignores conditional writes (If-None-Match: *): a second create of "
            "the same key succeeded, so concurrent commits could overwrite each other. The "
            "store can be read but not written; use a server that supports conditional "
            "writes (AWS S3, Cloudflare R2, MinIO, SeaweedFS...)",
            code=ErrorCode.NOT_SUPPORTED, uri=store.uri, feature="conditional_writes")


def _mtime(info: dict[str, Any]) -> float:
    mtime = info.get("LastModified") or info.get("created") or info.get("mtime") or 0
    if hasattr(mtime, "timestamp"):
        mtime = mtime.timestamp()
    return float(mtime)
