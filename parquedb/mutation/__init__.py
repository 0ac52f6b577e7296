"""Update operators as pure functions on dicts (MongoDB semantics).

``apply_update(doc, update)`` returns the updated copy of a document's user fields;
``compile_update(update)`` checks an update once for many documents;
``update_is_noop(before, after)`` tells whether it changed anything the database stores.
"""

from parquedb.mutation.equality import strict_equal, update_is_noop
from parquedb.mutation.operators import CompiledUpdate, apply_update, compile_update
from parquedb.mutation.parse import OPERATORS, RESERVED_FIELDS, parse_update

__all__ = [
    "OPERATORS", "RESERVED_FIELDS", "CompiledUpdate", "apply_update", "compile_update",
    "parse_update", "strict_equal", "update_is_noop",
]
