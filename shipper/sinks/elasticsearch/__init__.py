"""The Elasticsearch sink: documents to `_bulk` requests, acknowledged once stored.

- sink.py: `ElasticsearchSink`, the Sink the pipeline talks to; starts the workers.
- batching.py: blocks of documents into batches, cut on size, count or time.
- delivery.py: the workers: one `_bulk` request at a time, acks and dead letters.
- policy.py: when a failed request goes again, is split, or is given up (no I/O).
- bulk.py: action lines, request bodies, and reading `_bulk` answers.
- client.py: the HTTP client (auth, TLS) and start-up probes.
- sigv4.py, aws_credentials.py: AWS SigV4 signing and its credentials (Amazon OpenSearch).
- distribution.py: Elasticsearch or OpenSearch, and which version, from `GET /`.
- hosts.py: spreading requests over SHIPPER_ES_HOSTS, resting the ones that fail.
- index_name.py: SHIPPER_ES_INDEX patterns rendered per document.
- data_stream.py: SHIPPER_ES_DATA_STREAM names, in place of SHIPPER_ES_INDEX.
- template.py: installing the index template (SHIPPER_ES_TEMPLATE).
- target_template.py: the template fitted to the engine, data stream, policy and schema.

Nothing is imported here, so `bulk` (which the dead-letter file uses) stays light.
"""
