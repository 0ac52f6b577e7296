"""The S3 storage layer against a real SeaweedFS on 127.0.0.1: get/put/list/delete, the
conditional create the commit protocol rests on, and how a lost race is told from an error.

The server comes from the session fixture in tests/helpers/s3fixtures.py; every test works
under its own unique prefix. Without the ``weed`` binary these tests skip (it is in the dev
extra, so CI runs them). The database on S3, end to end: tests/system/test_s3.py.
"""

from __future__ import annotations

import errno
import threading
import time
from typing import Any

import pytest

from parquedb.storage import FsspecStorage, open_storage


def test_storage_primitives(s3_uri: str, s3_options: dict[str, Any]) -> None:
    st = open_storage(s3_uri, dict(s3_options))
    assert isinstance(st, FsspecStorage) and not st.is_local
    assert st.uri == s3_uri
    assert "secret" not in st.uri and s3_options["secret"] not in st.uri

    with pytest.raises(FileNotFoundError):
        st.get("_log/00000000000000000001.json")
    assert st.get_optional("nope.json") is None
    assert not st.exists("a/b.json")
    assert st.list("_log") == []

    st.put("a/b.json", b"one")
    st.put("a/c/d.json", b"three")
    st.put("ab/x.json", b"sibling")  # same string prefix, another folder
    assert st.get("a/b.json") == b"one"
    assert st.exists("a/b.json")
    assert not st.exists("a")  # a folder is not an object

    listed = st.list("a")
    assert [m.key for m in listed] == ["a/b.json", "a/c/d.json"]  # relative, files only
    assert [m.size for m in listed] == [3, 5]
    assert all(abs(m.mtime - time.time()) < 300 for m in listed)

    st.put("a/b.json", b"two")  # overwrite
    assert st.get("a/b.json") == b"two"

    st.delete("a/b.json")
    st.delete("a/b.json")  # absent: no error
    assert not st.exists("a/b.json")
    with pytest.raises(FileNotFoundError):
        st.get("a/b.json")
    assert [m.key for m in st.list("a")] == ["a/c/d.json"]
    st.close()


def test_create_if_absent_on_seaweedfs(s3_uri: str, s3_options: dict[str, Any]) -> None:
    st = open_storage(s3_uri, dict(s3_options))
    assert st.create("_log/00000000000000000001.json", b"first") is True
    assert st.create("_log/00000000000000000001.json", b"second") is False
    assert st.get("_log/00000000000000000001.json") == b"first"

    # SeaweedFS answers a lost create with a bare 412, which s3fs raises as OSError(EINVAL)
    # (not FileExistsError); FsspecStorage maps it. Pin that behaviour down here.
    path = f"{st.root}/_log/00000000000000000001.json"
    with pytest.raises(OSError) as ei:
        st.fs.pipe_file(path, b"third", mode="create")
    assert isinstance(ei.value, FileExistsError) or ei.value.errno == errno.EINVAL

    # racing creators: exactly one winner
    key = "_log/00000000000000000002.json"
    results: list[bool] = []
    barrier = threading.Barrier(6)

    def racer(i: int) -> None:
        barrier.wait()
        results.append(st.create(key, f"writer {i}".encode()))

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 5 + [True]
    assert st.get(key).startswith(b"writer ")


def test_only_a_412_means_lost_race() -> None:
    """s3fs raises OSError(EINVAL) for a bare 412 and for many malformed requests alike; only
    the 412 / PreconditionFailed one may read as "the object exists" (no server needed)."""
    ClientError = pytest.importorskip("botocore.exceptions").ClientError

    from parquedb.storage.fsspec_store import _precondition_failed

    def s3fs_error(code: str, status: int) -> OSError:
        ce = ClientError({"Error": {"Code": code, "Message": "m"},
                          "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject")
        e = OSError(errno.EINVAL, "m")
        e.__cause__ = ce
        return e

    assert _precondition_failed(s3fs_error("PreconditionFailed", 412))
    assert not _precondition_failed(s3fs_error("InvalidArgument", 400))
    assert not _precondition_failed(s3fs_error("InvalidRequest", 400))
    assert _precondition_failed(
        OSError(errno.EINVAL, "At least one of the pre-conditions you specified did not hold"))
    assert not _precondition_failed(OSError(errno.EINVAL, "Invalid argument"))
