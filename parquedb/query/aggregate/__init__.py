"""MongoDB aggregation pipelines over a stream of documents, in pure Python.

:func:`run_pipeline` (``Collection.aggregate``) compiles the whole pipeline first and then
chains the stages as lazy iterators over the input:

* ``$match``, ``$project``, ``$addFields``/``$set``, ``$unset``, ``$replaceRoot``/``$replaceWith``,
  ``$unwind``, ``$skip`` and ``$limit`` stream (``$limit`` stops pulling input once satisfied);
* ``$group``, ``$sortByCount`` and ``$count`` hold only one accumulator state per group;
* ``$sort`` holds everything, unless ``$limit`` (possibly after ``$skip``) follows it: then it
  keeps a bounded top-k (``heapq.nsmallest``, stable) of ``skip + limit`` documents.

``$match`` uses ``compile_filter`` (a top-level ``$expr`` is also accepted); ``$sort`` uses
MongoDB order, ties broken by ``$id`` and, for documents without one such as ``$group`` output,
by input order; ``$project`` does inclusion/exclusion via ``compile_projection`` plus computed
fields. A missing value sorts below null in expression comparisons; arithmetic on null/missing
gives null; int results outside 64 bits become floats.

Errors: a malformed pipeline, stage, expression or accumulator is a ``QueryError`` (code
``QUERY_ERROR``) whose message starts with ``pipeline stage <i> (<name>)`` and whose context has
``stage`` and ``operator``; a bad ``$match`` filter is an ``InvalidFilterError`` (same prefix).
A value an operator cannot take at run time (``$add`` on a string, ``$divide`` by zero, a
``$replaceRoot`` that is not an object) is a ``QueryError`` with the same prefix.

Modules: :mod:`.pipeline` (compiling and running), :mod:`.stages` and :mod:`.group` (the
stages), :mod:`.accumulators` (mergeable partial states, with :mod:`.sums` and
:mod:`.percentiles`), :mod:`.expressions` (the expression compiler) and :mod:`.operators` (the
operator table, from :mod:`.arithmetic`, :mod:`.strings`, :mod:`.logic`, :mod:`.arrays` and
:mod:`.dates`), :mod:`.fields` (``$project``/``$addFields`` field specs) and :mod:`.pushdown`
(a ``$group`` as DuckDB SQL).
"""

from parquedb.query.aggregate.expressions import compile_expression as compile_expression
from parquedb.query.aggregate.pipeline import compile_pipeline as compile_pipeline
from parquedb.query.aggregate.pipeline import run_pipeline as run_pipeline
from parquedb.query.aggregate.pushdown import fix_group_rows as fix_group_rows
from parquedb.query.aggregate.pushdown import translate_group as translate_group

__all__ = [
    "compile_expression", "compile_pipeline", "fix_group_rows", "run_pipeline",
    "translate_group",
]
