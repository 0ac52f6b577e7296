"""Publishing on S3 (a real SeaweedFS server): deltalake commits with conditional PUTs,
pyiceberg writes through s3fs, and the readers open the tables by URI."""

from __future__ import annotations

import pytest

import parquedb

from helpers.opentables import assert_matches, delta_rows


def _delta_options(s3_options) -> dict[str, str]:
    return {"AWS_ENDPOINT_URL": s3_options["endpoint_url"],
            "AWS_ACCESS_KEY_ID": s3_options["key"], "AWS_SECRET_ACCESS_KEY": s3_options["secret"],
            "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true"}


@pytest.fixture
def db(s3_uri, s3_options):
    with parquedb.connect(s3_uri, storage_options=s3_options) as d:
        yield d


def test_delta_on_s3(db, s3_uri, s3_options):
    db.posts.create_many([{"n": i, "meta": {"k": str(i)}} for i in range(5)])
    first = db.publish("posts")
    assert first["uri"] == f"{s3_uri}/_published/delta/posts"
    db.posts.update_many({"n": {"$lt": 2}}, {"$set": {"n": -1}})
    second = db.publish("posts")
    assert second["version"] == first["version"] + 1
    opts = _delta_options(s3_options)
    assert_matches(delta_rows(second["uri"], options=opts), list(db.posts.find({})))
    old = delta_rows(second["uri"], version=first["version"], options=opts).to_pylist()
    assert sorted(r["n"] for r in old) == [0, 1, 2, 3, 4]
    from deltalake import DeltaTable

    info = DeltaTable(second["uri"], storage_options=opts).history(1)[0]
    assert info["parquedb.seq"] == str(second["seq"])


def test_iceberg_on_s3(db, s3_options):
    db.posts.create_many([{"n": i, "tags": ["a"] * i} for i in range(4)])
    out = db.publish("posts", format="iceberg")
    from pyiceberg.table import StaticTable

    props = {"s3.endpoint": s3_options["endpoint_url"], "s3.access-key-id": s3_options["key"],
             "s3.secret-access-key": s3_options["secret"], "s3.region": "us-east-1"}
    table = StaticTable.from_metadata(out["uri"], properties=props)
    assert_matches(table.scan().to_arrow(), list(db.posts.find({})))
    assert table.current_snapshot().summary["parquedb.seq"] == str(out["seq"])


@pytest.mark.parametrize("fmt", ["delta", "iceberg"])
def test_two_publishers_on_s3_never_overwrite_each_other(s3_uri, s3_options, fmt):
    """Two store handles (as two processes would have) publish one table at once: the commit
    files are created with conditional PUTs, so each version is whole and seqs never go back."""
    import threading

    dbs = [parquedb.connect(s3_uri, storage_options=s3_options) for _ in range(2)]
    try:
        dbs[0].posts.create_many([{"$id": f"p{i}", "n": i} for i in range(50)])
        errors: list[BaseException] = []

        def publisher(k: int) -> None:
            try:
                for j in range(3):
                    dbs[k].posts.update(f"p{(k * 10 + j) % 50}", {"$inc": {"n": 100}})
                    dbs[k].publish("posts", format=fmt, full=j == 2)
            except BaseException as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=publisher, args=(k,)) for k in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        last = dbs[0].publish("posts", format=fmt)
        seqs = _published_seqs(fmt, last["uri"], s3_options)
        assert seqs == sorted(seqs) and len(seqs) >= 2
        rows = _current(fmt, last["uri"], s3_options)
        assert_matches(rows, list(dbs[0].posts.find({})))
    finally:
        for d in dbs:
            d.close()


def _iceberg_props(s3_options) -> dict[str, str]:
    return {"s3.endpoint": s3_options["endpoint_url"], "s3.access-key-id": s3_options["key"],
            "s3.secret-access-key": s3_options["secret"], "s3.region": "us-east-1"}


def _published_seqs(fmt: str, uri: str, s3_options) -> list[int]:
    """The ParqueDB seq of every table version, oldest first."""
    if fmt == "delta":
        from deltalake import DeltaTable

        history = DeltaTable(uri, storage_options=_delta_options(s3_options)).history()
        return [int(h["parquedb.seq"]) for h in sorted(history, key=lambda h: h["version"])]
    from pyiceberg.table import StaticTable

    table = StaticTable.from_metadata(uri, properties=_iceberg_props(s3_options))
    seqs, n = [], table.metadata.last_sequence_number
    assert n is not None
    for snap in sorted(table.snapshots(), key=lambda s: s.sequence_number or 0):
        if snap.summary is not None and "parquedb.seq" in snap.summary:
            seqs.append(int(snap.summary["parquedb.seq"]))
    return seqs


def _current(fmt: str, uri: str, s3_options):
    if fmt == "delta":
        return delta_rows(uri, options=_delta_options(s3_options))
    from pyiceberg.table import StaticTable

    return StaticTable.from_metadata(uri, properties=_iceberg_props(s3_options)).scan().to_arrow()
