"""The table format: commit log, snapshots, inlined rows, data files, compaction, vacuum."""

from parquedb.engine.batch import WriteBatch
from parquedb.engine.format import FORMAT_VERSION, Event, FileInfo
from parquedb.engine.lifecycle import Lifecycle, open_table
from parquedb.engine.settings import Settings
from parquedb.engine.snapshot import Snapshot, View
from parquedb.engine.table import Table

__all__ = ["FORMAT_VERSION", "Event", "FileInfo", "Lifecycle", "Settings", "Snapshot", "Table",
           "View", "WriteBatch", "open_table"]
