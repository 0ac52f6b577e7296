"""ParqueDB behind the harness's `System` interface, using only the public API (API.md).

Imported lazily so the anchors still run while the package is incomplete; every call that
the package does not implement yet surfaces as an error in that row of the table.
"""

from __future__ import annotations

from typing import Any

from .anchors import Doc, System
from .dataset import RANGE_HI, RANGE_LO, RAREST_STATUS, SELECTIVE_VIEWS_GT, STATUSES


class ParqueDBSystem(System):
    """A fresh local-folder database with one collection, ``posts``."""

    name = "parquedb"

    def __init__(self, folder: str) -> None:
        super().__init__(folder)
        import parquedb  # late: a broken package must not take the anchors down with it

        self._parquedb = parquedb
        self._connect()

    def _connect(self) -> None:
        self.db = self._parquedb.connect(self.folder)
        self.col = self.db.collection("posts")

    def load(self, docs: list[Doc], batch_size: int | None) -> list[str]:
        step = batch_size or len(docs)
        ids: list[str] = []
        for start in range(0, len(docs), step):
            ids.extend(self.col.create_many(docs[start:start + step]))
        return ids

    def create(self, doc: Doc) -> Any:
        return self.col.create(doc)

    def get(self, id_: str) -> Doc | None:
        return self.col.get(id_)

    def update_set(self, id_: str, score: float) -> Any:
        return self.col.update(id_, {"$set": {"score": score}})

    def update_inc(self, id_: str) -> Any:
        return self.col.update(id_, {"$inc": {"views": 1}})

    def find_selective(self) -> list[Doc]:
        return list(self.col.find({"status": RAREST_STATUS, "views": {"$gt": SELECTIVE_VIEWS_GT}}))

    def range_sort_limit(self) -> list[Doc]:
        return list(self.col.find({"views": {"$gte": RANGE_LO, "$lt": RANGE_HI}},
                                  sort={"views": -1}, limit=20))

    def count_by_status(self) -> dict[str, int]:
        """One ``aggregate`` ``$group`` pass (API.md lists ``aggregate`` with ``$group``)."""
        rows = self.col.aggregate([{"$group": {"_id": "$status", "n": {"$sum": 1}}}])
        return {r["_id"]: r["n"] for r in rows}

    def count_by_status_each(self) -> dict[str, int]:
        """Five ``count({"status": s})`` calls: what a user without ``aggregate`` would do."""
        return {s: self.col.count({"status": s}) for s in STATUSES}

    def compact(self) -> Any:
        return self.db.compact()

    def reopen(self) -> None:
        self.db.close()
        self._connect()

    def close(self) -> None:
        self.db.close()
