"""Property tests of ``as_of``: the state at any past instant is the state the database had then.

A random list of operations (create / create_many / update / soft and hard delete / restore /
update_many / delete_many / compact / close-and-reopen) runs against the database and against a
MODEL written here (a dict of local id -> user fields, version and deleted flag; it never calls
the database). Around every call we record ``datetime.now(UTC)`` just before it and just after
it returned, with a deep copy of the model. Then, for every recorded instant,
``get(id, as_of=t)`` (with and without ``include_deleted``) and ``find(as_of=t)`` must give the
model at that instant:

* right after each call returned (every commit of the call has a timestamp <= that instant);
* half-way between one call's return and the next call's start (between two commits);
* exactly at a commit's timestamp (the ``ts`` of the event it wrote: that commit is included)
  and one microsecond before it (it is not);
* before the first commit (nothing exists);
* all of the above again after ``db.compact()`` and after close-and-reopen.

Vacuum: ``vacuum(retain=0, force=True)`` keeps only the newest state, so every instant before
the last commit must raise ``NotFoundError`` with code ``SNAPSHOT_NOT_FOUND`` while instants
after it still work; ``vacuum(retain=r)`` keeps every instant inside ``r`` readable and never
answers an older instant with a wrong state (it either answers right or raises).

Table tunables are lowered so that data files, checkpoints and automatic compaction all happen.
"""

from __future__ import annotations

import copy
import shutil
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta

import fsspec
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import parquedb
from parquedb.errors import (
    AlreadyExistsError,
    EntityNotFoundError,
    ErrorCode,
    NotFoundError,
    ValidationError,
)
from parquedb.testing import tune

from helpers import PHASES, SMALL_TABLE, ModelInvalid, model_apply, same, user_fields

US = timedelta(microseconds=1)
COLL = "items"
POOL = [f"e{i}" for i in range(6)]
UPDATE_FIELDS = ["a", "b", "l"]


def now() -> datetime:
    return datetime.now(UTC)


# -- the reference model (model_apply and ModelInvalid are in helpers) ---------------------
class Model:
    """ents: local id -> {"doc", "version", "deleted"}; events: local id -> number of events."""

    def __init__(self) -> None:
        self.ents: dict[str, dict] = {}
        self.events: dict[str, int] = {}
        self.known: list[str] = list(POOL)

    def note(self, lid: str) -> int:
        """Count one event of ``lid``; returns its index in ``history(lid)``."""
        if lid not in self.known:
            self.known.append(lid)
        self.events[lid] = self.events.get(lid, 0) + 1
        return self.events[lid] - 1


# -- operations ---------------------------------------------------------------------------
scalars = st.one_of(st.none(), st.booleans(), st.integers(-100, 100), st.floats(),
                    st.text(max_size=3))
values = st.one_of(scalars, st.lists(scalars, max_size=2))
docs = st.fixed_dictionaries({}, optional={"a": values, "b": values,
                                           "l": st.lists(scalars, max_size=2)})


@st.composite
def updates(draw) -> dict:
    upd: dict = {}
    for f in draw(st.lists(st.sampled_from(UPDATE_FIELDS), min_size=1, max_size=2, unique=True)):
        op = draw(st.sampled_from(["$set", "$unset", "$inc", "$push"]))
        arg = {"$set": values, "$unset": st.just(""), "$push": scalars,
               "$inc": st.one_of(st.integers(-3, 3), st.floats(-3, 3))}[op]
        upd.setdefault(op, {})[f] = draw(arg)
    return upd


ids = st.integers(0, 50)  # an index into the ids known when the op runs
operations = st.one_of(
    st.tuples(st.just("create"), ids, docs),
    st.tuples(st.just("create_many"), st.lists(docs, min_size=1, max_size=5)),
    st.tuples(st.just("update"), ids, updates()),
    st.tuples(st.just("delete"), ids, st.booleans()),
    st.tuples(st.just("restore"), ids),
    st.tuples(st.just("update_many"), updates()),  # every live entity that has "a"
    st.tuples(st.just("delete_many"), st.booleans()),  # every live entity that has "b"
    st.tuples(st.just("compact")),
    st.tuples(st.just("reopen")),
)
op_lists = st.lists(operations, min_size=1, max_size=12)


