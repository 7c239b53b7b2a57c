"""Per-file document fields: names from the path, pod metadata, and the file's options."""
