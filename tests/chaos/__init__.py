"""The chaos run of issue 12: kubelet-style writing, rotation with gzip-and-delete and pod
churn, against the real agent killed and restarted and a fake Elasticsearch that fails;
every record written is counted against what arrived. `python -m tests.chaos --help`.
"""
