"""Materialized views: a ``$match`` + ``$group`` over a collection or a dataset, stored as a
read-only collection and refreshed incrementally and exactly (see ``views.refresh``)."""

from parquedb.views.view import MaterializedView, define_view, drop_view, get_view, list_views

__all__ = ["MaterializedView", "define_view", "drop_view", "get_view", "list_views"]
