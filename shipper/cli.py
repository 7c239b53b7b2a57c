"""The `shipper` command: run, check-config, replay-dead-letter, version."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import re
import sys
from collections.abc import Callable

from shipper import __version__
from shipper.config import ConfigError, RunFlags, explain, ignored_variables, load_settings
from shipper.config.table import TABLE
from shipper.preflight import check_startup
from shipper.settings import Output, Settings

_BAD_CONFIG = 2
_CONNECT_FAILED = 1

# The variables most setups touch, by topic, with a short meaning; their defaults come from
# the configuration table. The README lists all of them.
_HELP_VARIABLES: dict[str, list[tuple[str, str]]] = {
    "input": [
        ("SHIPPER_PATHS", "comma-separated globs to tail"),
        ("SHIPPER_EXCLUDE_PATHS", "globs to skip"),
        ("SHIPPER_READ_FROM", "head or tail: where a file without a position starts"),
        ("SHIPPER_STATE_DIR", "positions and dead-letter file"),
    ],
    "output": [
        ("SHIPPER_OUTPUT", "elasticsearch (when hosts are set), stdout, file:PATH"),
        ("SHIPPER_ES_HOSTS", "https://es-0:9200,https://es-1:9200 (user:pass@ accepted)"),
        ("SHIPPER_ES_USER", "basic auth user; SHIPPER_ES_PASSWORD its password"),
        ("SHIPPER_ES_API_KEY", "API key (instead of a user)"),
        ("SHIPPER_ES_CA_FILE", "PEM CA of the cluster"),
        ("SHIPPER_ES_INDEX", "index name; {a.b} inserts a field"),
        ("SHIPPER_ES_TEMPLATE", "install: put an index template at start"),
    ],
    "Kubernetes": [
        ("SHIPPER_KUBERNETES", "auto (on inside a cluster), on, off"),
        ("SHIPPER_KUBE_URL", "API server; default from KUBERNETES_SERVICE_HOST"),
        ("SHIPPER_KUBE_TOKEN_FILE", "service-account token"),
        ("NODE_NAME", "this node (downward API): only its pods are watched"),
    ],
    "node logs": [
        ("SHIPPER_JOURNAL_UNITS", "journal units to ship (empty: none)"),
        ("SHIPPER_JOURNAL_PATHS", "journal directories"),
    ],
    "limits": [
        ("SHIPPER_MAX_RECORD_BYTES", "longer records are cut and marked"),
        ("SHIPPER_BATCH_MAX_BYTES", "one bulk request at most"),
        ("SHIPPER_FLUSH_INTERVAL", "a partial batch waits at most this long"),
        ("SHIPPER_CONCURRENCY", "bulk requests in flight"),
        ("SHIPPER_BUFFER_MAX_BYTES", "read but unacknowledged bytes in memory"),
        ("SHIPPER_ONCE_RETRY_TIMEOUT", "--once gives up delivering after this"),
    ],
    "observability": [
        ("SHIPPER_METRICS_ADDR", "/metrics, /healthz, /readyz (port 0: any)"),
        ("SHIPPER_LOG_LEVEL", "debug, info, warning, error"),
        ("SHIPPER_LOG_FORMAT", "json, or text (the default on a terminal)"),
    ],
}


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run the subcommand, return the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return _BAD_CONFIG
    return handler(args)


def _run(args: argparse.Namespace) -> int:
    settings = _load(args)
    if settings is None:
        return _BAD_CONFIG
    found = check_startup(settings, keep_state_dir=True)
    _print_errors(found.errors)
    if found.errors:
        return _BAD_CONFIG
    from shipper.agent import run_agent  # lazy: `version` and `check-config` stay light
    from shipper.observe.logging import setup_logging

    setup_logging(settings.observe.log_level, settings.observe.log_format)
    for warning in found.warnings:
        logging.getLogger("shipper.cli").warning(warning)
    return run_agent(settings)


def _check_config(args: argparse.Namespace) -> int:
    settings = _load(args)
    if settings is None:
        return _BAD_CONFIG
    for line in explain(os.environ, _flags(args), terminal=sys.stderr.isatty()):
        print(f"{line.variable} = {_show(line.value)}  ({line.source})")
    for note in ignored_variables(os.environ):
        print(f"note: {note}")
    found = check_startup(settings, keep_state_dir=False)
    for warning in found.warnings:
        print(f"shipper: warning: {warning}", file=sys.stderr)
    _print_errors(found.errors)
    if found.errors:
        return _BAD_CONFIG
    if args.connect:
        from shipper.connect import check_connections

        return 0 if check_connections(settings) else _CONNECT_FAILED
    return 0


def _replay_dead_letter(args: argparse.Namespace) -> int:
    settings = _load(args)
    if settings is None:
        return _BAD_CONFIG
    from shipper.commands.replay import replay_dead_letter

    return replay_dead_letter(settings.sink, args.file or settings.tail.dead_letter_path)


def _version(args: argparse.Namespace) -> int:
    print(f"shipper {__version__}")
    return 0


def _flags(args: argparse.Namespace) -> RunFlags:
    return RunFlags(
        paths=tuple(getattr(args, "path", None) or ()),
        exclude_paths=tuple(getattr(args, "exclude", None) or ()),
        state_dir=args.state_dir,
        output=getattr(args, "output", None),
        es_hosts=tuple(args.es or ()),
        once=getattr(args, "once", False),
    )


def _load(args: argparse.Namespace) -> Settings | None:
    """Settings from the environment and the flags; None after printing the errors."""
    try:
        return load_settings(os.environ, _flags(args), terminal=sys.stderr.isatty())
    except ConfigError as exc:
        _print_errors(exc.errors)
        return None


def _print_errors(errors: list[str]) -> None:
    for error in errors:
        print(f"shipper: config error: {error}", file=sys.stderr)


def _show(value: object) -> str:
    """One value as check-config prints it: JSON, so "" and unset stay distinct."""
    if isinstance(value, Output):
        value = str(value)
    return json.dumps(value, ensure_ascii=False, default=_plain)


def _plain(value: object) -> object:
    """A rule (SHIPPER_FILTERS, ...) as JSON: its fields that are set, patterns as written."""
    if isinstance(value, re.Pattern):
        return value.pattern
    if isinstance(value, frozenset):
        return sorted(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        items = ((f.name, getattr(value, f.name)) for f in dataclasses.fields(value))
        return {name: item for name, item in items if item not in (None, (), frozenset())}
    raise TypeError(f"{type(value).__name__} cannot be shown")


def help_variables() -> dict[str, list[tuple[str, str, str]]]:
    """The variables `--help` lists, by topic: name, default (from the table), meaning."""
    defaults = {variable.name: variable.default for variable in TABLE}
    return {
        group: [(name, defaults[name], meaning) for name, meaning in variables]
        for group, variables in _HELP_VARIABLES.items()
    }


def _variables_help() -> str:
    lines = ["environment variables (flags override them; check-config shows every value):"]
    for group, variables in help_variables().items():
        lines.append(f"  {group}:")
        for name, default, meaning in variables:
            shown = f"(default: {default})" if default else ""
            lines.append(f"    {name:<27} {meaning} {shown}".rstrip())
    lines.append("more: README.md, Configuration")
    return "\n".join(lines)


def _shared_flags() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The flags several commands take: where state and Elasticsearch are; what to read."""
    location = argparse.ArgumentParser(add_help=False)
    location.add_argument("--state-dir", metavar="DIR", help="positions and dead-letter file")
    location.add_argument(
        "--es", metavar="URL", action="append", help="Elasticsearch base URL (repeatable)"
    )
    pipeline = argparse.ArgumentParser(add_help=False)
    pipeline.add_argument("--path", metavar="GLOB", action="append", help="files to tail")
    pipeline.add_argument("--exclude", metavar="GLOB", action="append", help="files to skip")
    pipeline.add_argument("--output", metavar="elasticsearch|stdout|file:PATH")
    pipeline.add_argument(
        "--once", action="store_true", help="read every file to its end, deliver, exit"
    )
    return location, pipeline


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shipper",
        description="Kubernetes node log agent: container logs to Elasticsearch.",
        epilog=_variables_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"shipper {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    location, pipeline = _shared_flags()

    run = commands.add_parser(
        "run",
        parents=[location, pipeline],
        help="run the agent",
        epilog=_variables_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.set_defaults(handler=_run)
    check = commands.add_parser(
        "check-config",
        parents=[location, pipeline],
        help="print the effective configuration and where each value came from, or the "
        "problems (exit 2)",
    )
    check.add_argument(
        "--connect",
        action="store_true",
        help="also reach Elasticsearch and the Kubernetes API (exit 1 when one fails)",
    )
    check.set_defaults(handler=_check_config)
    replay = commands.add_parser(
        "replay-dead-letter", parents=[location], help="re-send dead-lettered documents"
    )
    replay.add_argument("file", nargs="?", metavar="FILE", help="default: in the state dir")
    replay.set_defaults(handler=_replay_dead_letter)
    version = commands.add_parser("version", help="print the version")
    version.set_defaults(handler=_version)
    return parser
