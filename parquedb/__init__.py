"""ParqueDB: an embedded document database on open Parquet files."""
