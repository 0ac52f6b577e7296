"""Streams in, rollups out: tail-event parsing, buffered ingestion into datasets, and the
Workers log and error views built on them."""
