"""The node logs' variables: the journal (its units, directories, index) and node files."""

from __future__ import annotations

from shipper.config.derived.node_logs import journal_units
from shipper.config.parsers import directories, index_pattern, optional_globs
from shipper.config.table.variable import Variable
from shipper.settings import JOURNAL_UNITS, NODE_LOG_PATHS

NODE_LOGS = (
    Variable(
        "SHIPPER_JOURNAL_UNITS",
        "journal_units",
        "systemd units whose journal entries are shipped (see Node logs); empty turns the "
        "journal source off, as the image's `FLUENTD_SYSTEMD_CONF=disable` does",
        default=",".join(JOURNAL_UNITS),
        compat=("FLUENTD_SYSTEMD_CONF",),
        resolve=journal_units,
    ),
    Variable(
        "SHIPPER_JOURNAL_PATHS",
        "journal_paths",
        "journal directories, each read by its own `journalctl`; one that is missing or "
        "empty is looked at again every 5 s",
        directories,
        default="/var/log/journal,/run/log/journal",
    ),
    Variable(
        "SHIPPER_JOURNAL_INDEX",
        "journal_index",
        "index of the journal's documents, same syntax as `SHIPPER_ES_INDEX` (strftime on "
        "`@timestamp`); unset, `SHIPPER_ES_INDEX`",
        index_pattern,
    ),
    Variable(
        "SHIPPER_NODE_LOG_PATHS",
        "node_log_paths",
        "comma-separated globs of the node's own log files (see Node logs), by default the "
        "image's list; empty turns them off",
        optional_globs,
        default=",".join(NODE_LOG_PATHS),
        empty_counts=True,
    ),
)
