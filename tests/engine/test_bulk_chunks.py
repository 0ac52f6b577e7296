"""A large ``create_many`` is written a chunk at a time and still commits once.

Each chunk of ``bulk_chunk_rows`` documents is prepared, staged and written to its own data
and event files before the next is read (``WriteBatch.spill``); one commit then makes them all
live. Checked here: the answers and history equal one-by-one creates, a generator is read
once, a bad document or a duplicate id in any chunk writes nothing (no commit, no file left),
memory does not grow with the load, a transaction and an object store (where a plan may run
again) still commit everything, and a writer beside a chunked load waits for it.
"""

from __future__ import annotations

import gc
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import parquedb
from parquedb.errors import AlreadyExistsError, ValidationError
from parquedb.storage import LocalStorage
from parquedb.testing import FaultyStorage, commits, tune


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")
            if p.is_file() and "_log" not in p.parts and "_checkpoints" not in p.parts}


def _docs(n: int, start: int = 0) -> Iterator[dict[str, Any]]:
    for i in range(start, start + n):
        yield {"i": i, "status": "odd" if i % 2 else "even", "tags": [f"t{i % 5}"]}


@pytest.fixture
def db(tmp_path: Path) -> Iterator[parquedb.Database]:
    with parquedb.connect(str(tmp_path / "db")) as d:
        tune(d, bulk_chunk_rows=1000)
        yield d


def test_a_generator_is_loaded_in_chunks_in_one_commit(db: parquedb.Database,
                                                       tmp_path: Path) -> None:
    before = len(commits(db))
    read = [0]

    def gen() -> Iterator[dict[str, Any]]:
        for d in _docs(5500):
            read[0] += 1
            yield d
    ids = db.posts.create_many(gen())
    assert read[0] == 5500 and len(ids) == 5500 == len(set(ids))
    assert len(commits(db)) == before + 1  # one atomic commit
    data = [f for f in _files(tmp_path / "db") if f.startswith("posts/data/")
            and f.endswith(".parquet")]
    assert len(data) == 6  # five full chunks and the rest
    assert db.posts.count() == 5500
    assert db.posts.count({"status": "odd"}) == 2750
    for k in (0, 999, 1000, 4321, 5499):
        got = db.posts.get(ids[k])
        assert got is not None and got["i"] == k and got["tags"] == [f"t{k % 5}"]
    assert [e["i"] for e in db.posts.find({"i": {"$gte": 995, "$lt": 1005}}, sort={"i": 1})] \
        == list(range(995, 1005))
    assert len(db.posts.history(ids[1500])) == 1


def test_given_ids_and_input_order_are_kept(db: parquedb.Database) -> None:
    docs = [{"$id": f"k{(i * 7919) % 3000:05d}", "i": i} for i in range(3000)]
    ids = db.posts.create_many(docs)
    assert ids == [f"posts/{d['$id']}" for d in docs]
    assert db.posts.get("k00007")["i"] == next(d["i"] for d in docs if d["$id"] == "k00007")
    assert db.posts.count() == 3000


@pytest.mark.parametrize("bad", ["last-chunk", "first-chunk"])
def test_a_bad_document_in_any_chunk_writes_nothing(db: parquedb.Database, tmp_path: Path,
                                                    bad: str) -> None:
    db.posts.create({"$id": "seed"})
    files, n_commits = _files(tmp_path / "db"), len(commits(db))
    docs = list(_docs(3500))
    docs[3400 if bad == "last-chunk" else 10] = {"$bad": 1}
    with pytest.raises(ValidationError):
        db.posts.create_many(docs)
    assert _files(tmp_path / "db") == files
    assert len(commits(db)) == n_commits
    assert db.posts.count() == 1


def test_a_duplicate_id_across_chunks_writes_nothing(db: parquedb.Database,
                                                     tmp_path: Path) -> None:
    files = _files(tmp_path / "db")
    docs = [{"$id": f"d{i}"} for i in range(2500)] + [{"$id": "d7"}]
    with pytest.raises(AlreadyExistsError) as e:
        db.posts.create_many(docs)
    assert e.value.context.get("entity_id") == "posts/d7"
    assert _files(tmp_path / "db") == files and db.posts.count() == 0


