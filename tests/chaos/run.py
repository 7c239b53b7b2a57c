"""One chaos run: the node writes and rotates, the plan's faults and kills happen on time,
then the agent catches up, stops, and everything written is counted against what arrived.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.chaos.agent import Supervisor
from tests.chaos.kubelet import Container, Node
from tests.chaos.plan import DELIVERY_MARGIN, Event, Plan
from tests.chaos.tally import Tally, count
from tests.fakes.elasticsearch import FakeElasticsearch

TICK = 0.05  # the writer's pace: records due are written every tick
SAMPLE_EVERY = 0.5  # RSS and /metrics
QUIET_FOR = 3.0  # caught up: nothing left to read or deliver for this long


@dataclass
class Result:
    seed: int
    tally: Tally
    from_gz: int | None
    peak_rss_mib: float
    max_lag_bytes: int
    rotations: int
    compressed: int
    kills: int
    at_risk: int  # records kubelet removed sooner than DELIVERY_MARGIN: a fair plan has 0
    agent_exit: int
    catch_up_seconds: float

    def line(self) -> str:
        """The one summary line."""
        t = self.tally
        from_gz = "?" if self.from_gz is None else str(self.from_gz)
        line = (
            f"chaos seed={self.seed} written={t.written} delivered={t.delivered} lost={t.lost}"
            f" doubled={t.doubled} corrupted={t.corrupted} from_gz={from_gz}"
            f" peak_rss_mib={self.peak_rss_mib:.1f} max_lag_bytes={self.max_lag_bytes}"
            f" rotations={self.rotations} gzipped={self.compressed} kills={self.kills}"
            f" at_risk={self.at_risk}"
            f" catch_up_s={self.catch_up_seconds:.1f}"
        )
        if t.lost:
            line += " lost_in=" + ",".join(f"{k}:{n}" for k, n in sorted(t.lost_in.items()))
        if self.agent_exit:
            line += f" agent_exit={self.agent_exit}"
        return line


def run(plan: Plan, workdir: Path, say: Callable[[str], None] = lambda _: None) -> Result:
    """Run `plan` with its files, state and agent log under `workdir` (kept afterwards)."""
    config = plan.config
    rng = random.Random(plan.seed)
    node = Node(workdir / "node", config.containers, rng, config.weights, config.record_size)
    with FakeElasticsearch() as es:
        env = {
            "SHIPPER_PATHS": str(workdir / "node/var/log/containers/*.log"),
            "SHIPPER_STATE_DIR": str(workdir / "state"),
            "SHIPPER_ES_HOSTS": es.url,
            "SHIPPER_BUFFER_MAX_BYTES": config.buffer,
            "SHIPPER_RETRY_MAX_BACKOFF": config.max_backoff,
            "SHIPPER_KUBERNETES": "off",
            **dict(config.agent_env),
        }
        agent = Supervisor(env, workdir / "agent.log")
        try:
            agent.start()
            at_risk = _write_through(plan, node, es, agent, say)
            caught_up = _catch_up(node, es, agent, config.catch_up)
            say(f"caught up after {caught_up:.1f} s; stopping the agent")
            agent_exit = agent.stop()
        finally:
            agent.close()
            node.close()
        documents = es.documents().values()
        containers = node.containers.values()
        tally, arrived = count(
            {c.index: c.written for c in containers},
            {c.index: c.pod for c in containers},
            config.record_size,
            documents,
        )
    for c in containers:
        seen = arrived[c.index]
        for seq in (s for s in range(c.written) if not seen[s]):
            tally.lost_in[c.fate_of(seq)] += 1
    return Result(
        seed=plan.seed,
        tally=tally,
        from_gz=agent.from_gz,
        peak_rss_mib=agent.peak_rss_kib / 1024,
        max_lag_bytes=agent.max_lag_bytes,
        rotations=node.rotations,
        compressed=node.compressed,
        kills=agent.kills,
        at_risk=at_risk,
        agent_exit=agent_exit,
        catch_up_seconds=caught_up,
    )


def _write_through(
    plan: Plan, node: Node, es: FakeElasticsearch, agent: Supervisor, say: Callable[[str], None]
) -> int:
    """The writing phase: records at the plan's rate, rotation checks, and the plan's
    events on time; the agent restarted `restart_after` each kill. Returns how many
    records kubelet removed (every copy) before an agent that keeps up had delivered
    them, by the plan's clock (what the plan should never do)."""
    config = plan.config
    events = list(plan.events)
    ended: dict[float, Container] = {}
    start = time.monotonic()
    next_check = config.rotate_check
    next_sample = 0.0
    restart_at: float | None = None
    at_risk = 0
    while (elapsed := time.monotonic() - start) < config.duration:
        while events and events[0].at <= elapsed:
            event = events.pop(0)
            if event.action == "kill" and agent.alive:
                say(f"{elapsed:6.1f} s kill")
                agent.kill()
                restart_at = elapsed + config.restart_after
            else:
                _apply(event, node, es, ended, say, elapsed)
        if restart_at is not None and elapsed >= restart_at:
            agent.start()
            restart_at = None
        node.write(int(config.rate * elapsed) - node.written_total, elapsed)
        if elapsed >= next_check:
            node.check_rotation(config.rotate_bytes, config.max_files)
            next_check += config.rotate_check
        for _, first, end, last_write in node.take_removed():
            if elapsed < plan.deliverable(last_write) + DELIVERY_MARGIN:
                at_risk += end - first
        if elapsed >= next_sample:
            agent.sample()
            next_sample += SAMPLE_EVERY
        time.sleep(max(0.0, TICK - (time.monotonic() - start - elapsed)))
    for fault in ("outage_off", "reject_off", "slow_off"):  # none outlives the writing
        _apply(Event(0.0, fault), node, es, ended, say, config.duration)
    if not agent.alive:
        agent.start()
    return at_risk


def _apply(
    event: Event,
    node: Node,
    es: FakeElasticsearch,
    ended: dict[float, Container],
    say: Callable[[str], None],
    elapsed: float,
) -> None:
    """One fault switched, or one pod ended or garbage-collected."""
    action = event.action
    if action in ("outage_on", "outage_off"):
        es.set_outage(action == "outage_on", 503)
    elif action in ("reject_on", "reject_off"):
        fraction = event.value if action == "reject_on" else 0.0
        es.set_item_rejections(fraction, 429, seed=int(event.at * 1000))
    elif action in ("slow_on", "slow_off"):
        es.set_delay(event.value if action == "slow_on" else 0.0)
    elif action == "churn":
        ended[event.at] = node.churn(int(event.value))
    elif action == "gc":
        gone = ended.pop(event.value, None)
        if gone is not None:
            gone.remove()
    say(f"{elapsed:6.1f} s {action} {event.value:g}")


def _catch_up(node: Node, es: FakeElasticsearch, agent: Supervisor, limit: float) -> float:
    """Wait until every record written arrived, or the agent has had nothing left to read
    or deliver for QUIET_FOR, or `limit` passed; the seconds waited."""
    start = time.monotonic()
    written = node.written_total
    last_count, quiet_since = -1, start
    while (now := time.monotonic()) - start < limit:
        arrived = es.count()
        if arrived >= written:
            break
        values = agent.sample()
        idle = values is not None and not values.get("shipper_lag_bytes", 1)
        idle = idle and values is not None and not values.get("shipper_buffer_bytes", 1)
        if not idle or arrived != last_count:
            quiet_since = now
        elif now - quiet_since >= QUIET_FOR:
            break
        last_count = arrived
        es.wait_for(lambda es, seen=arrived: es.count() != seen, timeout=0.25)
    return time.monotonic() - start
