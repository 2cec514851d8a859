"""Webhook ingest benchmark: the app's signed webhooks beside a raw insert + publish floor.

    python -m bench.webhook_ingest            # full run, about 10 minutes
    python -m bench.webhook_ingest --quick    # about 3 minutes

Both servers run side by side, each with agent sockets subscribed, and are
driven by the same open-loop generator (bench.webhook_load, its own process)
in alternating turns: offered rates of 100, 500 and 1,000 deliveries/s, a
search for the highest rate that keeps p99 within the limit, and a closed
loop for saturation throughput. Results: bench/results/webhook-ingest.md and
.json (webhook-ingest-quick.* for --quick).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import realtime_baseline
from bench.cpu import machine_busy
from bench.entry import results_path, run_and_report
from bench.machine import describe
from bench.progress import say
from bench.realtime_fleet import Fleet, SocketSpec
from bench.realtime_infra import Proc, Processes, start_app, start_module
from bench.realtime_seed import Seeded, prepare, remove_sqlite, sqlite_path
from bench.webhook_load import Generator, Plan
from bench.webhook_report import render

TELEGRAM_SECRET = "webhook-bench-telegram-secret-token"
TARGET_RATIO = 0.3
WATCH = '"message.created"'
# Every run's update ids and customer ids start at a new multiple of this.
_ID_SPACE = 10_000_000


@dataclass(frozen=True)
class Options:
    channel: str
    rates: tuple[float, ...]
    seconds: float
    rounds: int
    search_seconds: float
    search_steps: int
    max_rate: float
    p99_limit_ms: float
    saturation_seconds: float
    saturation_in_flight: int
    max_in_flight: int
    sockets: int
    new_share: float
    quick: bool


@dataclass
class Side:
    """One server under test: the app or the floor, its sockets, its customers so far."""

    name: str
    proc: Proc
    path: str
    secret: str
    fleet: Fleet
    customer_base: int
    known_customers: int = 0
    runs: list[dict[str, Any]] = field(default_factory=list)


async def _app(procs: Processes, opts: Options) -> tuple[Proc, Seeded]:
    seeded = await prepare(
        "sqlite", opts.sockets, pg_dsn="", name="webhook-app", telegram_secret=TELEGRAM_SECRET
    )
    return await start_app(procs, "webhook-app", seeded.database_url, None, "in-memory"), seeded


async def _floor(procs: Processes) -> Proc:
    path = sqlite_path("webhook-floor")
    remove_sqlite(path)
    await realtime_baseline.prepare(str(path))
    return await start_module(procs, "webhook-floor", "bench.webhook_floor", "--db", str(path))


def _ws(proc: Proc, path: str) -> str:
    return proc.base_url.replace("http://", "ws://", 1) + path


async def start_sides(procs: Processes, opts: Options) -> list[Side]:
    app, seeded = await _app(procs, opts)
    floor = await _floor(procs)
    if opts.channel == "telegram":
        app_path, secret = f"/webhooks/telegram/{seeded.telegram_inbox_id}", TELEGRAM_SECRET
    else:
        app_path, secret = f"/webhooks/api/{seeded.inbox_id}", seeded.secret
    sides = [
        Side("app", app, app_path, secret, Fleet(1), 1 * _ID_SPACE),
        Side("floor", floor, "/ingest", secret, Fleet(1), 2 * _ID_SPACE),
    ]
    app_specs = [
        (i, _ws(app, "/api/v1/stream"), {"Authorization": f"Bearer {seeded.tokens[i]}"})
        for i in range(opts.sockets)
    ]
    floor_specs: list[SocketSpec] = [(i, _ws(floor, "/ws"), {}) for i in range(opts.sockets)]
    for side, specs in zip(sides, (app_specs, floor_specs), strict=True):
        failures = await side.fleet.connect(specs)
        if failures:
            raise RuntimeError(f"{side.name}: sockets failed: {failures[:3]}")
    return sides


class Bench:
    def __init__(self, opts: Options, generator: Generator) -> None:
        self.opts = opts
        self.generator = generator
        self._runs = itertools.count(3)

    async def measure(
        self, side: Side, rate: float | None, seconds: float, phase: str
    ) -> dict[str, Any]:
        """One run of the generator against `side`, with the server's CPU and its sockets'
        frames: every stored message should reach every socket."""
        opts = self.opts
        plan = Plan(
            port=int(side.proc.base_url.rsplit(":", 1)[1]),
            path=side.path,
            channel=opts.channel,
            secret=side.secret,
            rate=rate,
            seconds=seconds,
            max_in_flight=opts.saturation_in_flight if rate is None else opts.max_in_flight,
            new_share=opts.new_share,
            first_id=next(self._runs) * _ID_SPACE,
            customer_base=side.customer_base,
            known_customers=side.known_customers,
            drain_seconds=max(120.0, seconds * 12),
        )
        await side.fleet.watch(WATCH)
        cpu0, busy0, t0 = side.proc.cpu_seconds(), machine_busy(), time.perf_counter()
        result = await self.generator.run(plan)
        elapsed = time.perf_counter() - t0
        cpu, busy = side.proc.cpu_seconds() - cpu0, machine_busy() - busy0
        side.known_customers += result.pop("new_customers")
        expected = result["ok"] * opts.sockets
        frames = await _frames(side.fleet, expected)
        await side.fleet.collect()  # frees what the sockets kept
        result.update(
            side=side.name,
            phase=phase,
            server_cpu_ms_per_delivery=round(cpu * 1000 / max(result["ok"], 1), 3),
            server_cpu_share=round(cpu / elapsed, 3),
            machine_busy_share=round(busy / elapsed / (os.cpu_count() or 1), 3),
            frames_expected=expected,
            frames_seen=frames,
        )
        side.runs.append(result)
        rate_text = "closed loop" if rate is None else f"{rate:>6.0f}/s"
        say(
            f"  {phase:<10} {side.name:<5} {rate_text}: offered {result['offered_per_s']:.0f}/s,"
            f" done {result['throughput_per_s']:.0f}/s, p50 {result['p50_ms']} ms,"
            f" p99 {result['p99_ms']} ms, errors {result['errors']},"
            f" frames {frames}/{expected}, server CPU {result['server_cpu_share']:.0%}"
        )
        return result

    def passes(self, result: dict[str, Any]) -> bool:
        p99 = result["p99_ms"]
        return result["errors"] == 0 and p99 is not None and p99 <= self.opts.p99_limit_ms

    def generator_kept_up(self, result: dict[str, Any]) -> bool:
        rate = result["rate"]
        return rate is None or result["offered_per_s"] >= 0.95 * rate


async def _frames(fleet: Fleet, expected: int, within: float = 30.0, settle: float = 2.0) -> int:
    """Frames seen so far, once all `expected` arrived or none came for `settle` s."""
    deadline = time.perf_counter() + within
    seen, changed = -1, time.perf_counter()
    while time.perf_counter() < deadline:
        now_seen = await fleet.watched()
        if now_seen >= expected:
            return now_seen
        if now_seen != seen:
            seen, changed = now_seen, time.perf_counter()
        elif time.perf_counter() - changed > settle:
            break
        await asyncio.sleep(0.1)
    return max(seen, 0)


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of each figure over rounds (errors summed)."""
    out: dict[str, Any] = {"rounds": len(runs), "errors": sum(r["errors"] for r in runs)}
    for key in (
        "offered_per_s",
        "throughput_per_s",
        "p50_ms",
        "p90_ms",
        "p99_ms",
        "max_ms",
        "send_lag_p99_ms",
        "server_cpu_ms_per_delivery",
        "server_cpu_share",
        "machine_busy_share",
        "generator_cpu_share",
    ):
        values = [r[key] for r in runs if r.get(key) is not None]
        out[key] = round(statistics.median(values), 2) if values else None
    out["frames_seen"] = sum(r["frames_seen"] for r in runs)
    out["frames_expected"] = sum(r["frames_expected"] for r in runs)
    out["first_error"] = next((r["first_error"] for r in runs if r["first_error"]), None)
    return out


