"""Bytes to records: kubelet's CRI and docker json-file formats, partial lines joined."""
