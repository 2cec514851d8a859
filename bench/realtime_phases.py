"""The measurements: latency at a socket count, the fan-out ramp, claim races, memory.

Every loop is bounded by a count and a deadline. Events are fired open-loop
on a schedule (the next trigger never waits for the previous answer), and a
frame's latency is its arrival on a client socket minus the moment its
trigger was sent.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from bench.cpu import group_cpu, machine_busy
from bench.loadgen import percentile
from bench.progress import say
from bench.realtime_fleet import Arrival, Fleet
from bench.realtime_targets import Fired, Target

P99_LIMIT_MS = 100.0


def summary(values: list[float]) -> dict[str, float | None]:
    ordered = sorted(values)
    if not ordered:
        return {"p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None, "mean_ms": None}
    return {
        "p50_ms": round(percentile(ordered, 0.50), 2),
        "p90_ms": round(percentile(ordered, 0.90), 2),
        "p99_ms": round(percentile(ordered, 0.99), 2),
        "max_ms": round(ordered[-1], 2),
        "mean_ms": round(statistics.fmean(ordered), 2),
    }


class Meters:
    """CPU seconds of the servers, of this benchmark (with its fleet), and of the machine."""

    def __init__(self, target: Target) -> None:
        self.target = target

    def read(self) -> dict[str, float]:
        return {
            "server": sum(s.cpu_seconds() for s in self.target.servers),
            "client": group_cpu(os.getpgid(0)),
            "machine": machine_busy(),
        }

    @staticmethod
    def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        return {k: after[k] - before[k] for k in before}


async def open_loop(
    fire: Callable[[], Coroutine[Any, Any, Fired]], count: int, rate: float, time_limit: float
) -> list[Fired]:
    """`count` triggers at `rate` per second, not waiting for answers; stops at the limit."""
    start = time.perf_counter()
    tasks: list[asyncio.Task[Fired]] = []
    for n in range(count):
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if time.perf_counter() - start > time_limit:
            break
        tasks.append(asyncio.create_task(fire()))
    return list(await asyncio.gather(*tasks))


async def drain(fleet: Fleet, expected: int, within: float, settle: float = 1.5) -> int:
    """Wait until `expected` watched frames arrived, or none arrived for `settle` s."""
    deadline = time.perf_counter() + within
    seen, last_change = -1, time.perf_counter()
    while time.perf_counter() < deadline:
        now_seen = await fleet.watched()
        if now_seen >= expected:
            return now_seen
        if now_seen != seen:
            seen, last_change = now_seen, time.perf_counter()
        elif time.perf_counter() - last_change > settle:
            break
        await asyncio.sleep(0.05)
    return max(seen, 0)


async def connect(target: Target, fleet: Fleet, have: int, want: int) -> dict[str, Any]:
    """Grow the fleet from `have` to `want` sockets, then check every one is live."""
    started = time.perf_counter()
    failures = await fleet.connect(target.socket_specs(have, want - have))
    seconds = time.perf_counter() - started
    ready = await ensure_ready(target, fleet, want)
    say(f"    {want} sockets open in {seconds:.1f} s; live: {ready}")
    return {"failures": failures[:5], "failed": len(failures), "seconds": round(seconds, 2)}


async def ensure_ready(target: Target, fleet: Fleet, sockets: int, attempts: int = 10) -> bool:
    """A socket counts once it receives an event: the app subscribes after the handshake."""
    for _ in range(attempts):
        await fleet.collect()
        await fleet.watch(f'"{target.frame_type}"')
        fired = await target.fire()
        if fired.key is None:
            raise RuntimeError(f"{target.name}: the probe event failed: {fired.error}")
        got = await drain(fleet, sockets, within=10.0, settle=2.0)
        if got >= sockets:
            await fleet.collect()
            return True
        await asyncio.sleep(0.5)
    return False


@dataclass
class Latencies:
    frames: list[float] = field(default_factory=list)
    last_socket: list[float] = field(default_factory=list)  # per event
    # Split by whether the socket sits on the process that took the trigger
    # (local fan-out) or on another one (the event crossed Redis).
    local: list[float] = field(default_factory=list)
    remote: list[float] = field(default_factory=list)
    duplicates: int = 0


def _latencies(
    arrivals: list[Arrival], fired: list[Fired], frame_type: str, servers: int
) -> Latencies:
    sent = {f.key: f for f in fired if f.key is not None}
    per_event: dict[int, list[float]] = defaultdict(list)
    seen: set[tuple[int, int]] = set()
    out = Latencies()
    for a in arrivals:
        if a.type != frame_type or a.key not in sent:
            continue
        if (a.key, a.socket) in seen:
            out.duplicates += 1
            continue
        seen.add((a.key, a.socket))
        trigger = sent[a.key]
        ms = (a.t_ns - trigger.t_ns) / 1e6
        per_event[a.key].append(ms)
        (out.local if a.socket % servers == trigger.server else out.remote).append(ms)
    out.frames = [ms for values in per_event.values() for ms in values]
    out.last_socket = [max(values) for values in per_event.values()]
    return out


@dataclass
class Stretch:
    """One timed stretch of events, raw: what `figures` pools into percentiles."""

    sockets: int
    rate: float
    fired: list[Fired]
    lat: Latencies
    closed: int
    cpu: dict[str, float]
    seconds: float  # from the first trigger until the frames were in
    fired_seconds: float  # from the first trigger to the last


async def stretch(
    target: Target, fleet: Fleet, sockets: int, events: int, rate: float, time_limit: float
) -> Stretch:
    """Fire `events` at `rate`/s with `sockets` listening, and wait for the frames."""
    meters = Meters(target)
    await fleet.collect()
    await fleet.watch(f'"{target.frame_type}"')
    before = meters.read()
    started = time.perf_counter()
    fired = await open_loop(target.fire, events, rate, time_limit)
    fired_seconds = time.perf_counter() - started
    ok = [f for f in fired if f.key is not None]
    await drain(fleet, len(ok) * sockets, within=max(10.0, 2 * fired_seconds))
    arrivals, closed = await fleet.collect()
    cpu = Meters.delta(before, meters.read())
    lat = _latencies(arrivals, ok, target.frame_type, len(target.servers))
    seconds = time.perf_counter() - started
    return Stretch(sockets, rate, fired, lat, len(closed), cpu, seconds, fired_seconds)


def figures(parts: list[Stretch]) -> dict[str, Any]:
    """Percentiles over every frame of the stretches; CPU summed over them."""
    fired = [f for p in parts for f in p.fired]
    ok = [f for f in fired if f.key is not None]
    frames = [ms for p in parts for ms in p.lat.frames]
    cpu = {k: sum(p.cpu[k] for p in parts) for k in parts[0].cpu}
    seconds = sum(p.seconds for p in parts)
    fired_seconds = sum(p.fired_seconds for p in parts)
    sockets = parts[0].sockets
    return {
        "sockets": sockets,
        "events": len(fired),
        "events_ok": len(ok),
        "rate_per_s": round(parts[0].rate, 2),
        "achieved_rate_per_s": round(len(fired) / fired_seconds, 2) if fired_seconds else None,
        "frames_expected": len(ok) * sockets,
        "frames_received": len(frames),
        "duplicates": sum(p.lat.duplicates for p in parts),
        "sockets_closed": sum(p.closed for p in parts),
        **summary(frames),
        "last_socket": summary([ms for p in parts for ms in p.lat.last_socket]),
        "same_process": summary([ms for p in parts for ms in p.lat.local]),
        "other_process": summary([ms for p in parts for ms in p.lat.remote]),
        "trigger": summary([f.ms for f in ok]),
        "errors": [f.error for f in fired if f.error][:3],
        "error_count": sum(1 for f in fired if f.error),
        "cpu_s": {k: round(v, 3) for k, v in cpu.items()},
        "server_cpu_ms_per_event": round(1000 * cpu["server"] / max(len(ok), 1), 3),
        "server_cpu_us_per_delivery": round(1e6 * cpu["server"] / max(len(frames), 1), 2),
        "others_cpu_share": round(
            max(0.0, cpu["machine"] - cpu["server"] - cpu["client"]) / max(seconds, 1e-9), 2
        ),
    }


async def measure(
    target: Target, fleet: Fleet, sockets: int, events: int, rate: float, time_limit: float
) -> dict[str, Any]:
    return figures([await stretch(target, fleet, sockets, events, rate, time_limit)])


async def latency_rounds(
    pairs: list[tuple[Target, Fleet]], sockets: int, events: int, spacing_s: float, rounds: int
) -> dict[str, dict[str, Any]]:
    """The same stretch for each target in turn, `rounds` times, rotating who goes first.

    Drift on a shared machine then hits every target alike; the per-round
    p99s show how much the figure moved.
    """
    parts: dict[str, list[Stretch]] = {t.name: [] for t, _ in pairs}
    per_round = max(1, events // rounds)
    limit = per_round * spacing_s * 1.5 + 5
    for n in range(rounds):
        order = pairs[n % len(pairs) :] + pairs[: n % len(pairs)]
        for target, fleet in order:
            parts[target.name].append(
                await stretch(target, fleet, sockets, per_round, 1 / spacing_s, limit)
            )
    results = {}
    for target, _ in pairs:
        result = figures(parts[target.name])
        result["rounds_p99_ms"] = [summary(p.lat.frames)["p99_ms"] for p in parts[target.name]]
        result["rounds_p50_ms"] = [summary(p.lat.frames)["p50_ms"] for p in parts[target.name]]
        result["spacing_ms"] = round(1000 * spacing_s, 1)
        # Unsaturated: each event was mostly out before the next began.
        last = result["last_socket"]["p50_ms"]
        result["saturated"] = last is not None and last > 1000 * spacing_s
        say(
            f"    {target.name} at {sockets}: p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms "
            f"(rounds {result['rounds_p99_ms']}), "
            f"{result['frames_received']}/{result['frames_expected']} frames"
        )
        results[target.name] = result
    return results


def passes(step: dict[str, Any]) -> str | None:
    """Why a ramp step fails (None when it passes)."""
    if step["error_count"]:
        return f"{step['error_count']} triggers failed"
    if step["sockets_closed"]:
        return f"{step['sockets_closed']} sockets were closed"
    if step["frames_received"] < 0.999 * step["frames_expected"]:
        return f"only {step['frames_received']}/{step['frames_expected']} frames arrived"
    if step["p99_ms"] is None or step["p99_ms"] > P99_LIMIT_MS:
        return f"p99 {step['p99_ms']} ms > {P99_LIMIT_MS:.0f} ms"
    return None


async def ramp_phase(
    target: Target,
    fleet: Fleet,
    sockets: int,
    rates: list[float],
    step_seconds: float,
    min_events: int,
) -> dict[str, Any]:
    """Raise the event rate until p99 passes the limit; a failing step is tried once more."""
    steps: list[dict[str, Any]] = []
    best: dict[str, Any] | None = None
    stopped = "ran out of rates"
    for rate in rates:
        for attempt in (1, 2):
            events = max(min_events, round(rate * step_seconds))
            step = await measure(
                target, fleet, sockets, events, rate, time_limit=events / rate * 1.5 + 5
            )
            step["attempt"] = attempt
            step["failed_because"] = passes(step)
            steps.append(step)
            say(
                f"    ramp {rate:g}/s at {sockets}: p50 {step['p50_ms']} p99 {step['p99_ms']} ms"
                f"{'' if step['failed_because'] is None else ' - ' + step['failed_because']}"
            )
            if step["failed_because"] is None:
                break
            await drain(fleet, 1 << 62, within=15.0, settle=1.0)  # let a backlog clear
        if step["failed_because"] is not None:
            stopped = f"{rate:g} events/s: {step['failed_because']}"
            break
        best = step
    workers = len(target.servers)
    passing = [s for s in steps if s["failed_because"] is None]
    cpu_per_delivery = [s["server_cpu_us_per_delivery"] for s in passing] or [
        s["server_cpu_us_per_delivery"] for s in steps
    ]
    us = statistics.median(cpu_per_delivery) if cpu_per_delivery else None
    rate_ok = best["rate_per_s"] if best else 0.0
    return {
        "sockets": sockets,
        "workers": workers,
        "p99_limit_ms": P99_LIMIT_MS,
        "capacity_events_per_s": rate_ok,
        "deliveries_per_s": round(rate_ok * sockets, 1),
        "deliveries_per_s_per_worker": round(rate_ok * sockets / workers, 1),
        "server_cpu_us_per_delivery": us,
        # What one fully busy worker could deliver at that CPU cost.
        "cpu_bound_deliveries_per_s_per_worker": round(1e6 / us, 1) if us else None,
        "stopped_at": stopped,
        "steps": steps,
    }


async def memory_phase(
    target: Target, fleet: Fleet, rss_before: int, sockets: int
) -> dict[str, Any]:
    await asyncio.sleep(0.5)
    after = sum(s.rss_bytes() for s in target.servers)
    return {
        "sockets": sockets,
        "rss_before_mib": round(rss_before / 2**20, 1),
        "rss_after_mib": round(after / 2**20, 1),
        "kib_per_socket": round((after - rss_before) / 1024 / sockets, 1),
    }
