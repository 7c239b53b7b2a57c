"""The tail source's variables: which files, where reading starts, how records are cut."""

from __future__ import annotations

from shipper.config.parsers import choice, duration_at_least, glob_list, globs, size_at_least, text
from shipper.config.table.variable import Variable
from shipper.units import parse_duration

TAIL = (
    Variable(
        "SHIPPER_PATHS",
        "paths",
        "comma-separated globs to tail",
        globs,
        default="/var/log/containers/*.log",
        compat=("FLUENT_CONTAINER_TAIL_PATH",),
        flag="--path",
    ),
    Variable(
        "SHIPPER_EXCLUDE_PATHS",
        "exclude_paths",
        "comma-separated globs or a JSON array of files to skip. The agent's own pod "
        "(`POD_NAME`, `POD_NAMESPACE`) is always excluded",
        glob_list,
        compat=("FLUENT_CONTAINER_TAIL_EXCLUDE_PATH",),
        flag="--exclude",
    ),
    Variable(
        "SHIPPER_READ_FROM",
        "read_from",
        "`head` or `tail`: where a file with no saved position starts at startup (later "
        "files always start at 0). On its very first start (no positions at all) the agent "
        "with `head` also reads the plain rotated copies next to each match (never the `.gz` "
        "history)",
        choice("head", "tail"),
        default="head",
    ),
    Variable(
        "SHIPPER_STATE_DIR",
        "state_dir",
        "`positions.json` and `dead-letter.ndjson`",
        text,
        default="/var/lib/shipper",
        flag="--state-dir",
    ),
    Variable(
        "SHIPPER_MAX_RECORD_BYTES",
        "max_record_bytes",
        'longer records (after joining) are cut and marked `"log_truncated": true`; at least '
        "`1KiB`",
        size_at_least("1KiB"),
        default="1MiB",
    ),
    Variable(
        "SHIPPER_ROTATE_WAIT",
        "rotate_wait",
        "keep reading a rotated-away file this long after its last growth (never before it "
        "is read to its end)",
        parse_duration,
        default="5s",
    ),
    Variable(
        "SHIPPER_SCAN_INTERVAL",
        "scan_interval",
        "rescan of the globs, besides file-system events (1 s when inotify is unavailable); "
        "at least `100ms`",
        duration_at_least("100ms"),
        default="10s",
    ),
    Variable(
        "POD_NAME",
        "pod_name",
        "the agent's own pod, from the downward API: its logs are never read",
        text,
    ),
    Variable(
        "POD_NAMESPACE",
        "pod_namespace",
        "the agent's own namespace, from the downward API (with `POD_NAME`)",
        text,
    ),
)
