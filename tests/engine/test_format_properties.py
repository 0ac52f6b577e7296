"""Stateful property tests of the storage format: the database against a reference model.

A hypothesis state machine drives random sequences of create / create_many / update (``$set``
``$unset`` ``$inc`` ``$push``) / soft delete / hard delete / restore / ``db.compact()`` /
close-and-reopen (and, in one machine, ``update_many`` / ``delete_many``) against a MODEL
written here, independently of the code under test: a dict of local id -> user fields, version
and deleted flag, and a list of history events per id. The model never calls the database.

The table's tunables are lowered (``inline_max_rows=3``, ``checkpoint_interval=4``,
``compact_inline_rows=8``, ``compact_small_files=2``) so that short runs write data files,
checkpoints and trigger automatic compaction. After every step the database must agree with
the model: ``get`` (with and without ``include_deleted``) of every id ever used, ``find`` and
``count`` (ids, user fields, versions, deleted flags), ``list_collections`` and each id's
``history`` (ops, versions, before/after images; for the ids a step changed, and for all ids
every fourth step, after compact/reopen and at the end). Compaction and reopening must not
change anything the database reports, system fields included.

Both a local folder and a ``memory://`` store (a unique name per example) are exercised.
Failing runs are not shrunk by default (that takes minutes); ``PARQUEDB_SHRINK=1`` shrinks.
The minimal sequences the machines found are kept at the end as plain regression tests.
"""

from __future__ import annotations

import copy
import shutil
import tempfile
import uuid
from collections import defaultdict

import fsspec
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import parquedb
from parquedb.errors import AlreadyExistsError, EntityNotFoundError, NotFoundError, ValidationError
from parquedb.testing import tune

from helpers import PHASES, SMALL_TABLE, ModelInvalid, model_apply, same, user_fields

COLL = "items"
TYPE = "Item"
POOL = [f"e{i}" for i in range(12)]  # ids the machine chooses from (plus generated ULIDs)
UPDATE_FIELDS = ["a", "b", "c", "l", "x"]  # "g" (a group number) is only set at create


# -- the reference model (model_apply and ModelInvalid are in helpers) ---------------------
class Model:
    """Entities by local id: {"doc", "version", "deleted"}; a hard delete removes the key."""

    def __init__(self) -> None:
        self.ents: dict[str, dict] = {}
        self.history: dict[str, list[dict]] = defaultdict(list)
        self.used: list[str] = []  # every id ever created, in first-use order
        self.dirty: set[str] = set()  # ids with new events since the last history check

    def exists(self, lid: str) -> bool:
        return lid in self.ents

    def live(self, lid: str) -> bool:
        return lid in self.ents and not self.ents[lid]["deleted"]

    def soft_deleted(self, lid: str) -> bool:
        return lid in self.ents and self.ents[lid]["deleted"]

    def _event(self, lid: str, op: str, before: dict | None) -> None:
        after = self.ents.get(lid)
        self.dirty.add(lid)
        self.history[lid].append({
            "op": op,
            "before_version": None if before is None else before["version"],
            "after": copy.deepcopy(after),
        })

    def create(self, lid: str, doc: dict) -> None:
        assert lid not in self.ents
        if lid not in self.used:
            self.used.append(lid)
        self.ents[lid] = {"doc": copy.deepcopy(doc), "version": 1, "deleted": False}
        self._event(lid, "create", None)

    def update(self, lid: str, update: dict) -> bool:
        """Apply; False (no new version) when nothing changes. Raises ModelInvalid."""
        e = self.ents[lid]
        new = model_apply(e["doc"], update)
        if same(new, e["doc"]):
            return False
        before = copy.deepcopy(e)
        e["doc"] = new
        e["version"] += 1
        self._event(lid, "update", before)
        return True

    def soft_delete(self, lid: str) -> None:
        e = self.ents[lid]
        before = copy.deepcopy(e)
        e["deleted"] = True
        e["version"] += 1
        self._event(lid, "delete", before)

    def hard_delete(self, lid: str) -> None:
        before = self.ents.pop(lid)
        self._event(lid, "delete", before)

    def restore(self, lid: str) -> None:
        e = self.ents[lid]
        before = copy.deepcopy(e)
        e["deleted"] = False
        e["version"] += 1
        self._event(lid, "restore", before)


