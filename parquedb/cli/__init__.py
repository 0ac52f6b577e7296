"""The ``parquedb`` command: look into a store, query it, move data in and out, and run its
maintenance from a shell. See docs/guides/cli.md.

    parquedb info ./parquedb-data
    parquedb find ./parquedb-data posts '{"status": "published"}' --sort -views --limit 10
    parquedb sql ./parquedb-data "SELECT status, count(*) FROM posts GROUP BY 1"
    parquedb export ./parquedb-data posts posts.jsonl
    parquedb verify ./parquedb-data
    parquedb backup ./parquedb-data s3://backups/nightly
"""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); the exit status."""
    from parquedb.cli.app import run

    return run(argv)


__all__ = ["main"]
