"""A local folder. Writes are durable (fsync of file and directory) and creates are atomic.

fsspec's local ``pipe_file(mode="create")`` checks ``exists()`` and then opens for writing, so
two writers can both win and a reader can see half a file. Instead a create writes a private
temporary file, fsyncs it and publishes it with ``os.link``, which fails atomically with
``FileExistsError`` when the name is taken.
"""

from __future__ import annotations

import os
import secrets

from parquedb.storage.base import FileMeta, Storage
from parquedb.storage.paths import check_key


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalStorage(Storage):
    is_local = True

    def __init__(self, root: str, *, durable: bool = True) -> None:
        super().__init__()
        self.root = os.path.abspath(root)
        self.uri = self.root
        self.durable = durable
        self._dirs: set[str] = set()
        self._ensure_dir(self.root)  # a new store's folder is made durable, parents included

    def _path(self, key: str) -> str:
        return os.path.join(self.root, *key.split("/"))

    def local_path(self, key: str) -> str:
        return self._path(key)

    def ensure_folder(self, key: str) -> str:
        """Make the folder ``key`` (parents included) durably; its OS path."""
        path = self._path(check_key(key))
        self._ensure_dir(path)
        return path

    def _ensure_dir(self, d: str) -> None:
        if d in self._dirs:
            return
        if not os.path.isdir(d):
            parent = os.path.dirname(d)
            self._ensure_dir(parent)
            try:
                os.mkdir(d)
            except FileExistsError:
                pass
            if self.durable:
                _fsync_dir(parent)
        self._dirs.add(d)

    def _write_temp(self, path: str, data: bytes) -> str:
        d = os.path.dirname(path)
        self._ensure_dir(d)
        tmp = os.path.join(d, f".tmp-{secrets.token_hex(8)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            if self.durable:
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        os.close(fd)
        return tmp

    def temp_path(self, key: str) -> str:
        """A temporary name beside ``key``: publishing it is a rename, never a copy."""
        path = self._path(key)
        self._ensure_dir(os.path.dirname(path))
        return os.path.join(os.path.dirname(path), f".tmp-{secrets.token_hex(8)}")

    def put_file(self, key: str, path: str) -> int:
        final = self._path(check_key(key))

        def publish() -> int:
            if self.durable:
                fd = os.open(path, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            size = os.path.getsize(path)
            os.replace(path, final)
            if self.durable:
                _fsync_dir(os.path.dirname(final))
            return size

        return self._request("PUT", key, publish)

    def _do_get(self, key: str) -> bytes:
        with open(self._path(key), "rb") as f:
            return f.read()

    def _do_get_range(self, key: str, start: int, end: int) -> bytes:
        with open(self._path(key), "rb") as f:
            f.seek(start)
            return f.read(max(0, end - start))

    def _do_get_tail(self, key: str, n: int) -> tuple[bytes, int]:
        with open(self._path(key), "rb") as f:
            size = os.fstat(f.fileno()).st_size
            f.seek(max(0, size - n))
            return f.read(), size

    def _do_stat(self, key: str) -> FileMeta:
        st = os.stat(self._path(key))
        return FileMeta(key, st.st_size, st.st_mtime)

    def _do_put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        tmp = self._write_temp(path, data)
        os.replace(tmp, path)
        if self.durable:
            _fsync_dir(os.path.dirname(path))

    def _do_create(self, key: str, data: bytes) -> None:
        path = self._path(key)
        tmp = self._write_temp(path, data)
        try:
            os.link(tmp, path)  # atomic; FileExistsError for the loser
        finally:
            os.unlink(tmp)
        if self.durable:
            _fsync_dir(os.path.dirname(path))

    def _do_delete(self, key: str) -> None:
        os.unlink(self._path(key))

    def _do_exists(self, key: str) -> bool:
        return os.path.exists(self._path(key))

    def _walk(self, prefix: str, temporaries: bool) -> list[FileMeta]:
        out: list[FileMeta] = []
        for dirpath, _dirs, files in os.walk(self._path(prefix) if prefix else self.root):
            rel = os.path.relpath(dirpath, self.root).replace(os.sep, "/")
            for name in files:
                # dot-names are never keys: temporaries, and the log segments' lock file
                if name.startswith(".tmp-") != temporaries or \
                        (not temporaries and name.startswith(".")):
                    continue
                try:
                    st = os.stat(os.path.join(dirpath, name))
                except FileNotFoundError:
                    continue
                key = name if rel == "." else f"{rel}/{name}"
                out.append(FileMeta(key, st.st_size, st.st_mtime))
        return out

    def _do_list(self, prefix: str) -> list[FileMeta]:
        return self._walk(prefix, temporaries=False)

    def list_temporaries(self, prefix: str) -> list[FileMeta]:
        """Leftover temporary files (a writer died between write and publish)."""
        return self._walk(prefix, temporaries=True)

    def remove_temporary(self, key: str) -> None:
        try:
            os.unlink(self._path(key))
        except FileNotFoundError:
            pass
