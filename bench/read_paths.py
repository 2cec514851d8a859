"""Read-path benchmark: inbox list and customer timeline, over HTTP and as raw SQL.

    .venv/bin/python -m bench.read_paths --backend sqlite --scales 10k,1M
    .venv/bin/python -m bench.read_paths --backend postgres --scales 10k,1M

Seeds (or reuses) one database per scale, times the indexed SQL raw at the
same concurrency as the HTTP client, records the query plans, starts the real
app with `inbox serve --no-migrate` once per scale, times the API, and writes
bench/results/read_paths-<backend>.{md,json}.

The machine is shared and its load drifts, so each figure is taken in rounds
that alternate between the scales: both scales see the same noise, and the
1M/10k ratio stays meaningful even when absolute figures move.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx

from bench import cpu, loadgen, phases
from bench.machine import describe, postgres_version
from bench.plans import explain_all
from bench.progress import say
from bench.rawdb import RawDB, open_raw
from bench.report import render
from bench.seed import BACKENDS, BENCH_DIR, DEFAULT_PG, Target, ensure_seeded
from bench.server import Server, serving
from bench.shape import parse_scale
from bench.workload import (
    HTTP_ONLY,
    LIST_URL,
    PATHS,
    ApiPage,
    Workload,
    api_deep_cursors,
    discover,
    http_call,
    list_params,
    sql_call,
)

RESULTS_DIR = BENCH_DIR / "results"


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=BACKENDS, required=True)
    parser.add_argument("--scales", default="10k,1M", help="comma-separated, e.g. 10k,1M")
    parser.add_argument("--requests", type=int, default=3000, help="timed requests per figure")
    parser.add_argument("--warmup", type=int, default=300, help="untimed requests before each")
    parser.add_argument("--rounds", type=int, default=3, help="rounds alternating the scales")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--time-limit", type=float, default=90.0, help="seconds at most per figure")
    parser.add_argument(
        "--workers",
        default=None,
        help="server worker counts, e.g. 1,2 (default: 1 on SQLite, 1,2 on PostgreSQL)",
    )
    parser.add_argument("--reseed", action="store_true", help="rebuild the cached databases")
    parser.add_argument("--no-http", action="store_true", help="SQL baseline only")
    parser.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL server URL, no database")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    return parser.parse_args()


class Bench:
    """One run: the settings, and the figures collected so far."""

    def __init__(self, args: argparse.Namespace, targets: dict[str, Target]) -> None:
        self.args = args
        self.targets = targets

    def meters(self, label: str, server: Server | None = None) -> loadgen.Meters:
        target = self.targets[label]
        meters: loadgen.Meters = {"client": cpu.process_cpu, "machine": cpu.machine_busy}
        if server is not None:
            meters["server"] = server.cpu_seconds
        if target.backend == "postgres":
            meters["database"] = cpu.DatabaseBackendsClock(target.pg_database)
        return meters

    async def interleaved(
        self,
        what: str,
        calls: dict[str, loadgen.Call],
        meters: dict[str, loadgen.Meters],
        *,
        concurrency: int,
        requests: int,
    ) -> dict[str, dict[str, Any]]:
        """One figure per scale, from rounds that alternate between the scales."""
        args = self.args
        rounds = max(1, args.rounds)
        per_round = math.ceil(requests / rounds)
        limit = args.time_limit / rounds
        warmup = min(args.warmup, requests)
        for call in calls.values():
            await loadgen.sample(
                call, requests=warmup, concurrency=concurrency, time_limit=limit, offset=requests
            )
        samples: dict[str, list[loadgen.Sample]] = {label: [] for label in calls}
        order = list(calls)
        for r in range(rounds):
            # Alternate which scale goes first, so neither always follows the other.
            for label in order if r % 2 == 0 else reversed(order):
                samples[label].append(
                    await loadgen.sample(
                        calls[label],
                        requests=per_round,
                        concurrency=concurrency,
                        time_limit=limit,
                        meters=meters[label],
                        offset=r * per_round,
                    )
                )
        figures = {}
        for label, taken in samples.items():
            stats = loadgen.summarise(taken)
            figures[label] = stats.to_json()
            _say_stats(f"{label} {what}", stats)
        return figures


def _say_stats(label: str, stats: loadgen.Stats) -> None:
    errors = f", {stats.errors} errors ({stats.first_error})" if stats.errors else ""
    used = ", ".join(f"{k} {v:.2f}" for k, v in stats.cpu_ms_per_request.items())
    say(
        f"  {label}: p50 {stats.p50_ms:.2f} ms, p99 {stats.p99_ms:.2f} ms, "
        f"{stats.per_second:.0f}/s, n={stats.requests}; CPU ms/request: {used}{errors}"
    )


async def _sql_phase(
    bench: Bench, workloads: dict[str, Workload], dbs: dict[str, RawDB], out: dict[str, Any]
) -> None:
    meters = {label: bench.meters(label) for label in dbs}
    for mode, whole in (("sql", False), ("sql_request", True)):
        for path in PATHS:
            calls = {
                label: sql_call(path, db, workloads[label], whole_request=whole)
                for label, db in dbs.items()
            }
            figures = await bench.interleaved(
                f"{mode} {path}",
                calls,
                meters,
                concurrency=bench.args.concurrency,
                requests=bench.args.requests,
            )
            for label, figure in figures.items():
                out[label].setdefault(mode, {})[path] = figure


async def _http_phase(
    bench: Bench, workloads: dict[str, Workload], workers: int, out: dict[str, Any]
) -> bool:
    """HTTP figures with `workers` server processes per scale; False if the API is missing."""
    args = bench.args
    key = str(workers)
    async with AsyncExitStack() as stack:
        servers: dict[str, Server] = {}
        clients: dict[str, httpx.AsyncClient] = {}
        deep: dict[str, list[ApiPage]] = {}
        limits = httpx.Limits(
            max_connections=args.concurrency, max_keepalive_connections=args.concurrency
        )
        for label, target in bench.targets.items():
            log_name = f"server-{target.key}-w{workers}"
            servers[label] = await stack.enter_async_context(
                serving(target.app_url, workers, log_name)
            )
            clients[label] = await stack.enter_async_context(
                httpx.AsyncClient(
                    base_url=servers[label].base_url,
                    headers={"Authorization": f"Bearer {workloads[label].token}"},
                    limits=limits,
                    timeout=10.0,
                )
            )
            block = out[label]["http"].setdefault(key, {"paths": {}, "alone": {}})
            probe = await clients[label].get(
                LIST_URL, params=list_params(workloads[label].inbox_ids[0])
            )
            if probe.status_code == 404:
                block["api"] = "missing"
                say(f"  {LIST_URL} answers 404: the API is not there yet; HTTP skipped")
                return False
            probe.raise_for_status()
            block["api"] = "present"
            deep[label], block["problems"] = await api_deep_cursors(
                clients[label], workloads[label]
            )
            for problem in block["problems"]:
                say(f"  problem at {label}: {problem}")

        meters = {label: bench.meters(label, servers[label]) for label in servers}
        for path in [*HTTP_ONLY, *PATHS]:
            if path == "list_deep" and not all(deep.values()):
                continue
            calls = {
                label: http_call(path, clients[label], workloads[label], deep[label])
                for label in servers
            }
            for block_name, concurrency, requests in (
                ("paths", args.concurrency, args.requests),
                # One request at a time: what a lone user waits, with no queue.
                ("alone", 1, max(1, args.requests // 6)),
            ):
                figures = await bench.interleaved(
                    f"http w{workers} {path}{' alone' if concurrency == 1 else ''}",
                    calls,
                    meters,
                    concurrency=concurrency,
                    requests=requests,
                )
                for label, figure in figures.items():
                    out[label]["http"][key][block_name][path] = figure
    return True


async def _with_dbs(
    targets: dict[str, Target],
    size: int,
    use: Callable[[dict[str, RawDB]], Awaitable[None]],
) -> None:
    dbs: dict[str, RawDB] = {}
    try:
        for label, target in targets.items():
            dbs[label] = await open_raw(target.backend, target.raw_dsn, size)
        await use(dbs)
    finally:
        for db in dbs.values():
            await db.close()


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    default_workers = "1" if args.backend == "sqlite" else "1,2"
    workers = [int(w) for w in (args.workers or default_workers).split(",")]
    if args.backend == "sqlite" and any(w > 1 for w in workers):
        say("the app serves SQLite with one worker only (inbox/cli.py); running 1")
        workers = [1]
    targets = {
        scale.label: Target(args.backend, scale, args.pg)
        for scale in (parse_scale(s) for s in args.scales.split(","))
    }
    pg = await postgres_version(f"{args.pg}/postgres")
    results: dict[str, Any] = {
        "backend": args.backend,
        "machine": describe(pg),
        "config": {
            "requests": args.requests,
            "warmup": args.warmup,
            "rounds": args.rounds,
            "concurrency": args.concurrency,
            "time_limit_s": args.time_limit,
            "workers": workers,
        },
        "scales": {},
    }
    out: dict[str, Any] = results["scales"]
    manifests = {}
    for label, target in targets.items():
        manifests[label] = await ensure_seeded(target, reseed=args.reseed)
        out[label] = {
            "messages": target.scale.messages,
            "seed": {"seconds": manifests[label].seed_seconds, "counts": manifests[label].counts},
            "http": {},
        }
    bench = Bench(args, targets)
    workloads: dict[str, Workload] = {}

    async def sql_phase(dbs: dict[str, RawDB]) -> None:
        for label, db in dbs.items():
            workloads[label] = await discover(db, manifests[label])
            out[label]["workload"] = workloads[label].describe()
            out[label]["plans"] = await explain_all(db, workloads[label])
        say("== raw SQL")
        await _sql_phase(bench, workloads, dbs, out)
        say("== in-process cost of one request")
        for label, target in targets.items():
            out[label]["phases"] = await phases.measure(target, workloads[label])
            for path, parts in out[label]["phases"].items():
                costs = ", ".join(f"{k} {v['cpu_ms']:.2f}" for k, v in parts.items())
                say(f"  {label} {path}: CPU ms: {costs}")

    await _with_dbs(targets, args.concurrency, sql_phase)
    if not args.no_http:
        for count in workers:
            say(f"== HTTP, {count} worker(s) per server")
            if not await _http_phase(bench, workloads, count, out):
                break
    return results


def main() -> None:
    args = _parse_args()
    results = asyncio.run(_run(args))
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"read_paths-{args.backend}"
    Path(f"{stem}.json").write_text(json.dumps(results, indent=2, default=str))
    Path(f"{stem}.md").write_text(render(results))
    say(f"wrote {stem}.md and {stem}.json")


if __name__ == "__main__":
    main()
