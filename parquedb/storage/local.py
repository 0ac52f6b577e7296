"""A local folder. Writes are durable (fsync of file and directory) and creates are atomic.

fsspec's local ``pipe_file(mode="create")`` checks ``exists()`` and then opens for writing, so
two writers can both win and a reader can see half a file. Instead a create writes a private
temporary file, fsyncs it and publishes it with ``os.link``, which fails atomically with
``FileExistsError`` when the name is taken.
"""

from __future__ import annotations

import os
import secrets

from .base import FileMeta, Storage


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

    def duckdb_uri(self, key: str) -> str:
        return self._path(key)

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

    def _do_get(self, key: str) -> bytes:
        with open(self._path(key), "rb") as f:
            return f.read()

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

    def _do_list(self, prefix: str) -> list[FileMeta]:
        base = self._path(prefix)
        out: list[FileMeta] = []
        for dirpath, _dirs, files in os.walk(base):
            rel = os.path.relpath(dirpath, self.root).replace(os.sep, "/")
            for name in files:
                if name.startswith(".tmp-"):
                    continue
                try:
                    st = os.stat(os.path.join(dirpath, name))
                except FileNotFoundError:
                    continue
                out.append(FileMeta(f"{rel}/{name}", st.st_size, st.st_mtime))
        return out

    def list_temporaries(self, prefix: str) -> list[FileMeta]:
        """Leftover temporary files (a writer died between write and publish)."""
        base = self._path(prefix)
        out = []
        for dirpath, _dirs, files in os.walk(base):
            rel = os.path.relpath(dirpath, self.root).replace(os.sep, "/")
            for name in files:
                if name.startswith(".tmp-"):
                    try:
                        st = os.stat(os.path.join(dirpath, name))
                    except FileNotFoundError:
                        continue
                    out.append(FileMeta(f"{rel}/{name}", st.st_size, st.st_mtime))
        return out

    def remove_temporary(self, key: str) -> None:
        try:
            os.unlink(self._path(key))
        except FileNotFoundError:
            pass