async def fixed_rates(bench: Bench, sides: list[Side]) -> dict[str, dict[str, Any]]:
    """Each rate for each side, in rounds; the side that goes first alternates."""
    opts = bench.opts
    runs: dict[str, dict[float, list[dict[str, Any]]]] = {s.name: {} for s in sides}
    for n in range(opts.rounds):
        say(f"== offered rates, round {n + 1}/{opts.rounds}")
        for rate in opts.rates:
            for side in sides if n % 2 == 0 else sides[::-1]:
                result = await bench.measure(side, rate, opts.seconds, "rate")
                runs[side.name].setdefault(rate, []).append(result)
    return {
        name: {f"{rate:g}": median_of(got) for rate, got in by_rate.items()}
        for name, by_rate in runs.items()
    }


@dataclass
class Search:
    """The highest passing rate found so far (`low`) and the lowest failing one (`high`)."""

    side: Side
    low: float
    high: float | None
    steps: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""
    done: bool = False

    def next_rate(self, opts: Options) -> float | None:
        if self.high is None:
            if self.low >= opts.max_rate:
                self.note = f"passed at the search's ceiling ({opts.max_rate:g}/s)"
                return None
            return min(opts.max_rate, _round(self.low * 1.5))
        if self.low == 0:
            return _round(self.high / 2) if self.high > 10 else None
        if self.high / self.low <= 1.1 or len(self.steps) >= opts.search_steps:
            return None
        rate = _round(math.sqrt(self.low * self.high))
        return rate if self.low < rate < self.high else None


