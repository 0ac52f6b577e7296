"""Entity history: the events of one ``$id``, from inlined events and event files."""

from __future__ import annotations

from parquedb.engine.format import Event
from parquedb.engine.snapshot import Snapshot


def entity_events(snap: Snapshot, collection: str, eid: str) -> list[Event]:
    cs = snap.state.collections.get(collection)
    if cs is None:
        return []
    events = [e for e in cs.events if e.entity_id == eid]
    for info in list(cs.event_files.values()):
        events.extend(snap.files.read_events(info.key, info.seq, info.ts, eid))
    events.sort(key=lambda e: (e.seq, e.id))
    return events
