"""Helpers every network client of the agent shares (Elasticsearch, Kubernetes API).

Sinks and transforms both import from here, never from each other. Each module is
imported on its own: `backoff` and `urls` stay free of httpx, so the light commands
(`check-config`, `version`) can use them.
"""
