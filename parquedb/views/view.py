"""``define_view``, ``MaterializedView``: defining, refreshing and watching views.

A view is a read-only collection written only by its refresher, whose definition and
watermark live in the commit log with its rows. Any process may refresh it; each refresh is
one commit planned on the newest state, so two refreshers at once, or a crash in the middle,
can neither double-count nor skip.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from parquedb.errors import ErrorCode, MVError
from parquedb.exec.session import READONLY, DatasetSource
from parquedb.model.entity import check_collection_name
from parquedb.views.definition import (
    DEFINITION,
    WATERMARK,
    Compiled,
    Definition,
    make_definition,
)
from parquedb.views.refresh import refresh_plan, states_collection

log = logging.getLogger("parquedb.views")

#: the handles refreshing on writes or on a timer in this process, by (database, view), so
#: that dropping a view stops them all
_ACTIVE: dict[tuple[int, str], list[MaterializedView]] = {}


def _is_dataset(db: Any, source: str) -> bool:
    with db.session.reading() as r:
        return r.dataset(source) is not None or "/" in source


def define_view(db: Any, name: str, source: str, pipeline: list[dict[str, Any]], *,
                refresh: Any = "manual", time_field: str = "timestamp") -> MaterializedView:
    """Define (or find) the view ``name`` over ``source`` (a collection, or a dataset such as
    ``logs/workers``). Defining it again with the same pipeline returns the same view; with
    a different one, the view is rebuilt. The first build commits with the definition."""
    name = check_collection_name(name)
    if not isinstance(source, str) or not source:
        raise MVError("source must be a collection or dataset name", code=ErrorCode.MV_ERROR)
    if source == name:
        raise MVError("a view cannot be its own source", code=ErrorCode.MV_ERROR, view=name)
    kind = "dataset" if _is_dataset(db, source) else "collection"
    if kind == "collection":
        source = check_collection_name(source)
    return install_view(db, make_definition(name, source, kind, pipeline, refresh, time_field))


def install_view(db: Any, definition: Definition,
                 compiled: Compiled | None = None) -> MaterializedView:
    """Store ``definition`` (see :func:`store_definition`) and return a handle refreshing by
    its policy."""
    store_definition(db, definition, compiled)
    view = MaterializedView(db, definition, compiled)
    view.refresh()  # the same definition as before: catch up (a no-op when just built)
    view._apply_policy()
    return view


def store_definition(db: Any, definition: Definition, compiled: Compiled | None = None) -> None:
    """Store ``definition``, building the view in the same commit when it is new or changed
    (a pipeline that fails on the source leaves nothing behind). ``compiled``: a pipeline
    built by code (the definition's ``digest`` must then name everything it depends on)."""
    name = definition.name

    def plan(stage: Any) -> bool:
        old = stage.meta(name, DEFINITION)
        if old is None:
            if any(True for _ in stage.entities(name)):
                raise MVError(f"{name!r} is a collection with entities: a view needs its own "
                              "name", code=ErrorCode.MV_ERROR, view=name)
        elif old.get("digest") == definition.digest:
            if old.get("refresh") != definition.refresh:
                stage.set_meta(name, DEFINITION, definition.to_json())
            return False
        stage.set_meta(name, DEFINITION, definition.to_json())
        stage.set_meta(name, READONLY, "view")  # the API refuses writes to it
        stage.set_meta(name, WATERMARK, None)
        # the first build commits with the definition: a pipeline that fails on the source
        # leaves no view behind
        refresh_plan(stage, definition, full=True, compiled=compiled)
        return True

    db.session.transact(plan, info={"op": "define_view", "view": name})


def get_view(db: Any, name: str) -> MaterializedView:
    """The view ``name`` as stored (``MVError`` if there is none)."""
    with db.session.reading() as r:
        raw = r.meta(name, DEFINITION)
    if raw is None:
        raise MVError(f"there is no view {name!r}", code=ErrorCode.MV_ERROR, view=name)
    return MaterializedView(db, Definition.from_json(raw))


def list_views(db: Any) -> list[str]:
    """The names of every view of the store."""
    with db.session.reading() as r:
        return r.scopes_with(DEFINITION)


def drop_view(db: Any, name: str) -> None:
    """Remove a view: its rows, its partial states and its definition (one commit); refreshing
    on writes or on a timer stops in this process."""
    get_view(db, name)  # MVError when there is none
    for view in list(_ACTIVE.get((id(db), name), ())):
        view.stop()

    def plan(stage: Any) -> None:
        for coll in (name, states_collection(name)):
            for e in list(stage.entities(coll)):
                stage.remove(coll, e["$id"].split("/", 1)[1])
        stage.set_meta(name, DEFINITION, None)
        stage.set_meta(name, READONLY, None)
        stage.set_meta(name, WATERMARK, None)

    db.session.transact(plan, info={"op": "drop_view", "view": name})


class MaterializedView:
    """A handle on one view; its rows are read as ``db[name]`` (``find``, ``aggregate``,
    ``db.sql()``)."""

    def __init__(self, db: Any, definition: Definition,
                 compiled: Compiled | None = None) -> None:
        self.db = db
        self.definition = definition
        self._compiled = compiled
        self.name = definition.name
        self._unsubscribe: Any = None
        self._timer: threading.Thread | None = None
        self._stop = threading.Event()

    def __repr__(self) -> str:
        return f"MaterializedView({self.name!r} over {self.definition.source!r})"

    @property
    def collection(self) -> Any:
        return self.db.collection(self.name)

    def refresh(self, *, full: bool = False,
                recompute: Callable[[Any], bool] | None = None) -> dict[str, Any]:
        """Fold in what changed in the source since the last refresh (everything, with
        ``full=True``; both give the same rows). ``recompute``: also rebuild the stored groups
        whose key it accepts. Returns ``{"full", "changes", "groups", "watermark"}``."""
        d, compiled = self.definition, self._compiled

        def plan(stage: Any) -> dict[str, Any]:
            stored = stage.meta(d.name, DEFINITION)
            if stored is None or stored.get("digest") != d.digest:
                raise MVError(f"view {d.name!r} was dropped or redefined meanwhile",
                              code=ErrorCode.MV_ERROR, view=d.name)
            return refresh_plan(stage, d, full=full, compiled=compiled, recompute=recompute)

        result: dict[str, Any] = self.db.session.transact(
            plan, info={"op": "refresh", "view": d.name})
        return result

    def staleness(self) -> dict[str, Any]:
        """How far behind its source the view is: ``{"commits", "rows", "seconds"}`` (source
        commits and changed rows or new records not yet folded in, and the age of the oldest)."""
        d = self.definition
        with self.db.session.reading() as r:
            seen = r.meta(d.name, WATERMARK)
            if seen is None:
                seen = 0
            if d.kind == "dataset":
                new = DatasetSource(d.source, after_seq=seen)
                files = r.dataset_files(new)
                appended = [f for f in files if not f.merged]
                commits = len({f.seq for f in appended})
                rows = sum(f.rows for f in appended)
                if len(appended) < len(files):  # merged files hold old records too: count
                    got = r.query("SELECT count(*) AS n FROM src", datasets={"src": new})
                    rows = int(got.column("n")[0].as_py()) if got.num_rows else 0
                oldest = min((f.ts for f in appended), default=None)
            else:
                seqs: set[int] = set()
                rows, oldest = 0, None
                for ch in r.changes(d.source, seen):
                    seqs.add(ch.seq)
                    rows += 1
                    oldest = ch.ts if oldest is None else min(oldest, ch.ts)
                commits = len(seqs)
        seconds = 0.0 if oldest is None else max(0.0, time.time() - oldest / 1e6)
        return {"commits": commits, "rows": rows, "seconds": round(seconds, 3)}

    # -- refresh policies ----------------------------------------------------------------
    def _apply_policy(self) -> None:
        policy = self.definition.refresh
        if policy != "manual":
            _ACTIVE.setdefault((id(self.db), self.name), []).append(self)
        if policy == "on_write":
            self._unsubscribe = self.db.session.subscribe(self._on_commit)
        elif isinstance(policy, dict):
            self._stop.clear()
            self._timer = threading.Thread(target=self._every, args=(policy["every"],),
                                           name=f"parquedb-view-{self.name}", daemon=True)
            self._timer.start()

    def _on_commit(self, scopes: set[str]) -> None:
        if self.definition.source in scopes:
            self.refresh()

    def _every(self, seconds: float) -> None:
        while not self._stop.wait(seconds):
            try:
                self.refresh()
            except Exception as e:  # the next tick tries again
                log.warning("scheduled refresh of view %s failed: %s", self.name, e)

    def stop(self) -> None:
        """Stop refreshing on writes or on a timer (the view and its rows stay)."""
        active = _ACTIVE.get((id(self.db), self.name))
        if active is not None and self in active:
            active.remove(self)
            if not active:
                del _ACTIVE[(id(self.db), self.name)]
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        timer, self._timer = self._timer, None
        if timer is not None:
            self._stop.set()
            timer.join()


__all__ = ["MaterializedView", "define_view", "drop_view", "get_view", "install_view",
           "list_views", "store_definition"]
