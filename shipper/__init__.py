"""shipper: a Kubernetes node log agent."""

__version__ = "0.1.0"
