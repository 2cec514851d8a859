"""Realtime benchmark: inbound POST to frames on sockets, fan-out capacity, claim races.

    python -m bench.realtime_run            # full run, about 10 minutes
    python -m bench.realtime_run --quick    # about 4 minutes, fewer events
    python -m bench.realtime_run --configs embedded --quick

Results: bench/results/realtime.md and .json (realtime-quick.* for --quick).
Every figure of the app sits beside a baseline measured in the same run; see
realtime_report for how to read them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import realtime_baseline
from bench.entry import results_path, run_and_report
from bench.machine import describe, postgres_version
from bench.progress import say
from bench.realtime_claims import claim_phase
from bench.realtime_fleet import Fleet
from bench.realtime_infra import Processes, more_open_files, start_app, start_module
from bench.realtime_infra import start_redis as start_redis_server
from bench.realtime_phases import (
    connect,
    latency_rounds,
    measure,
    memory_phase,
    open_loop,
    ramp_phase,
)
from bench.realtime_profile import find_pyspy, profile
from bench.realtime_report import render
from bench.realtime_seed import DEFAULT_PG, prepare, remove_sqlite, sqlite_path
from bench.realtime_targets import AppTarget, BaselineTarget, BroadcastTarget, Target

APP_CONFIGS = ("embedded", "pubsub", "list")


@dataclass(frozen=True)
class Options:
    configs: tuple[str, ...]
    sockets: tuple[int, ...]
    fanout_sockets: int
    events: int
    spacing_ms_per_socket: float
    min_spacing_ms: float
    rates: tuple[float, ...]
    step_seconds: float
    min_step_events: int
    races: int
    racers: int
    agents: int
    redis_backend: str
    app_processes: int
    client_processes: int
    compression: bool
    broadcast: bool
    pg: str
    pg_list: str
    rounds: int
    quick: bool
    profile: str | None  # py-spy's path when profiling

    def spacing_s(self, sockets: int) -> float:
        return max(self.min_spacing_ms, self.spacing_ms_per_socket * sockets) / 1000


@dataclass(frozen=True)
class Setup:
    key: str
    kind: str  # app | baseline | broadcast
    backend: str  # sqlite | postgres | none
    layer: str  # in-memory | pubsub | list | redis-publish | none
    processes: int
    baseline: str | None = None  # the setup it is compared with
    database: str = ""  # scratch PostgreSQL DSN or SQLite file name


def plan(opts: Options) -> list[list[Setup]]:
    """Groups of setups that run side by side, their latency rounds interleaved."""
    groups: list[list[Setup]] = []
    if "embedded" in opts.configs:
        groups.append(
            [
                Setup("embedded", "app", "sqlite", "in-memory", 1, "baseline-sqlite", "app"),
                Setup("baseline-sqlite", "baseline", "sqlite", "redis-publish", 1, None, "base"),
            ]
        )
    db, n = opts.redis_backend, opts.app_processes
    base_key = f"baseline-{db}-x{n}"
    group = []
    for layer, dsn in (("pubsub", opts.pg), ("list", opts.pg_list)):
        if layer in opts.configs:
            where = dsn if db == "postgres" else f"app-{layer}"
            group.append(Setup(layer, "app", db, layer, n, base_key, where))
    if group:
        where = opts.pg if db == "postgres" else "base-shared"
        groups.append([*group, Setup(base_key, "baseline", db, "redis-publish", n, None, where)])
    if opts.broadcast:
        groups.append([Setup("broadcast", "broadcast", "none", "none", 1)])
    return groups


async def _servers(procs: Processes, setup: Setup, opts: Options, tag: str) -> Target:
    redis_url = ""
    if setup.layer not in ("in-memory", "none"):
        # Its own Redis, so setups running side by side never hear each other.
        _, redis_url = await start_redis_server(procs, f"redis-{setup.key}")
    if setup.kind == "app":
        seeded = await prepare(
            setup.backend, max(opts.agents, opts.racers), pg_dsn=setup.database, name=setup.database
        )
        servers = [
            await start_app(
                procs, f"{setup.key}-{n}", seeded.database_url, redis_url or None, setup.layer
            )
            for n in range(setup.processes)
        ]
        return AppTarget(setup.key, servers, seeded, tag)
    if setup.kind == "baseline":
        if setup.backend == "sqlite":
            path = sqlite_path(setup.database)
            remove_sqlite(path)
            db = str(path)
        else:
            db = setup.database
        await realtime_baseline.prepare(db)
        servers = [
            await start_module(
                procs,
                f"{setup.key}-{n}",
                "bench.realtime_baseline",
                "--db",
                db,
                "--redis",
                redis_url,
            )
            for n in range(setup.processes)
        ]
        return BaselineTarget(setup.key, servers, tag)
    server = await start_module(procs, setup.key, "bench.realtime_broadcast")
    return BroadcastTarget(setup.key, server)


async def run_group(procs: Processes, group: list[Setup], opts: Options) -> dict[str, Any]:
    say(
        "== "
        + " + ".join(f"{s.key} ({s.kind}, {s.backend}, {s.layer}, x{s.processes})" for s in group)
    )
    started = time.perf_counter()
    tag = f"rt-{uuid.uuid4().hex[:8]}"
    targets: list[Target] = []
    fleets: list[Fleet] = []
    results: dict[str, dict[str, Any]] = {
        s.key: {**asdict(s), "latency": {}, "connect": {}} for s in group
    }
    try:
        for setup in group:
            targets.append(await _servers(procs, setup, opts, tag))
            fleets.append(Fleet(opts.client_processes, compression=opts.compression))
        pairs = list(zip(targets, fleets, strict=True))
        rss_idle = {}
        for target in targets:
            for _ in range(20 if target.claims else 3):
                await target.fire()  # warm-up; for the app it opens the customers' conversations
        await asyncio.sleep(1.0)
        for target, fleet in pairs:
            rss_idle[target.name] = sum(s.rss_bytes() for s in target.servers)
            if target.claims:
                # No sockets: what the trigger alone costs (app: ingest; baseline: insert).
                results[target.name]["ingest"] = await measure(
                    target, fleet, 0, max(10, opts.events // 2), 1 / opts.spacing_s(0), 120
                )
        have = 0
        for sockets in opts.sockets:
            for target, fleet in pairs:
                results[target.name]["connect"][str(sockets)] = await connect(
                    target, fleet, have, sockets
                )
            have = sockets
            rounds = await latency_rounds(
                pairs, sockets, opts.events, opts.spacing_s(sockets), opts.rounds
            )
            for name, figures in rounds.items():
                results[name]["latency"][str(sockets)] = figures
            if sockets == opts.sockets[0] and opts.races:
                for target, fleet in pairs:
                    if target.claims:
                        claim = await claim_phase(target, fleet, sockets, opts.races, opts.racers)
                        results[target.name]["claim"] = claim
                        say(
                            f"    {target.name} claims: {claim['exactly_one_winner']}/"
                            f"{claim['races']} with one winner; to all viewers p99 "
                            f"{claim['p99_ms']} ms"
                        )
        for target, fleet in pairs:
            block = results[target.name]
            block["connect"][str(opts.fanout_sockets)] = await connect(
                target, fleet, have, opts.fanout_sockets
            )
            block["memory"] = await memory_phase(
                target, fleet, rss_idle[target.name], opts.fanout_sockets
            )
        for target, fleet in pairs:
            results[target.name]["fanout"] = await ramp_phase(
                target,
                fleet,
                opts.fanout_sockets,
                list(opts.rates),
                opts.step_seconds,
                opts.min_step_events,
            )
            if opts.profile and target.claims:
                results[target.name]["profile"] = await profile_phase(target, fleet, opts)
    finally:
        for fleet in fleets:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(fleet.close_all(), 60)
            fleet.stop()
        for target in targets:
            with contextlib.suppress(Exception):
                await target.aclose()
        procs.stop_all()
    seconds = round(time.perf_counter() - started, 1)
    for block in results.values():
        block["group_seconds"] = seconds
    say(f"   done in {seconds} s")
    return results


async def profile_phase(target: Target, fleet: Fleet, opts: Options) -> dict[str, Any]:
    """py-spy on the first server while events flow at a steady, unsaturated rate."""
    assert opts.profile is not None
    seconds, rate = 8, 2.0
    say(f"    profiling {target.servers[0].name} for {seconds} s at {rate:g} events/s")
    shares, _ = await asyncio.gather(
        profile(opts.profile, target.servers[0].pid, seconds, target.name),
        open_loop(target.fire, int(seconds * rate), rate, seconds + 5),
    )
    return {"sockets": opts.fanout_sockets, "rate_per_s": rate, "seconds": seconds, **shares}


async def run(opts: Options, out: Path) -> dict[str, Any]:
    results: dict[str, Any] = {
        "machine": describe(await postgres_version(opts.pg)),
        "options": asdict(opts),
        "command": " ".join(sys.argv[1:]),
        "setups": {},
    }
    results["machine"]["packages"].update(_more_versions())
    started = time.perf_counter()
    procs = Processes()
    try:
        with more_open_files() as limit:
            results["machine"]["open_files_limit"] = limit
            for group in plan(opts):
                try:
                    results["setups"].update(await run_group(procs, group, opts))
                except Exception as exc:  # keep what the other groups measured
                    say(f"   failed: {exc!r}")
                    for setup in group:
                        results["setups"][setup.key] = {**asdict(setup), "failed": repr(exc)}
                _write(results, out, time.perf_counter() - started)
    finally:
        procs.stop_all()
    _write(results, out, time.perf_counter() - started)
    return results


def _more_versions() -> dict[str, str]:
    from importlib import metadata

    names = ("websockets", "channels", "channels_redis", "redis")
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "absent"
    return found


def _write(results: dict[str, Any], out: Path, seconds: float) -> None:
    results["seconds"] = round(seconds, 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    out.with_suffix(".md").write_text(render(results))


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split(",") if v.strip())


def parse_args(argv: list[str] | None = None) -> tuple[Options, Path]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer events and races, shorter steps")
    p.add_argument("--configs", default=",".join(APP_CONFIGS), help="embedded,pubsub,list")
    p.add_argument("--sockets", default="100,500", help="latency socket counts")
    p.add_argument("--fanout-sockets", type=int, default=1000)
    p.add_argument("--events", type=int, help="events per latency figure (200; quick 50)")
    p.add_argument("--spacing-ms-per-socket", type=float, default=0.3)
    p.add_argument("--min-spacing-ms", type=float, default=50.0)
    p.add_argument("--rates", help="ramp rates, events/s, comma-separated")
    p.add_argument("--step-seconds", type=float, help="seconds per ramp step (4; quick 2)")
    p.add_argument("--races", type=int, help="conversations raced for (30; quick 10)")
    p.add_argument("--racers", type=int, default=20)
    p.add_argument("--agents", type=int, default=50, help="agents the sockets belong to")
    p.add_argument("--redis-backend", choices=("postgres", "sqlite"), default="postgres")
    p.add_argument("--app-processes", type=int, default=2, help="server processes with Redis")
    p.add_argument("--client-processes", type=int, default=2)
    p.add_argument("--no-compression", action="store_true", help="clients offer no deflate")
    p.add_argument("--no-broadcast", action="store_true")
    p.add_argument("--pg", default=DEFAULT_PG, help="scratch PostgreSQL database (emptied!)")
    p.add_argument(
        "--pg-list",
        default=DEFAULT_PG + "_list",
        help="a second scratch database, for the list-layer app running beside the pub/sub one",
    )
    p.add_argument("--rounds", type=int, help="interleaved rounds per latency figure (4; quick 2)")
    p.add_argument("--out", help="results path without suffix")
    p.add_argument(
        "--profile", action="store_true", help="sample each server with py-spy (if installed)"
    )
    a = p.parse_args(argv)
    quick = a.quick
    rates = (
        (1, 2, 4, 8, 16, 32, 64, 128) if quick else (1, 2, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128)
    )
    opts = Options(
        configs=tuple(c for c in a.configs.split(",") if c),
        sockets=tuple(int(v) for v in a.sockets.split(",")),
        fanout_sockets=a.fanout_sockets,
        events=a.events or (50 if quick else 200),
        spacing_ms_per_socket=a.spacing_ms_per_socket,
        min_spacing_ms=a.min_spacing_ms,
        rates=_floats(a.rates) if a.rates else tuple(float(r) for r in rates),
        step_seconds=a.step_seconds or (2.0 if quick else 4.0),
        min_step_events=4,
        races=a.races if a.races is not None else (10 if quick else 30),
        racers=a.racers,
        agents=a.agents,
        redis_backend=a.redis_backend,
        app_processes=a.app_processes,
        client_processes=a.client_processes,
        compression=not a.no_compression,
        broadcast=not a.no_broadcast,
        pg=a.pg,
        pg_list=a.pg_list,
        rounds=a.rounds or (2 if quick else 4),
        quick=quick,
        profile=find_pyspy() if a.profile else None,
    )
    if a.profile and opts.profile is None:
        p.error("--profile needs py-spy on PATH or at /tmp/pyspy/bin/py-spy")
    unknown = set(opts.configs) - set(APP_CONFIGS)
    if unknown:
        p.error(f"unknown configs: {', '.join(sorted(unknown))}")
    return opts, results_path("realtime", quick, a.out)


def main(argv: list[str] | None = None) -> None:
    run_and_report(run, *parse_args(argv))


if __name__ == "__main__":
    main()