class Harness:
    """The database under test, the model, and what was recorded around each call."""

    def __init__(self, backend: str) -> None:
        self.tmp = self.mem = None
        if backend == "local":
            self.tmp = tempfile.mkdtemp(prefix="pqdb-tt-")
            self.uri = f"{self.tmp}/db"
        else:
            self.mem = f"tt-{uuid.uuid4().hex}"
            self.uri = f"memory://{self.mem}"
        self.model = Model()
        self.db = None
        self.connect()
        self.batches = 0
        # (instant, model entities at that instant)
        self.instants: list[tuple[str, datetime, dict]] = []
        # (lid, event index, model before, model after) for each committed change
        self.commits: list[tuple[str, int, dict, dict]] = []

    def connect(self) -> None:
        if self.db is not None:
            self.db.close()
        self.db = parquedb.connect(self.uri)
        tune(self.db, **SMALL_TABLE)
        self.coll = self.db.collection(COLL)

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
        if self.mem is not None:
            fs = fsspec.filesystem("memory")
            if fs.exists(f"/{self.mem}"):
                fs.rm(f"/{self.mem}", recursive=True)

    def state(self) -> dict:
        return copy.deepcopy(self.model.ents)

    def pick(self, k: int) -> str:
        return self.model.known[k % len(self.model.known)]

    # -- one operation: run it, update the model, record instants ------------------------
    def run(self, op: tuple) -> None:
        before = self.state()
        t0 = now()
        touched = self._apply(op)
        t1 = now()
        after = self.state()
        if self.instants:
            prev_label, prev_t1, prev_state = self.instants[-1]
            if prev_label.startswith("after"):  # between that call's return and this start
                self.instants.append((f"between {prev_label[6:]} and {op[0]}",
                                      prev_t1 + (t0 - prev_t1) / 2, prev_state))
        self.instants.append((f"after {op[0]} #{len(self.instants)}", t1, after))
        for lid, idx in touched:
            self.commits.append((lid, idx, before, after))

    def _apply(self, op: tuple) -> list[tuple[str, int]]:
        m, c = self.model, self.coll
        kind = op[0]
        if kind == "create":
            lid = self.pick(op[1])
            try:
                c.create({"$id": lid, **op[2]})
            except AlreadyExistsError:
                assert lid in m.ents, f"create {lid}: AlreadyExistsError but it does not exist"
                return []
            assert lid not in m.ents, f"create {lid} succeeded but it exists"
            m.ents[lid] = {"doc": copy.deepcopy(op[2]), "version": 1, "deleted": False}
            return [(lid, m.note(lid))]
        if kind == "create_many":
            self.batches += 1
            lids = [f"b{self.batches}x{j}" for j in range(len(op[1]))]  # always new
            out = c.create_many([{"$id": lid, **d} for lid, d in zip(lids, op[1], strict=True)])
            assert out == [f"{COLL}/{lid}" for lid in lids], out
            for lid, d in zip(lids, op[1], strict=True):
                m.ents[lid] = {"doc": copy.deepcopy(d), "version": 1, "deleted": False}
            return [(lid, m.note(lid)) for lid in lids]
        if kind == "update":
            lid, upd = self.pick(op[1]), op[2]
            e = m.ents.get(lid)
            if e is None or e["deleted"]:
                assert c.update(lid, upd) is None
                return []
            try:
                new = model_apply(e["doc"], upd)
            except ModelInvalid:
                with pytest.raises(ValidationError):
                    c.update(lid, upd)
                return []
            c.update(lid, upd)
            if same(new, e["doc"]):
                return []  # no change, no new version
            e["doc"], e["version"] = new, e["version"] + 1
            return [(lid, m.note(lid))]
        if kind == "delete":
            lid, hard = self.pick(op[1]), op[2]
            e = m.ents.get(lid)
            expected = e is not None and (hard or not e["deleted"])
            assert c.delete(lid, hard=hard) is expected, (lid, hard, e)
            if not expected:
                return []
            if hard:
                del m.ents[lid]
            else:
                e["deleted"], e["version"] = True, e["version"] + 1
            return [(lid, m.note(lid))]
        if kind == "restore":
            lid = self.pick(op[1])
            e = m.ents.get(lid)
            if e is None:
                with pytest.raises(NotFoundError):
                    c.restore(lid)
                return []
            if not e["deleted"]:
                try:
                    c.restore(lid)  # nothing to undo: no new version either way
                except EntityNotFoundError:
                    pass
                return []
            c.restore(lid)
            e["deleted"], e["version"] = False, e["version"] + 1
            return [(lid, m.note(lid))]
        if kind == "update_many":
            upd = op[1]
            targets = sorted(lid for lid, e in m.ents.items()
                             if not e["deleted"] and "a" in e["doc"])
            try:
                news = {lid: model_apply(m.ents[lid]["doc"], upd) for lid in targets}
            except ModelInvalid:
                with pytest.raises(ValidationError):
                    c.update_many({"a": {"$exists": True}}, upd)
                return []  # all or nothing
            res = c.update_many({"a": {"$exists": True}}, upd)
            changed = [lid for lid in targets if not same(news[lid], m.ents[lid]["doc"])]
            assert (res.matched_count, res.modified_count) == (len(targets), len(changed)), res
            for lid in changed:
                e = m.ents[lid]
                e["doc"], e["version"] = news[lid], e["version"] + 1
            return [(lid, m.note(lid)) for lid in changed]
        if kind == "delete_many":
            hard = op[1]
            targets = sorted(lid for lid, e in m.ents.items()
                             if not e["deleted"] and "b" in e["doc"])
            assert c.delete_many({"b": {"$exists": True}}, hard=hard) == len(targets)
            for lid in targets:
                if hard:
                    del m.ents[lid]
                else:
                    m.ents[lid]["deleted"] = True
                    m.ents[lid]["version"] += 1
            return [(lid, m.note(lid)) for lid in targets]
        if kind == "compact":
            self.db.compact()
            return []
        if kind == "reopen":
            self.connect()
            return []
        raise AssertionError(kind)

    # -- checking ------------------------------------------------------------------------
    def check_at(self, t: datetime, ents: dict, where: str) -> None:
        c = self.coll
        for lid in self.model.known:
            e = ents.get(lid)
            got = c.get(lid, as_of=t)
            got_all = c.get(lid, include_deleted=True, as_of=t)
            if e is None:
                assert got is None and got_all is None, \
                    f"{where}: get({lid}) should be None, got {got or got_all}"
                continue
            if e["deleted"]:
                assert got is None, f"{where}: get({lid}) of a soft-deleted entity gave {got}"
            else:
                self.check_entity(got, lid, e, f"{where}: get")
            self.check_entity(got_all, lid, e, f"{where}: get(include_deleted)")
        for include_deleted in (False, True):
            want = sorted(f"{COLL}/{lid}" for lid, e in ents.items()
                          if include_deleted or not e["deleted"])
            res = c.find(as_of=t, include_deleted=include_deleted)
            got_ids = [x["$id"] for x in res]
            assert got_ids == want, \
                f"{where}: find(include_deleted={include_deleted}) {got_ids} != {want}"
            for x in res:
                lid = x["$id"].partition("/")[2]
                self.check_entity(x, lid, ents[lid], f"{where}: find")

    @staticmethod
    def check_entity(ent, lid: str, e: dict, where: str) -> None:
        assert ent is not None, f"{where}: {lid} missing, expected {e}"
        assert ent["$id"] == f"{COLL}/{lid}", (where, ent["$id"])
        assert ent["version"] == e["version"], (where, lid, ent["version"], e["version"])
        assert ("deletedAt" in ent) == e["deleted"], (where, lid, ent, e)
        assert same(user_fields(ent), e["doc"]), (where, lid, user_fields(ent), e["doc"])

    def commit_ts(self, lid: str, idx: int) -> datetime:
        events = self.coll.history(lid)
        assert len(events) > idx, f"history({lid}) has {len(events)} events, expected > {idx}"
        return events[idx]["ts"]

    def check_all(self, stage: str) -> None:
        for label, t, ents in self.instants:
            self.check_at(t, ents, f"[{stage}] as_of {label}")
        seen = set()
        for lid, idx, before, after in self.commits:
            ts = self.commit_ts(lid, idx)
            if ts in seen:  # several entities of one create_many: one commit
                continue
            seen.add(ts)
            self.check_at(ts, after, f"[{stage}] as_of the commit ts of event {idx} of {lid}")
            self.check_at(ts - US, before,
                          f"[{stage}] as_of 1us before the commit ts of event {idx} of {lid}")


