"""The document model: entity ids and system fields, values and their exact encoding, dotted
paths, and MongoDB's type system (``bson``)."""
