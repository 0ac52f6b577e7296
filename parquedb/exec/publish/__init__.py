"""Open tables: a collection's or a dataset's state at one commit, published as a Delta Lake
or Iceberg table that engines knowing nothing of ParqueDB read in place (see
``docs/guides/open-tables.md``)."""

from parquedb.exec.publish.location import FORMATS as FORMATS
from parquedb.exec.publish.publisher import publish as publish

__all__ = ["FORMATS", "publish"]
