"""The hook registry: the one place every public operation and storage request is reported.

With nothing registered, :meth:`HookRegistry.run` is a single attribute check and a direct call
(the fast path). A hook that raises never breaks the operation: the error is logged and counted.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

log = logging.getLogger("parquedb.hooks")
_op_ids = itertools.count(1)

HOOK_METHODS = (
    "on_query_start", "on_query_end", "on_query_error",
    "on_mutation_start", "on_mutation_end", "on_mutation_error",
    "on_read", "on_write", "on_delete", "on_storage_error",
    "on_storage_request",
)


@dataclass
class OperationContext:
    operation_id: int
    operation: str              # "find", "create", ...
    kind: str                   # "query" | "mutation"
    collection: str | None
    started: float
    details: dict[str, Any] = field(default_factory=dict)
    duration_ms: float | None = None


class HookRegistry:
    def __init__(self) -> None:
        self._hooks: list[Any] = []
        self._methods: dict[str, list[Callable[..., Any]]] = {}
        self.active = False
        self.hook_errors = 0

    def register(self, hook: Any) -> Callable[[], None]:
        """Add a hook (any object with some ``on_*`` methods); returns its unregister call."""
        self._hooks.append(hook)
        self._rebuild()

        def unregister() -> None:
            if hook in self._hooks:
                self._hooks.remove(hook)
                self._rebuild()

        return unregister

    def clear(self) -> None:
        self._hooks.clear()
        self._rebuild()

    def _rebuild(self) -> None:
        self._methods = {
            name: [m for h in self._hooks if callable(m := getattr(h, name, None))]
            for name in HOOK_METHODS
        }
        self.active = bool(self._hooks)

    def emit(self, name: str, *args: Any) -> None:
        for fn in self._methods.get(name, ()):
            try:
                fn(*args)
            except Exception:  # a broken hook must not break the database
                self.hook_errors += 1
                log.exception("hook %s raised", name)

    def run(self, kind: str, operation: str, collection: str | None, fn: Callable[[], Any],
            **details: Any) -> Any:
        """Run ``fn`` as one public operation, reporting start/end/error to the hooks."""
        if not self.active:
            return fn()
        ctx = OperationContext(next(_op_ids), operation, kind, collection, time.perf_counter(),
                               details)
        self.emit(f"on_{kind}_start", ctx)
        try:
            result = fn()
        except BaseException as e:
            ctx.duration_ms = (time.perf_counter() - ctx.started) * 1000
            self.emit(f"on_{kind}_error", ctx, e)
            raise
        ctx.duration_ms = (time.perf_counter() - ctx.started) * 1000
        self.emit(f"on_{kind}_end", ctx, result)
        if kind == "query":
            self.emit("on_read", ctx, result)
        elif operation.startswith("delete"):
            self.emit("on_delete", ctx, result)
        else:
            self.emit("on_write", ctx, result)
        return result
