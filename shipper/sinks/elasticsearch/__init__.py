"""The Elasticsearch sink: documents to `_bulk` requests, acknowledged once stored."""
