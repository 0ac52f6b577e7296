"""Process-level helpers with no knowledge of the database: terminal progress, GC pauses."""