def test_an_existing_id_in_a_later_chunk_writes_nothing(db: parquedb.Database) -> None:
    db.posts.create({"$id": "there"})
    with pytest.raises(AlreadyExistsError):
        db.posts.create_many([{"$id": f"n{i}"} for i in range(2500)] + [{"$id": "there"}])
    assert db.posts.count() == 1


def test_a_large_load_inside_a_transaction_commits_whole(db: parquedb.Database) -> None:
    with db.transaction() as tx:
        tx.posts.create_many(list(_docs(2500)))
        tx.posts.create({"$id": "also"})
    assert db.posts.count() == 2501


def _peak(db: parquedb.Database, n: int) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        db.posts.create_many(_docs(n))
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_load(tmp_path: Path) -> None:
    """The peak of Python allocations is that of a chunk (plus the returned ids), so loading
    four times more documents must not come near four times the peak."""
    peaks = []
    for n in (4000, 16000):
        with parquedb.connect(str(tmp_path / f"m{n}")) as d:
            tune(d, bulk_chunk_rows=2000)
            peaks.append(_peak(d, n))
    assert peaks[1] < 1.8 * peaks[0], peaks


def test_an_object_store_replans_from_a_list_after_a_lost_race(tmp_path: Path) -> None:
    """Without log segments a lost race re-runs the plan: the chunks are written again from
    the documents (kept as a list) and the first attempt's files are removed."""
    root = tmp_path / "db"
    remote = parquedb.connect(storage=FaultyStorage(LocalStorage(str(root))))
    other = parquedb.connect(storage=FaultyStorage(LocalStorage(str(root))))
    try:
        tune(remote, bulk_chunk_rows=1000)
        fired, runs = [], []

        class RacingList(list):  # type: ignore[type-arg]
            def __iter__(self) -> Any:
                runs.append(1)
                if not fired:  # another writer takes the next seq while the plan runs
                    fired.append(other.posts.create({"$id": "rival"}))
                return super().__iter__()
        ids = remote.posts.create_many(RacingList(_docs(2500)))
        assert len(ids) == 2500 and fired and len(runs) == 2  # planned again
        assert remote.posts.count() == 2501
        live = {f for f in _files(root) if f.startswith("posts/data/")}
        assert len([f for f in live if f.endswith(".parquet")]) == 3  # the loser's removed
    finally:
        remote.close()
        other.close()
    with parquedb.connect(str(root)) as d:
        assert d.posts.count() == 2501


def test_a_generator_on_an_object_store_is_kept_and_loaded(tmp_path: Path) -> None:
    root = tmp_path / "db"
    with parquedb.connect(storage=FaultyStorage(LocalStorage(str(root)))) as remote:
        tune(remote, bulk_chunk_rows=1000)
        assert len(remote.posts.create_many(_docs(2200))) == 2200
        assert remote.posts.count() == 2200


def test_a_writer_beside_a_chunked_load_waits_for_it(db: parquedb.Database,
                                                     tmp_path: Path) -> None:
    """On a local folder the load plans holding the log's lock (its generator is read once):
    a second connection's create made while the load runs commits after it."""
    second = parquedb.connect(str(tmp_path / "db"))
    started, finished = threading.Event(), []

    def rival() -> None:
        started.set()
        finished.append(second.posts.create({"$id": "rival"}))

    def gen() -> Iterator[dict[str, Any]]:
        t = None
        for d in _docs(3000):
            if d["i"] == 1500:
                t = threading.Thread(target=rival)
                t.start()
                started.wait(5)
            yield d
        assert t is not None
        t.join(0.2)
        assert not finished, "a rival committed while the load held the log's lock"
        threads.append(t)
    threads: list[threading.Thread] = []
    try:
        ids = db.posts.create_many(gen())
        threads[0].join(10)
        assert finished and len(ids) == 3000
        assert db.posts.count() == 3001
        seqs = [(c["seq"], c["actions"][0]["a"]) for c in commits(db)[-2:]]
        assert seqs[0][1] == "add_file" and seqs[1][1] == "rows"  # the load, then the rival
    finally:
        second.close()