# -- strategies ---------------------------------------------------------------------------
scalars = st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), st.floats(),
                    st.text(max_size=4))
values = st.one_of(scalars, scalars, st.lists(scalars, max_size=3))


@st.composite
def docs(draw) -> dict:
    """User fields only: a group "g" plus a random subset of the update fields, in random
    key order."""
    keys = draw(st.permutations(["g", *UPDATE_FIELDS]))
    out = {}
    for k in keys:
        if k == "g":
            out[k] = draw(st.integers(0, 2))
        elif draw(st.booleans()):
            out[k] = draw(st.lists(scalars, max_size=3)) if k == "l" else draw(values)
    return out


@st.composite
def updates(draw) -> dict:
    fields = draw(st.lists(st.sampled_from(UPDATE_FIELDS), min_size=1, max_size=3, unique=True))
    upd: dict = {}
    for f in fields:
        op = draw(st.sampled_from(["$set", "$unset", "$inc", "$push"]))
        if op == "$set":
            arg = draw(values)
        elif op == "$unset":
            arg = ""
        elif op == "$inc":
            arg = draw(st.one_of(st.integers(-5, 5), st.floats(-5, 5), st.sampled_from([0, 0.0])))
        else:
            arg = draw(scalars)
        upd.setdefault(op, {})[f] = arg
    return upd


