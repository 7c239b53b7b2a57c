"""Drop and keep rules and rate limits, per namespace, pod and container."""