# A failing example is not shrunk by default: each one runs many database calls (and the
# retain test sleeps), so shrinking can take minutes. PARQUEDB_SHRINK=1 shrinks.
RUNS = settings(max_examples=15, deadline=None, phases=PHASES,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
BACKENDS = ["local", "memory"]


@pytest.mark.parametrize("backend", BACKENDS)
@RUNS
@given(ops=op_lists)
def test_as_of_gives_the_state_at_that_instant(backend, ops):
    h = Harness(backend)
    try:
        h.instants.append(("start (before the first commit)", now(), {}))
        for op in ops:
            h.run(op)
        h.check_all("live")
        h.db.compact()
        h.instants.append(("after the final compact", now(), h.state()))
        h.check_all("after compact")
        h.connect()
        h.check_all("after reopen")
    finally:
        h.close()


def _expect_snapshot_not_found(h: Harness, t: datetime, where: str) -> None:
    with pytest.raises(NotFoundError) as info:
        h.coll.find(as_of=t)
    assert info.value.code == ErrorCode.SNAPSHOT_NOT_FOUND, (where, info.value.code)
    for lid in h.model.known[:3]:
        with pytest.raises(NotFoundError) as info:
            h.coll.get(lid, as_of=t, include_deleted=True)
        assert info.value.code == ErrorCode.SNAPSHOT_NOT_FOUND, (where, info.value.code)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(RUNS, max_examples=8)
@given(ops=op_lists.map(lambda ops: [("create", 0, {"a": 0}), *ops]),
       more=st.lists(operations, min_size=0, max_size=3))
def test_vacuum_retain_zero_keeps_only_the_newest_state(backend, ops, more):
    """vacuum(retain=0, force=True) deletes the log up to the newest checkpoint, which holds
    the state of the last commit: history before that commit is no longer retained.

    * every instant before the last call that changed an entity started is older than the
      last commit, so it must raise SNAPSHOT_NOT_FOUND (never answer an empty or old state),
      and so must the instant before the first commit;
    * the instant after the last call returned must still give the newest state;
    * instants in between (a compaction may have committed after the last change) must
      either give the newest state or raise;
    * all of this also after reopening and after further commits (whose instants work).
    """
    h = Harness(backend)
    try:
        start = now()
        last_change_started = None
        for op in ops:
            n = len(h.commits)
            t0 = now()
            h.run(op)
            if len(h.commits) > n:
                last_change_started = t0
        assume(last_change_started is not None)  # something was committed
        newest = h.state()
        t_newest = now()
        h.db.vacuum(retain=timedelta(seconds=0), force=True)
        old = list(h.instants)

        def check(stage: str) -> None:
            _expect_snapshot_not_found(h, start, f"[{stage}] before the first commit")
            for label, t, _ in old:
                where = f"[{stage}] as_of {label}"
                if t < last_change_started:
                    _expect_snapshot_not_found(h, t, where)
                else:
                    try:
                        h.check_at(t, newest, where)
                    except NotFoundError as e:
                        assert e.code == ErrorCode.SNAPSHOT_NOT_FOUND, (where, e.code)
            h.check_at(t_newest, newest, f"[{stage}] as_of after the last call")

        check("after vacuum")
        h.connect()
        check("after vacuum and reopen")
        for op in more:
            h.run(op)
        check("after vacuum and more writes")
        for label, t, ents in h.instants[len(old):]:
            h.check_at(t, ents, f"[after vacuum and more writes] as_of {label}")
    finally:
        h.close()


@pytest.mark.parametrize("backend", BACKENDS)
@settings(RUNS, max_examples=8)
@given(old=op_lists, recent=op_lists)
def test_vacuum_keeps_history_inside_retain(backend, old, recent):
    """vacuum(retain=r): every instant inside r stays readable and correct; an older instant
    is either answered correctly or raises SNAPSHOT_NOT_FOUND, never with a wrong state."""
    h = Harness(backend)
    try:
        for op in old:
            h.run(op)
        t_mid = now()
        time.sleep(0.1)
        inside_from = len(h.instants)
        h.instants.append(("inside retain, before the recent calls", now(), h.state()))
        for op in recent:
            h.run(op)
        # horizon = (vacuum's clock) - retain: a moment after t_mid, well within the 100 ms gap
        h.db.vacuum(retain=now() - t_mid, force=True)
        for stage in ("after vacuum", "after vacuum and reopen"):
            for i, (label, t, ents) in enumerate(h.instants):
                where = f"[{stage}] as_of {label}"
                if i >= inside_from:
                    h.check_at(t, ents, where)
                    continue
                try:
                    h.check_at(t, ents, where)
                except NotFoundError as e:
                    assert e.code == ErrorCode.SNAPSHOT_NOT_FOUND, (where, e.code)
            h.connect()
    finally:
        h.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_vacuum_then_as_of_a_state_whose_file_was_deleted(backend):
    """The minimal case test_vacuum_keeps_history_inside_retain found: create, compact,
    compact (the second compaction retires the first one's file), then later a third
    compaction and vacuum(retain) with the horizon between the two. The file of the state
    between the first two compactions is gone; as_of an instant in that state must answer
    it right or raise SNAPSHOT_NOT_FOUND, not a raw FileNotFoundError (also after reopen,
    where no cache holds the deleted file)."""
    h = Harness(backend)
    try:
        h.run(("create", 0, {"a": 1}))
        h.run(("compact",))
        h.run(("compact",))
        t_mid = now()
        time.sleep(0.1)
        h.run(("compact",))
        h.db.vacuum(retain=now() - t_mid, force=True)
        for stage in ("after vacuum", "after vacuum and reopen"):
            for label, t, ents in h.instants:
                where = f"[{stage}] as_of {label}"
                try:
                    h.check_at(t, ents, where)
                except NotFoundError as e:
                    assert e.code == ErrorCode.SNAPSHOT_NOT_FOUND, (where, e.code)
            h.connect()
    finally:
        h.close()