def _round(rate: float) -> float:
    return float(max(10, round(rate / 10) * 10))


async def search(
    bench: Bench, sides: list[Side], fixed: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Step up from the best fixed rate, then bisect; the sides take turns, step by step.

    A failing step is measured once more before it counts (the machine is
    shared), and a step the generator could not offer ends that search.
    """
    opts = bench.opts
    searches = []
    for side in sides:
        medians = {float(rate): m for rate, m in fixed[side.name].items()}
        passing = [r for r, m in medians.items() if bench.passes(m)]
        low = max(passing, default=0.0)
        failing = [r for r, m in medians.items() if r > low and not bench.passes(m)]
        searches.append(Search(side, low, min(failing, default=None)))
    say(f"== highest rate with p99 <= {opts.p99_limit_ms:g} ms")
    while not all(s.done for s in searches):
        for s in searches:
            if s.done:
                continue
            rate = s.next_rate(opts)
            if rate is None:
                s.done = True
                continue
            result = await bench.measure(s.side, rate, opts.search_seconds, "search")
            if not bench.passes(result) and bench.generator_kept_up(result):
                result = await bench.measure(s.side, rate, opts.search_seconds, "search")
            s.steps.append(result)
            if not bench.generator_kept_up(result):
                s.note = f"the generator offered only {result['offered_per_s']:g}/s of {rate:g}/s"
                s.done = True
            elif bench.passes(result):
                s.low = rate
            else:
                s.high = rate
    return {
        s.side.name: {
            "highest_rate_per_s": s.low,
            "lowest_failing_rate_per_s": s.high,
            "note": s.note,
            "steps": [_step(r) for r in s.steps],
        }
        for s in searches
    }


def _step(result: dict[str, Any]) -> dict[str, Any]:
    keys = ("rate", "offered_per_s", "throughput_per_s", "p50_ms", "p99_ms", "errors")
    return {k: result[k] for k in keys}


async def saturation(bench: Bench, sides: list[Side]) -> dict[str, dict[str, Any]]:
    """Closed loop, `saturation_in_flight` deliveries outstanding: what each side sustains."""
    opts = bench.opts
    say(f"== saturation: closed loop, {opts.saturation_in_flight} in flight")
    runs: dict[str, list[dict[str, Any]]] = {s.name: [] for s in sides}
    for n in range(opts.rounds):
        for side in sides if n % 2 == 0 else sides[::-1]:
            runs[side.name].append(
                await bench.measure(side, None, opts.saturation_seconds, "saturate")
            )
    return {name: median_of(got) for name, got in runs.items()}


def verdict(results: dict[str, Any]) -> dict[str, Any]:
    sat, found = results.get("saturation", {}), results.get("search", {})
    out: dict[str, Any] = {"target_ratio": TARGET_RATIO}
    if "app" in sat and "floor" in sat:
        app, floor = sat["app"]["throughput_per_s"], sat["floor"]["throughput_per_s"]
        out["sustained_ratio"] = round(app / floor, 3) if floor else None
        out["met"] = out["sustained_ratio"] is not None and out["sustained_ratio"] >= TARGET_RATIO
    if "app" in found and "floor" in found:
        app, floor = found["app"]["highest_rate_per_s"], found["floor"]["highest_rate_per_s"]
        out["p99_rate_ratio"] = round(app / floor, 3) if floor else None
    return out


async def run(opts: Options, out: Path) -> dict[str, Any]:
    results: dict[str, Any] = {
        "machine": describe(None),
        "options": asdict(opts),
        "command": " ".join(sys.argv[1:]),
    }
    started = time.perf_counter()
    procs = Processes()
    generator = Generator()
    sides: list[Side] = []
    try:
        sides = await start_sides(procs, opts)
        bench = Bench(opts, generator)
        say("== warm-up")
        for side in sides:
            await bench.measure(side, 100, 2.0, "warm-up")
        results["rates"] = await fixed_rates(bench, sides)
        _write(results, out, started)
        results["search"] = await search(bench, sides, results["rates"])
        _write(results, out, started)
        results["saturation"] = await saturation(bench, sides)
        results["verdict"] = verdict(results)
        results["runs"] = {s.name: s.runs for s in sides}
    finally:
        for side in sides:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(side.fleet.close_all(), 30)
            side.fleet.stop()
        generator.stop()
        procs.stop_all()
    _write(results, out, started)
    return results


def _write(results: dict[str, Any], out: Path, started: float) -> None:
    results["seconds"] = round(time.perf_counter() - started, 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    out.with_suffix(".md").write_text(render(results))


def parse_args(argv: list[str] | None = None) -> tuple[Options, Path]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="one round, shorter runs")
    p.add_argument("--channel", choices=("telegram", "api"), default="telegram")
    p.add_argument("--rates", default="100,500,1000", help="offered rates, deliveries/s")
    p.add_argument("--seconds", type=float, help="seconds per offered rate (10; quick 3)")
    p.add_argument("--rounds", type=int, help="rounds of the rates and saturation (3; quick 1)")
    p.add_argument("--search-seconds", type=float, help="seconds per search step (5; quick 3)")
    p.add_argument("--search-steps", type=int, default=8, help="most steps per search")
    p.add_argument("--max-rate", type=float, default=4000, help="the search's ceiling")
    p.add_argument("--p99-limit-ms", type=float, default=50.0)
    p.add_argument("--saturation-in-flight", type=int, default=64)
    p.add_argument("--max-in-flight", type=int, default=256, help="connections per run")
    p.add_argument("--sockets", type=int, default=4, help="agent sockets per server")
    p.add_argument("--new-share", type=float, default=0.25, help="share of new customers")
    p.add_argument("--out", help="results path without suffix")
    a = p.parse_args(argv)
    quick = a.quick
    opts = Options(
        channel=a.channel,
        rates=tuple(float(v) for v in a.rates.split(",") if v.strip()),
        seconds=a.seconds or (3.0 if quick else 10.0),
        rounds=a.rounds or (1 if quick else 3),
        search_seconds=a.search_seconds or (3.0 if quick else 5.0),
        search_steps=a.search_steps,
        max_rate=a.max_rate,
        p99_limit_ms=a.p99_limit_ms,
        saturation_seconds=3.0 if quick else 8.0,
        saturation_in_flight=a.saturation_in_flight,
        max_in_flight=a.max_in_flight,
        sockets=a.sockets,
        new_share=a.new_share,
        quick=quick,
    )
    return opts, results_path("webhook-ingest", quick, a.out)


def main(argv: list[str] | None = None) -> None:
    run_and_report(run, *parse_args(argv))


if __name__ == "__main__":
    main()
