"""The table format: commit log, snapshots, inlined rows, data files, compaction, vacuum."""

from .batch import WriteBatch
from .format import FORMAT_VERSION, Event, FileInfo
from .snapshot import Snapshot, View
from .table import Settings, Table

__all__ = ["FORMAT_VERSION", "Event", "FileInfo", "Settings", "Snapshot", "Table", "View",
           "WriteBatch"]