# -- the machine --------------------------------------------------------------------------
class FormatMachine(RuleBasedStateMachine):
    backend = "local"
    bulk = False  # also drive update_many / delete_many

    def __init__(self) -> None:
        super().__init__()
        self.model = Model()
        self.tmp = None
        self.mem_name = None
        self.db = None
        self.steps = 0
        self.check_all_history = False

    @initialize()
    def open(self) -> None:
        if self.backend == "local":
            self.tmp = tempfile.mkdtemp(prefix="pqdb-fmt-")
            self.uri = f"{self.tmp}/db"
        else:
            self.mem_name = f"fmt-{uuid.uuid4().hex}"
            self.uri = f"memory://{self.mem_name}"
        self._connect()

    def _connect(self) -> None:
        self.db = parquedb.connect(self.uri)
        tune(self.db, **SMALL_TABLE)
        self.coll = self.db.collection(COLL)

    def teardown(self) -> None:
        try:
            if self.db is not None:
                for lid in self.model.used:  # the last steps' histories, all of them
                    self._check_history(lid)
        finally:
            if self.db is not None:
                self.db.close()
            if self.tmp is not None:
                shutil.rmtree(self.tmp, ignore_errors=True)
            if self.mem_name is not None:
                fs = fsspec.filesystem("memory")
                if fs.exists(f"/{self.mem_name}"):
                    fs.rm(f"/{self.mem_name}", recursive=True)

    # -- choosing ids -------------------------------------------------------------------
    def _ids(self) -> list[str]:
        return POOL + [i for i in self.model.used if i not in POOL]

    def _pick(self, data, preferred: list[str], label: str) -> str:
        """Mostly an id in ``preferred`` (when there is one), sometimes any id."""
        choices = [st.sampled_from(self._ids())]
        if preferred:
            choices = [st.sampled_from(preferred)] * 3 + choices
        return data.draw(st.one_of(*choices), label=label)

    def _free(self) -> list[str]:
        return [i for i in self._ids() if not self.model.exists(i)]

    def _live(self) -> list[str]:
        return [i for i in self.model.ents if self.model.live(i)]

    def _soft(self) -> list[str]:
        return [i for i in self.model.ents if self.model.soft_deleted(i)]

    # -- checking one returned entity ---------------------------------------------------
    def _check_entity(self, ent, lid: str, where: str) -> None:
        m = self.model.ents.get(lid)
        assert m is not None, f"{where}: model has no {lid}"
        assert ent is not None, f"{where}: {lid} missing, model has {m}"
        assert ent["$id"] == f"{COLL}/{lid}", (where, ent["$id"], lid)
        assert ent["$type"] == TYPE, (where, ent)
        assert ent["name"] == lid, (where, ent)  # docs have no name/title/label
        assert ent["version"] == m["version"], (where, lid, ent["version"], m["version"])
        assert ("deletedAt" in ent) == m["deleted"], (where, lid, ent, m)
        assert same(user_fields(ent), m["doc"]), (where, lid, user_fields(ent), m["doc"])

    # -- rules --------------------------------------------------------------------------
    @rule(data=st.data(), doc=docs())
    def create(self, data, doc) -> None:
        lid = self._pick(data, self._free(), "id")
        expect_conflict = self.model.exists(lid)
        try:
            ent = self.coll.create({"$id": lid, **doc})
        except AlreadyExistsError:
            assert expect_conflict, f"create {lid}: AlreadyExistsError but it does not exist"
            return
        assert not expect_conflict, f"create {lid}: succeeded but it exists"
        self.model.create(lid, doc)
        self._check_entity(ent, lid, "create result")

    @rule(data=st.data(), batch=st.one_of(st.lists(docs(), min_size=1, max_size=3),
                                          st.lists(docs(), min_size=4, max_size=6)))
    def create_many(self, data, batch) -> None:
        inputs, lids = [], []
        may_collide = data.draw(st.integers(0, 4), label="may collide") == 0
        for i, doc in enumerate(batch):
            free = [f for f in self._free() if f not in lids]
            if (not free and not may_collide) or data.draw(st.integers(0, 3),
                                                          label=f"generated id {i}?") == 0:
                inputs.append(dict(doc))
                lids.append(None)
                continue
            if may_collide:
                lid = self._pick(data, free, f"id {i}")
            else:
                lid = data.draw(st.sampled_from(free), label=f"id {i}")
            inputs.append({"$id": lid, **doc})
            lids.append(lid)
        named = [x for x in lids if x is not None]
        expect_conflict = (any(self.model.exists(x) for x in named)
                           or len(set(named)) != len(named))
        try:
            out = self.coll.create_many(inputs)
        except AlreadyExistsError:
            assert expect_conflict, f"create_many {lids}: AlreadyExistsError unexpectedly"
            return
        assert not expect_conflict, f"create_many {lids}: succeeded despite an existing id"
        assert len(out) == len(inputs)
        for lid, full, doc in zip(lids, out, batch, strict=True):
            assert full.startswith(f"{COLL}/")
            got = full.partition("/")[2]
            if lid is not None:
                assert got == lid, (got, lid)
            else:
                assert got not in self._ids(), f"generated id {got} reused"
            self.model.create(got, doc)

    @rule(data=st.data(), upd=updates())
    def update(self, data, upd) -> None:
        lid = self._pick(data, self._live(), "id")
        if not self.model.live(lid):
            assert self.coll.update(lid, upd) is None, f"update of absent {lid} returned"
            return
        try:
            expected = model_apply(self.model.ents[lid]["doc"], upd)
        except ModelInvalid:
            with pytest.raises(ValidationError):
                self.coll.update(lid, upd)
            return
        ent = self.coll.update(lid, upd)
        self.model.update(lid, upd)
        assert same(self.model.ents[lid]["doc"], expected)
        self._check_entity(ent, lid, "update result")

    @rule(data=st.data(), hard=st.booleans())
    def delete(self, data, hard) -> None:
        lid = self._pick(data, self._live() + (self._soft() if hard else []), "id")
        expected = self.model.exists(lid) if hard else self.model.live(lid)
        got = self.coll.delete(lid, hard=hard)
        assert got is expected, f"delete({lid}, hard={hard}) -> {got}, expected {expected}"
        if expected:
            (self.model.hard_delete if hard else self.model.soft_delete)(lid)

    @rule(data=st.data())
    def restore(self, data) -> None:
        lid = self._pick(data, self._soft(), "id")
        if self.model.soft_deleted(lid):
            ent = self.coll.restore(lid)
            self.model.restore(lid)
            self._check_entity(ent, lid, "restore result")
        elif self.model.live(lid):
            # nothing to undo: the entity comes back unchanged (or NotFound, as documented in
            # the docstring); either way no new version
            try:
                ent = self.coll.restore(lid)
            except EntityNotFoundError:
                return
            self._check_entity(ent, lid, "restore of a live entity")
        else:
            with pytest.raises(NotFoundError):
                self.coll.restore(lid)

    @rule(what=st.sampled_from(["compact", "reopen", "compact and reopen"]))
    def maintenance(self, what) -> None:
        """One rule for both, so that automatic compaction gets room to happen between
        explicit ones. Neither changes anything the model knows."""
        before = self._dump()
        if "compact" in what:
            self.db.compact()
            assert same(self._dump(), before), "compaction changed an entity or an event"
        if "reopen" in what:
            self.db.close()
            self._connect()
            assert same(self._dump(), before), "reopening changed an entity or an event"
        self.check_all_history = True

    def _dump(self) -> list:
        """Everything the database says, system fields included (the model does not know
        timestamps and actors): compaction and reopening must not change any of it."""
        return ([dict(e) for e in self.coll.find(include_deleted=True)]
                + [self.coll.history(lid) for lid in self.model.used])

    @precondition(lambda self: self.bulk)
    @rule(g=st.integers(0, 2), upd=updates())
    def update_many(self, g, upd) -> None:
        """Every live entity with group <= g (g=2: all of them)."""
        targets = [i for i in self._live() if self.model.ents[i]["doc"]["g"] <= g]
        try:
            for i in targets:
                model_apply(self.model.ents[i]["doc"], upd)
        except ModelInvalid:
            with pytest.raises(ValidationError):
                self.coll.update_many({"g": {"$lte": g}}, upd)
            return  # all or nothing
        res = self.coll.update_many({"g": {"$lte": g}}, upd)
        modified = sum(1 for i in sorted(targets) if self.model.update(i, upd))
        assert (res.matched_count, res.modified_count) == (len(targets), modified), res

    @precondition(lambda self: self.bulk)
    @rule(g=st.integers(0, 2), hard=st.booleans())
    def delete_many(self, g, hard) -> None:
        targets = [i for i in self._live() if self.model.ents[i]["doc"]["g"] <= g]
        n = self.coll.delete_many({"g": {"$lte": g}}, hard=hard)
        assert n == len(targets), (n, targets)
        for i in sorted(targets):
            (self.model.hard_delete if hard else self.model.soft_delete)(i)

    # -- the database agrees with the model ---------------------------------------------
    @invariant()
    def agrees_with_model(self) -> None:
        if self.db is None:
            return
        m = self.model
        for lid in self._ids():
            got = self.coll.get(lid)
            got_all = self.coll.get(lid, include_deleted=True)
            if m.live(lid):
                self._check_entity(got, lid, "get")
                self._check_entity(got_all, lid, "get(include_deleted)")
            elif m.soft_deleted(lid):
                assert got is None, f"get({lid}) of a soft-deleted entity returned {got}"
                self._check_entity(got_all, lid, "get(include_deleted)")
            else:
                assert got is None and got_all is None, \
                    f"get({lid}) of an absent entity returned {got or got_all}"

        live = sorted(f"{COLL}/{i}" for i in self._live())
        every = sorted(f"{COLL}/{i}" for i in m.ents)
        for include_deleted, want in ((False, live), (True, every)):
            res = self.coll.find(include_deleted=include_deleted)
            ids = [e["$id"] for e in res]
            assert ids == want, f"find(include_deleted={include_deleted}): {ids} != {want}"
            assert res.total == len(want), (res.total, len(want))
            for e in res:
                self._check_entity(e, e["$id"].partition("/")[2], "find")
            assert self.coll.count(include_deleted=include_deleted) == len(want)
        assert self.db.list_collections() == ([COLL] if m.ents else [])

        # history is the slowest check (every event file is read per id): every step for the
        # ids just changed, for all ids after compact/reopen and every fourth step (automatic
        # compaction can happen in any step)
        self.steps += 1
        if self.check_all_history or self.steps % 4 == 0:
            todo = list(m.used)
        else:
            todo = [i for i in m.used if i in m.dirty]
        for lid in todo:
            self._check_history(lid)
        m.dirty.clear()
        self.check_all_history = False

    def _check_history(self, lid: str) -> None:
        want = self.model.history[lid]
        got = self.coll.history(lid)
        assert [e["op"] for e in got] == [e["op"] for e in want], \
            f"history({lid}) ops {[e['op'] for e in got]} != {[e['op'] for e in want]}"
        for k, (g, w) in enumerate(zip(got, want, strict=True)):
            where = f"history({lid})[{k}] {w['op']}"
            assert g["entityId"] == f"{COLL}/{lid}", where
            if w["before_version"] is None:
                assert g["before"] is None, where
            else:
                assert g["before"] is not None and g["before"]["version"] == w["before_version"], \
                    (where, g["before"], w["before_version"])
            a = w["after"]
            if a is None:  # hard delete
                assert g["after"] is None, (where, g["after"])
                continue
            assert g["version"] == a["version"], (where, g["version"], a["version"])
            assert g["after"] is not None and g["after"]["version"] == a["version"], where
            assert ("deletedAt" in g["after"]) == a["deleted"], (where, g["after"])
            assert same(user_fields(g["after"]), a["doc"]), (where, g["after"], a["doc"])
        ts = [e["ts"] for e in got]
        assert ts == sorted(ts), f"history({lid}) not oldest first: {ts}"


