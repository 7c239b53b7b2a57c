"""The `shipper` command: run, check-config, replay-dead-letter, version."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable

from shipper import __version__
from shipper.config import ConfigError, RunFlags, ignored_variables, load_settings
from shipper.settings import Output, Settings

_SECRET_FIELDS = frozenset({"es_password", "es_api_key"})
_BAD_CONFIG = 2


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
    from shipper.agent import run_agent  # lazy: `version` and `check-config` stay light

    return run_agent(settings)


def _check_config(args: argparse.Namespace) -> int:
    settings = _load(args)
    if settings is None:
        return _BAD_CONFIG
    for field in dataclasses.fields(Settings):
        print(f"{field.name} = {_show(field.name, getattr(settings, field.name))}")
    for note in ignored_variables(os.environ):
        print(f"note: {note}")
    return 0


def _replay_dead_letter(args: argparse.Namespace) -> int:
    settings = _load(args)
    if settings is None:
        return _BAD_CONFIG
    from shipper.sinks.replay import replay_dead_letter

    return replay_dead_letter(settings, args.file or settings.dead_letter_path)


def _version(args: argparse.Namespace) -> int:
    print(f"shipper {__version__}")
    return 0


def _load(args: argparse.Namespace) -> Settings | None:
    """Settings from the environment and the flags; None after printing the errors."""
    flags = RunFlags(
        paths=tuple(getattr(args, "path", None) or ()),
        exclude_paths=tuple(getattr(args, "exclude", None) or ()),
        state_dir=args.state_dir,
        output=getattr(args, "output", None),
        es_hosts=tuple(args.es or ()),
        once=getattr(args, "once", False),
    )
    try:
        return load_settings(os.environ, flags)
    except ConfigError as exc:
        for error in exc.errors:
            print(f"shipper: config error: {error}", file=sys.stderr)
        return None


def _show(name: str, value: object) -> str:
    """One value as check-config prints it: JSON, so "" and unset stay distinct; secrets hidden."""
    if name in _SECRET_FIELDS and value is not None:
        return "***"
    if isinstance(value, Output):
        value = str(value)
    return json.dumps(value, ensure_ascii=False)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shipper", description="Kubernetes node log agent: container logs to Elasticsearch."
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

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

    run = commands.add_parser("run", parents=[location, pipeline], help="run the agent")
    run.set_defaults(handler=_run)
    check = commands.add_parser(
        "check-config",
        parents=[location, pipeline],
        help="print the effective configuration, or the errors (exit 2)",
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
