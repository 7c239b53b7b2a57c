"""Commands of the `shipper` CLI other than `run`, each in a module of its own."""
