"""The query layer: filters (MongoDB semantics), sort order, projections and dotted paths.

Pure Python, no I/O. Everything compiles once (``compile_filter``, ``sort_key``,
``compile_projection``) into closures that the engine then runs over many documents.
"""

from parquedb.model.bson import bson_key, compare_values, type_rank, values_equal
from parquedb.model.paths import MISSING, get_path, resolve, split_path
from parquedb.query.matcher import Predicate, compile_condition, compile_filter
from parquedb.query.order import normalize_sort, sort_key
from parquedb.query.projection import compile_projection

__all__ = [
    "MISSING", "Predicate", "bson_key", "compare_values", "compile_condition", "compile_filter",
    "compile_projection", "get_path", "normalize_sort", "resolve", "sort_key", "split_path",
    "type_rank", "values_equal",
]
