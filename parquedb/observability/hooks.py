"""The hook registry: the one place every public operation and storage request is reported.

Each database has its own registry (``db.hooks``); :data:`global_hooks` is consulted by every
database too. With nothing registered in either, :meth:`HookRegistry.run` is a single attribute
check and a direct call (the fast path) and the storage has no observer at all, so a storage
request costs one ``is None`` test. A hook that raises never breaks the operation: the error is
logged (``parquedb.hooks``) and counted (:attr:`HookRegistry.hook_errors`).

Hook methods (all optional; any object with some of them is a hook):

====================================  ===========================================================
``on_query_start(ctx)``               a read-only public call starts (``get``, ``find`` ...)
``on_query_end(ctx, result)``         ... and returned; ``result`` is an :class:`OperationResult`
``on_query_error(ctx, error)``        ... or raised ``error`` (re-raised to the caller)
``on_mutation_start/end/error``       the same for writes (``create``, ``update``, ``compact`` ...)
``on_read(ctx, result)``              after ``on_query_end``
``on_write(ctx, result)``             after ``on_mutation_end`` of a write that is not a delete
``on_delete(ctx, result)``            after ``on_mutation_end`` of ``delete``/``delete_many``
``on_storage_request(ctx)``           every storage request, when it finished (a
                                      :class:`StorageContext`)
``on_storage_error(ctx, error)``      a storage request that failed (not found/exists are
                                      answers, not failures)
``on_register(registry)``             the hook was registered on ``registry``
``on_unregister(registry)``           ... and removed again
====================================  ===========================================================

Start hooks run in registration order (global hooks first); end, error, read, write and delete
hooks in the reverse order, so the first hook registered wraps the others (as a tracing hook
should).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import weakref
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from parquedb.observability.metrics import MetricsCollector
    from parquedb.storage import Storage

log = logging.getLogger("parquedb.hooks")
_op_ids = itertools.count(1)
_UNSET: Any = object()

HOOK_METHODS = (
    "on_query_start", "on_query_end", "on_query_error",
    "on_mutation_start", "on_mutation_end", "on_mutation_error",
    "on_read", "on_write", "on_delete", "on_storage_error",
    "on_storage_request",
)
# run in reverse registration order (they close what the start hooks opened)
_REVERSED = frozenset({"on_query_end", "on_query_error", "on_mutation_end",
                       "on_mutation_error", "on_read", "on_write", "on_delete"})
# kind -> (start, end, error)
_EVENTS = {
    "query": ("on_query_start", "on_query_end", "on_query_error"),
    "mutation": ("on_mutation_start", "on_mutation_end", "on_mutation_error"),
}
STORAGE_KINDS = ("GET", "PUT", "LIST", "HEAD", "DELETE")

# wall-clock time of a perf_counter() reading, without a time.time() call per operation
_EPOCH_OFFSET = time.time() - time.perf_counter()

#: the operation running in this thread / task (only set while some hook is registered)
_current: ContextVar[OperationContext | None] = ContextVar("parquedb_operation", default=None)


@dataclass(slots=True, eq=False)
class OperationContext:
    """One public call, as the hooks see it. Hooks may keep their own state in ``scratch``."""

    operation_id: int
    operation: str              # "find", "create", ...
    kind: str                   # "query" | "mutation"
    collection: str | None
    started: float              # time.perf_counter() at the start
    details: dict[str, Any] = field(default_factory=dict)  # filter=, entity_id= ...
    duration_ms: float | None = None
    parent_id: int | None = None   # the enclosing operation (find inside find_one)
    start_time: float = 0.0        # time.time() at the start
    storage_requests: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    files_read: int = 0            # data files fetched from storage (or reported by the engine)
    row_groups_read: int = 0       # where the engine reports them (see note_read)
    rows_scanned: int = 0          # likewise
    error: BaseException | None = None
    _scratch: dict[Any, Any] | None = None

    @property
    def scratch(self) -> dict[Any, Any]:
        """A dict for hooks to keep per-operation state in (key it by the hook)."""
        d = self._scratch
        if d is None:
            d = self._scratch = {}
        return d

    @property
    def operation_type(self) -> str:
        return self.operation

    @property
    def namespace(self) -> str | None:
        return self.collection

    @property
    def filter(self) -> Any:
        return self.details.get("filter")

    @property
    def entity_id(self) -> Any:
        return self.details.get("entity_id")

    @property
    def entity_ids(self) -> list[Any] | None:
        ids = self.details.get("entity_ids")
        if ids is not None:
            return list(ids)
        eid = self.details.get("entity_id")
        return None if eid is None else [eid]

    def to_dict(self) -> dict[str, Any]:
        """The JSON-friendly facts (for logs): no scratch, no error object."""
        out: dict[str, Any] = {"operation_id": self.operation_id, "operation": self.operation,
                               "kind": self.kind, "collection": self.collection}
        if self.parent_id is not None:
            out["parent_id"] = self.parent_id
        if self.duration_ms is not None:
            out["duration_ms"] = round(self.duration_ms, 3)
        if self.entity_id is not None:
            out["entity_id"] = self.entity_id
        return out


class OperationResult:
    """What an operation returned, with what it cost (read from its context when asked)."""

    __slots__ = ("value", "_ctx", "_rows")

    def __init__(self, value: Any, ctx: OperationContext) -> None:
        self.value = value          # the call's return value
        self._ctx = ctx
        self._rows: Any = _UNSET

    @property
    def rows(self) -> int | None:
        """Entities returned or affected (None when that means nothing, e.g. compact)."""
        r = self._rows
        if r is _UNSET:
            r = self._rows = _row_count(self.value)
        return r

    @property
    def duration_ms(self) -> float:
        return self._ctx.duration_ms or 0.0

    @property
    def storage_requests(self) -> int:
        return self._ctx.storage_requests

    @property
    def bytes_read(self) -> int:
        return self._ctx.bytes_read

    @property
    def bytes_written(self) -> int:
        return self._ctx.bytes_written

    @property
    def files_read(self) -> int:
        return self._ctx.files_read

    @property
    def row_groups_read(self) -> int:
        return self._ctx.row_groups_read

    @property
    def rows_scanned(self) -> int:
        return self._ctx.rows_scanned

    def __repr__(self) -> str:
        return (f"OperationResult(rows={self.rows}, duration_ms={self.duration_ms:.3f}, "
                f"storage_requests={self.storage_requests})")


@dataclass(slots=True, eq=False)
class StorageContext:
    """One storage request (reported when it finished)."""

    kind: str                   # "GET" | "PUT" | "LIST" | "HEAD" | "DELETE"
    key: str                    # relative to the store's root (never holds credentials)
    nbytes: int                 # bytes read (GET) or written (PUT)
    duration_ms: float
    error: BaseException | None
    outcome: str                # "ok" | "not_found" | "exists" | "error"
    start_time: float           # time.time() when the request started
    operation_id: int | None = None   # the public operation it served, if any
    operation: str | None = None
    collection: str | None = None


def _row_count(value: Any) -> int | None:
    if value is None:
        return 0
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):  # count(), delete_many()
        return value
    if isinstance(value, dict):  # an entity, or a stats dict (compact, vacuum, health)
        return 1 if "$id" in value else None
    n = getattr(value, "num_rows", None)  # a pyarrow Table (sql)
    if isinstance(n, int):
        return n
    modified = getattr(value, "modified_count", None)  # UpdateResult
    if isinstance(modified, int):
        return modified
    try:
        return len(value)  # FindResult, lists of ids / events / aggregate rows
    except TypeError:
        return None


def _is_data_file(key: str) -> bool:
    return key.endswith(".parquet") and not key.startswith("_")


def current_operation() -> OperationContext | None:
    """The public operation running here (None outside one, or when no hook is registered)."""
    return _current.get()


def note_read(*, files: int = 0, row_groups: int = 0, rows: int = 0) -> None:
    """Engine code reports reads that do not go through a storage GET (a local file read in
    place, row groups taken from a cached file). Costs one ContextVar lookup when no hook is
    registered."""
    ctx = _current.get()
    if ctx is not None:
        ctx.files_read += files
        ctx.row_groups_read += row_groups
        ctx.rows_scanned += rows


class _Default:
    pass


_DEFAULT: Any = _Default()


class HookRegistry:
    """Hooks of one database (``db.hooks``), or the process-wide :data:`global_hooks`."""

    def __init__(self, parent: HookRegistry | None = _DEFAULT) -> None:
        self._hooks: list[Any] = []
        self._methods: dict[str, tuple[Callable[..., Any], ...]] = dict.fromkeys(HOOK_METHODS, ())
        self.active = False
        self.hook_errors = 0
        self._lock = threading.RLock()
        self._children: weakref.WeakSet[HookRegistry] = weakref.WeakSet()
        self._storage: Storage | None = None
        self._failed: set[tuple[int, str]] = set()
        #: the MetricsCollector ``db.metrics()`` reports (see :func:`.metrics.enable_metrics`)
        self.collector: MetricsCollector | None = None
        self._parent: HookRegistry | None = global_hooks if parent is _DEFAULT else parent
        if self._parent is not None:
            with self._parent._lock:
                self._parent._children.add(self)
            self._rebuild()

    def __repr__(self) -> str:
        scope = "global" if self is global_hooks else "database"
        return f"<HookRegistry {scope} hooks={len(self._hooks)} active={self.active}>"

    # -- registration --------------------------------------------------------------------
    def register(self, hook: Any) -> Callable[[], None]:
        """Add a hook (any object with some ``on_*`` methods); returns its unregister call.

        Registering the same object twice is a no-op (it is called once)."""
        if hook is None or isinstance(hook, (str, bytes, int, float)):
            raise TypeError("a hook is an object with on_* methods")
        with self._lock:
            fresh = not any(h is hook for h in self._hooks)
            if fresh:
                self._hooks.append(hook)
                self._rebuild()
        if fresh:
            attach = getattr(hook, "on_register", None)
            if callable(attach):
                self._call_safely(attach, "on_register", self)

        def unregister() -> None:
            self.unregister(hook)

        return unregister

    def unregister(self, hook: Any) -> bool:
        """Remove ``hook``; True if it was registered."""
        with self._lock:
            for i, h in enumerate(self._hooks):
                if h is hook:
                    del self._hooks[i]
                    if self.collector is hook:
                        self.collector = None
                    self._rebuild()
                    break
            else:
                return False
        detach = getattr(hook, "on_unregister", None)
        if callable(detach):
            self._call_safely(detach, "on_unregister", self)
        return True

    def clear(self) -> None:
        """Remove every hook of this registry (not those of the global one)."""
        for h in list(self._hooks):
            self.unregister(h)

    @property
    def hooks(self) -> tuple[Any, ...]:
        """This registry's own hooks, in registration order."""
        return tuple(self._hooks)

    def all_hooks(self) -> tuple[Any, ...]:
        """The hooks that see this registry's events: the global ones first, then its own."""
        inherited = self._parent.all_hooks() if self._parent is not None else ()
        return tuple(inherited) + tuple(self._hooks)

    def __len__(self) -> int:
        return len(self._hooks)

    def __contains__(self, hook: object) -> bool:
        return any(h is hook for h in self._hooks)

    def find(self, cls: type) -> Any:
        """The first hook (own, then global) that is an instance of ``cls``, or None."""
        for h in reversed(self.all_hooks()):
            if isinstance(h, cls):
                return h
        return None

    def _rebuild(self) -> None:
        with self._lock:
            hooks = self.all_hooks()
            methods: dict[str, tuple[Callable[..., Any], ...]] = {}
            for name in HOOK_METHODS:
                fns = [m for h in hooks if callable(m := getattr(h, name, None))]
                if name in _REVERSED:
                    fns.reverse()
                methods[name] = tuple(fns)
            self._methods = methods
            self.active = bool(hooks)
            self._sync_storage()
            children = list(self._children)
        for child in children:
            child._rebuild()

    # -- the storage seam ----------------------------------------------------------------
    def bind(self, storage: Storage) -> None:
        """Report ``storage``'s requests to this registry's hooks (the database calls this once,
        right after opening its storage, then applies the automatic instrumentation of
        :func:`parquedb.observability.auto.instrument_registry`)."""
        self._storage = storage
        with self._lock:
            self._sync_storage()

    @property
    def storage(self) -> Storage | None:
        return self._storage

    def _sync_storage(self) -> None:
        st = self._storage
        if st is not None:
            st.observer = self._observe if self.active else None

    def circuits(self) -> dict[str, dict[str, Any]]:
        """Circuit-breaker states of the bound storage (empty when it has none)."""
        from parquedb.observability.circuits import circuit_states

        return circuit_states(self._storage)

    def _observe(self, kind: str, key: str, nbytes: int, seconds: float,
                 error: BaseException | None) -> None:
        ctx = _current.get()
        if ctx is not None:
            ctx.storage_requests += 1
            if error is None:
                if kind == "GET":
                    ctx.bytes_read += nbytes
                    if _is_data_file(key):
                        ctx.files_read += 1
                elif kind == "PUT":
                    ctx.bytes_written += nbytes
        methods = self._methods
        on_request = methods["on_storage_request"]
        on_error = methods["on_storage_error"]
        if error is None:
            outcome = "ok"
        elif isinstance(error, FileNotFoundError):
            outcome = "not_found"
        elif isinstance(error, FileExistsError):
            outcome = "exists"
        else:
            outcome = "error"
        if not on_request and not (on_error and outcome == "error"):
            return
        sctx = StorageContext(kind, key, nbytes, seconds * 1000.0, error, outcome,
                              _EPOCH_OFFSET + time.perf_counter() - seconds)
        if ctx is not None:
            sctx.operation_id, sctx.operation, sctx.collection = \
                ctx.operation_id, ctx.operation, ctx.collection
        for fn in on_request:
            try:
                fn(sctx)
            except Exception as e:
                self._hook_failed("on_storage_request", fn, e)
        if outcome == "error":
            for fn in on_error:
                try:
                    fn(sctx, error)
                except Exception as e:
                    self._hook_failed("on_storage_error", fn, e)

    # -- emitting ------------------------------------------------------------------------
    def emit(self, name: str, *args: Any) -> None:
        """Call every hook's ``name`` method with ``args`` (errors logged and counted)."""
        for fn in self._methods.get(name, ()):
            try:
                fn(*args)
            except Exception as e:  # a broken hook must not break the database
                self._hook_failed(name, fn, e)

    def _call_safely(self, fn: Callable[..., Any], name: str, *args: Any) -> None:
        try:
            fn(*args)
        except Exception as e:
            self._hook_failed(name, fn, e)

    def _hook_failed(self, name: str, fn: Callable[..., Any], error: BaseException) -> None:
        with self._lock:
            self.hook_errors += 1
            owner = getattr(fn, "__self__", fn)
            key = (id(owner), name)
            first = key not in self._failed
            if first and len(self._failed) < 10_000:
                self._failed.add(key)
        # the first failure of each hook method with its traceback; the rest quietly
        log.log(logging.WARNING if first else logging.DEBUG,
                "parquedb hook %s.%s raised %s: %s (the operation went on)",
                type(owner).__name__, name, type(error).__name__, error,
                exc_info=error if first else None)

    def run(self, kind: str, operation: str, collection: str | None, fn: Callable[[], Any],
            **details: Any) -> Any:
        """Run ``fn`` as one public operation, reporting start/end/error to the hooks."""
        if not self.active:
            return fn()
        return self._run_hooked(kind, operation, collection, fn, details)

    def _run_hooked(self, kind: str, operation: str, collection: str | None,
                    fn: Callable[[], Any], details: dict[str, Any]) -> Any:
        parent = _current.get()
        t0 = time.perf_counter()
        ctx = OperationContext(next(_op_ids), operation, kind, collection, t0, details, None,
                               None if parent is None else parent.operation_id,
                               _EPOCH_OFFSET + t0)
        token = _current.set(ctx)
        methods = self._methods
        start, end, fail = _EVENTS.get(kind) or _EVENTS["query"]
        try:
            for h in methods[start]:
                try:
                    h(ctx)
                except Exception as e:
                    self._hook_failed(start, h, e)
            try:
                value = fn()
            except BaseException as error:
                ctx.duration_ms = (time.perf_counter() - ctx.started) * 1000.0
                ctx.error = error
                for h in methods[fail]:
                    try:
                        h(ctx, error)
                    except Exception as e:
                        self._hook_failed(fail, h, e)
                raise
            ctx.duration_ms = (time.perf_counter() - ctx.started) * 1000.0
            result = OperationResult(value, ctx)
            for h in methods[end]:
                try:
                    h(ctx, result)
                except Exception as e:
                    self._hook_failed(end, h, e)
            after = "on_read" if kind == "query" else (
                "on_delete" if operation.startswith("delete") else "on_write")
            for h in methods[after]:
                try:
                    h(ctx, result)
                except Exception as e:
                    self._hook_failed(after, h, e)
            return value
        finally:
            _current.reset(token)
            if parent is not None:  # the enclosing operation paid for this one too
                parent.storage_requests += ctx.storage_requests
                parent.bytes_read += ctx.bytes_read
                parent.bytes_written += ctx.bytes_written
                parent.files_read += ctx.files_read
                parent.row_groups_read += ctx.row_groups_read
                parent.rows_scanned += ctx.rows_scanned


#: consulted by every database's registry (register here to see every database of the process)
global_hooks = HookRegistry(parent=None)
