"""The Elasticsearch sink: documents to `_bulk` requests, acknowledged once stored.

- sink.py: `ElasticsearchSink`, the Sink the pipeline talks to; starts the workers.
- batching.py: blocks of documents into batches, cut on size, count or time.
- delivery.py: the workers: one `_bulk` request at a time, acks and dead letters.
- policy.py: when a failed request goes again, is split, or is given up (no I/O).
- bulk.py: action lines, request bodies, and reading `_bulk` answers.
- client.py: the HTTP client (auth, TLS) and start-up probes.
- hosts.py: spreading requests over SHIPPER_ES_HOSTS, resting the ones that fail.
- index_name.py: SHIPPER_ES_INDEX patterns rendered per document.
- template.py: installing the index template (SHIPPER_ES_TEMPLATE).

Nothing is imported here, so `bulk` (which the dead-letter file uses) stays light.
"""