# Shrinking a failing run of this machine takes minutes (every step re-checks everything), so
# by default a failure is reported as found; set PARQUEDB_SHRINK=1 to shrink it.
RUNS = settings(max_examples=8, stateful_step_count=35, deadline=None, phases=PHASES,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


class LocalFormatMachine(FormatMachine):
    backend = "local"


class MemoryFormatMachine(FormatMachine):
    backend = "memory"


class BulkFormatMachine(FormatMachine):
    """The same, plus update_many / delete_many (which may write more than inline_max_rows
    rows in one commit, i.e. new versions of existing ids into a data file)."""
    backend = "memory"
    bulk = True


TestLocalFormat = LocalFormatMachine.TestCase
TestLocalFormat.settings = settings(RUNS, max_examples=6, stateful_step_count=30)  # fsyncs
TestMemoryFormat = MemoryFormatMachine.TestCase
TestMemoryFormat.settings = RUNS
TestBulkFormat = BulkFormatMachine.TestCase
TestBulkFormat.settings = settings(RUNS, max_examples=14)


# -- the minimal failing sequences found by the machines, as plain regression tests ---------
def _tuned(name: str):
    db = parquedb.connect(f"memory://{name}-{uuid.uuid4().hex}")
    tune(db, **SMALL_TABLE)
    return db


@pytest.mark.parametrize("hard", [False, True])
def test_bulk_delete_over_inlined_versions(hard):
    """Found by TestBulkFormat. Four single creates (inlined rows), then one delete_many of
    all four: more than inline_max_rows rows, so the new versions go to a data file. Every
    entity is deleted; find/count must not still show the inlined older versions."""
    db = _tuned("bulk-delete")
    try:
        c = db.collection(COLL)
        for i in range(4):
            c.create({"$id": f"e{i}", "g": 0})
        assert c.delete_many({"g": 0}, hard=hard) == 4
        assert [e["$id"] for e in c.find()] == []
        assert c.count() == 0
        assert c.get("e0") is None
    finally:
        db.close()


def test_bulk_update_over_inlined_versions():
    """Same shape with update_many: each entity must appear once, at version 2."""
    db = _tuned("bulk-update")
    try:
        c = db.collection(COLL)
        for i in range(4):
            c.create({"$id": f"e{i}", "g": 0})
        assert c.update_many({"g": 0}, {"$set": {"a": 1}}).modified_count == 4
        assert [(e["$id"], e["version"], e.get("a")) for e in c.find()] == \
            [(f"{COLL}/e{i}", 2, 1) for i in range(4)]
        assert c.count() == 4
    finally:
        db.close()


def test_hard_delete_many_then_compact_then_reopen():
    """Found by TestBulkFormat: after the hard delete_many above, a compaction and a reopen,
    the deleted entities must stay deleted (the live process and a fresh one must agree)."""
    name = f"memory://bulk-compact-{uuid.uuid4().hex}"
    db = parquedb.connect(name)
    tune(db, **SMALL_TABLE)
    try:
        c = db.collection(COLL)
        for i in range(4):
            c.create({"$id": f"e{i}", "g": 0})
        assert c.delete_many({"g": 0}, hard=True) == 4
        db.compact()
        assert c.get("e0", include_deleted=True) is None
        db.close()
        db = parquedb.connect(name)
        c = db.collection(COLL)
        assert c.get("e0", include_deleted=True) is None
        assert [e["$id"] for e in c.find(include_deleted=True)] == []
    finally:
        db.close()
