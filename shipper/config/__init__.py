"""Configuration: the environment and the `run` flags -> one validated `Settings`.

`table/` declares every setting once; `load` reads them by it; `readme` renders the
README's table from it. This module only re-exports.
"""

from shipper.config.addresses import split_host_port
from shipper.config.load import (
    ConfigError,
    Explained,
    RunFlags,
    explain,
    known_variables,
    load_settings,
)
from shipper.config.notes import ignored_variables

__all__ = [
    "ConfigError",
    "Explained",
    "RunFlags",
    "explain",
    "ignored_variables",
    "known_variables",
    "load_settings",
    "split_host_port",
]
