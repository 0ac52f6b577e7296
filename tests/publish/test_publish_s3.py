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
