"""`python -m tests.chaos --seed 1`: issue 12's chaos run; prints one line, exits 0 only
when nothing was lost, doubled or corrupted (and the peak RSS is under --max-rss-mib)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

from tests.chaos.plan import FULL, SHORT, make_plan
from tests.chaos.run import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--short", action="store_true", help="the CI variant's plan")
    parser.add_argument("--duration", type=float, help="seconds of writing")
    parser.add_argument("--containers", type=int, help="containers running at a time")
    parser.add_argument("--rate", type=int, help="records per second, all together")
    parser.add_argument("--kills", type=int, help="SIGKILLs of the agent")
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", help="an agent setting"
    )
    parser.add_argument("--max-rss-mib", type=float, help="fail when the agent's peak is above")
    parser.add_argument("--keep", type=Path, help="keep the node's files and agent.log here")
    parser.add_argument("-v", "--verbose", action="store_true", help="narrate on stderr")
    args = parser.parse_args(argv)
    config = SHORT if args.short else FULL
    changes: dict[str, object] = {
        name: getattr(args, name)
        for name in ("duration", "containers", "rate", "kills")
        if getattr(args, name) is not None
    }
    if args.kills is not None:
        changes["kills_in_outages"] = min(config.kills_in_outages, args.kills)
    settings = [tuple(each.split("=", 1)) for each in args.set]
    if any(len(each) != 2 for each in settings):
        parser.error("--set takes NAME=VALUE")
    changes["agent_env"] = config.agent_env + tuple(settings)
    plan = make_plan(dataclasses.replace(config, **changes), args.seed)

    def say(what: str) -> None:
        if args.verbose:
            print(f"{time.strftime('%H:%M:%S')} {what}", file=sys.stderr, flush=True)

    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=False)
        result = run(plan, args.keep, say)
    else:
        with tempfile.TemporaryDirectory(prefix="chaos-") as tmp:
            result = run(plan, Path(tmp), say)
    print(result.line(), flush=True)
    for example in result.tally.examples:
        say(example)
    too_big = args.max_rss_mib is not None and result.peak_rss_mib > args.max_rss_mib
    return 0 if result.tally.exact and not too_big else 1


if __name__ == "__main__":
    sys.exit(main())
