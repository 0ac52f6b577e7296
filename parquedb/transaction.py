"""Transactions: stage writes, read your own writes, commit all of them atomically or none.

A transaction is a set of collections over one
:class:`~parquedb.exec.session.TransactionSession`: their writes are kept as plans and re-run
against the newest state at commit, so a transaction that loses a race is re-evaluated, never
replayed from stale images. What the transaction *read* is validated optimistically: if another
writer changed an entity it read (or any entity of a collection it scanned) since it began, the
commit fails with a retryable ``CommitConflictError`` instead of committing a decision based on
a stale read.
"""

from __future__ import annotations

from parquedb.collection import Collection, Runner
from parquedb.exec.session import TransactionSession
from parquedb.model.entity import check_collection_name
from parquedb.support.typos import misspelt


class Transaction:
    """Yielded by ``db.transaction()``; ``tx.collection(name)`` (or ``tx[name]``, ``tx.name``)
    has the same write and read methods as a database's collection."""

    def __init__(self, session: TransactionSession, run: Runner) -> None:
        self._session = session
        self._runner = run

    @property
    def session(self) -> TransactionSession:
        """The transaction's session seam (see ``Database.session``): what code built on the
        database stages through it commits with the transaction's other writes."""
        return self._session

    def collection(self, name: str) -> Collection:
        return Collection(check_collection_name(name), self._session, self._runner)

    def __getitem__(self, name: str) -> Collection:
        return self.collection(name)

    def __getattr__(self, name: str) -> Collection:
        """``tx.<name>`` is the collection ``name`` unless it reads as a misspelt Transaction
        method (the rule of ``Database.__getattr__``); ``tx[name]`` always is."""
        if name.startswith("_"):
            raise AttributeError(name)
        meant = misspelt(name, [m for m in dir(self) if not m.startswith("_")])
        if meant is not None:
            raise AttributeError(
                f"'Transaction' object has no attribute {name!r}: did you mean {meant}? "
                f"(a collection of that name: tx[{name!r}])", name=name, obj=self)
        return self.collection(name)

    def commit(self) -> None:
        """Commit every staged write as one commit (``db.transaction()`` calls this at exit)."""
        self._session.commit(
            lambda go: self._runner("mutation", "transaction", None, go))

    def rollback(self) -> None:
        """Drop every staged write (an exception inside ``db.transaction()`` does this)."""
        self._session.rollback()

    def __repr__(self) -> str:
        state = "ended" if self._session.done else "open"
        return f"<Transaction {state}>"
