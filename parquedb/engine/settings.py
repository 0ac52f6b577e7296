"""Tunables of the table format and its lifecycle policy (all have safe defaults).

Tests and benchmarks shrink them (``parquedb.testing.tune``) to reach checkpoints, compaction
and bulk paths with a few rows.
"""

from __future__ import annotations


class Settings:
    """Tunables of the table format (all have safe defaults)."""

    checkpoint_interval = 64          # commits between checkpoints
    inline_max_rows = 1000            # a batch larger than this goes to a data file
    inline_max_bytes = 1 << 20
    compact_inline_bytes = 1 << 20    # flush inlined rows of a collection past this (it also
    compact_inline_rows = 1_000       # bounds checkpoints, which carry the inlined rows)
    compact_small_files = 16          # merge small files past this many
    small_file_bytes = 32 << 20
    max_commit_attempts = 400
    bulk_chunk_rows = 50_000          # a larger create_many writes files a chunk at a time
    stale_reload_seconds = 1800.0     # refresh from the hint after this long idle
