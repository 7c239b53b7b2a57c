"""Pod metadata from the Kubernetes API: the provider and the metadata it hands out."""

from shipper.transforms.kubernetes.metadata import PodMetadata
from shipper.transforms.kubernetes.provider import KubernetesMetadata

__all__ = ["KubernetesMetadata", "PodMetadata"]
