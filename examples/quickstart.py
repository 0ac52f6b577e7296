"""Quick start: a blog in a local folder (./parquedb-data), the embedded default.

Run it twice: the second run finds the posts of the first, because every write is durable
as soon as its call returns.
"""

from datetime import UTC, datetime

import parquedb

with parquedb.connect() as db:  # ./parquedb-data, created if missing
    posts = db.posts

    hello = posts.create({"title": "Hello, Parquet", "status": "published", "views": 0,
                          "tags": ["intro", "parquet"], "author": {"name": "Ada", "country": "UK"}},
                         actor="users/ada")
    print("created", hello["$id"], "as", hello["$type"], "version", hello["version"])

    posts.create_many([
        {"title": f"Draft {i}", "status": "draft", "views": i * 10, "tags": ["draft"]}
        for i in range(5)
    ])

    posts.update(hello["$id"], {"$inc": {"views": 1}, "$addToSet": {"tags": "welcome"}})

    popular = posts.find({"status": "published", "views": {"$gte": 1}},
                         sort={"views": -1}, limit=10, project={"title": 1, "views": 1})
    print(f"{popular.total} published post(s) with views:", [p["title"] for p in popular])

    print("drafts:", posts.count({"status": "draft"}))

    # every change is an event: history and time travel come for free
    for event in posts.history(hello["$id"]):
        print(" ", event["op"], "-> version", event["version"], "by", event["actor"])
    before = posts.get(hello["$id"], as_of=hello["updatedAt"])
    print("views at creation:", before["views"], "now:", posts.get(hello["$id"])["views"])

    # atomic multi-document writes
    with db.transaction() as tx:
        tx.posts.update(hello["$id"], {"$set": {"status": "featured"}})
        tx.collection("audit").create({"action": "feature", "post": hello["$id"],
                                       "at": datetime.now(UTC)})

    print("collections:", db.list_collections())
    print("stored in", db.uri)
