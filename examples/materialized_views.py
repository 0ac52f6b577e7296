"""A materialized view: revenue per day over a collection of orders, kept up to date
incrementally. Everything is written to a temporary folder. Run it from the repository root:

    .venv/bin/python examples/materialized_views.py

See docs/guides/materialized-views.md for the guide.
"""

import tempfile
from datetime import UTC, datetime, timedelta

import parquedb
from parquedb.errors import MVError
from parquedb.views import define_view, drop_view, list_views

DAY = datetime(2026, 3, 2, tzinfo=UTC)


def show(db: parquedb.Database, title: str) -> None:
    print(title)
    for row in db.revenue_per_day.find(sort={"_id": 1}):
        print(f"  {row['_id']:%Y-%m-%d}  orders={row['orders']}  revenue={row['revenue']:>7.2f}"
              f"  average={row['average']:>6.2f}  largest={row['largest']:>6.2f}"
              f"  customers={row['customers']}")


with tempfile.TemporaryDirectory() as folder:
    db = parquedb.connect(folder)
    orders = db.orders
    ids = orders.create_many([
        {"customer": customer, "total": total, "status": "paid",
         "placedAt": DAY + timedelta(days=day, hours=hour)}
        for customer, total, day, hour in [
            ("ada", 42.50, 0, 9), ("bob", 18.00, 0, 13), ("cy", 99.90, 0, 18),
            ("ada", 12.25, 1, 8), ("dee", 230.00, 1, 11), ("bob", 7.75, 2, 20),
        ]
    ])

    view = define_view(db, "revenue_per_day", source="orders", pipeline=[
        {"$match": {"status": "paid"}},
        {"$group": {
            "_id": {"$dateTrunc": {"date": "$placedAt", "unit": "day"}},
            "orders": {"$sum": 1},
            "revenue": {"$sum": "$total"},
            "average": {"$avg": "$total"},
            "largest": {"$max": "$total"},
            "customers": {"$addToSet": "$customer"},
        }},
    ])                                    # refresh="manual" (the default); built now
    print("views:", list_views(db))
    show(db, "after define_view:")

    # Changes to the source: an order corrected, one refunded (it leaves the $match), one
    # deleted, one new. The view does not move until it is refreshed.
    orders.update(ids[1], {"$set": {"total": 21.00}})
    orders.update(ids[4], {"$set": {"status": "refunded"}})
    orders.delete(ids[2])
    orders.create({"customer": "eve", "total": 64.00, "status": "paid",
                   "placedAt": DAY + timedelta(days=3, hours=10)})
    print("\nstaleness before refresh:", view.staleness())

    print("refresh:", view.refresh())     # folds in only the four changes
    print("staleness after refresh: ", view.staleness())
    show(db, "after refresh:")

    incremental = [(r["_id"], r["orders"], r["revenue"], r["largest"], sorted(r["customers"]))
                   for r in db.revenue_per_day.find(sort={"_id": 1})]
    print("\nfull rebuild:", view.refresh(full=True))
    rebuilt = [(r["_id"], r["orders"], r["revenue"], r["largest"], sorted(r["customers"]))
               for r in db.revenue_per_day.find(sort={"_id": 1})]
    print("incremental rows == rebuilt rows:", incremental == rebuilt)

    try:
        db.revenue_per_day.create({"revenue": 1})
    except MVError as e:
        print("\na write to the view is refused:", e)

    print("\nread with aggregate:", db.revenue_per_day.aggregate([
        {"$group": {"_id": None, "revenue": {"$sum": "$revenue"}, "days": {"$sum": 1}}}]))

    print("read with SQL (the _id is a JSON column: a date is stored as {\"$d\": µs}):")
    sql = """SELECT make_timestamp((_id->>'$."$d"')::BIGINT) AS day, orders, revenue
             FROM revenue_per_day ORDER BY day"""
    for row in db.sql(sql).to_pylist():
        print("  ", row)

    drop_view(db, "revenue_per_day")
    print("\nafter drop_view:", list_views(db), "- orders still hold", orders.count(), "documents")
    db.close()
