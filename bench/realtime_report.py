"""The realtime results as Markdown: how to run, verdict, figures, where the time goes, layers."""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

from bench.realtime_analysis import layers, process_split, where_time_goes
from bench.realtime_format import fmt, latency_of, ratio, setups_of, times

LATENCY_TARGET = 2.0  # app p99 at most this many times the baseline's

HOW_TO_RUN = """\
```sh
.venv/bin/python -m bench.realtime_run                 # full run: about 10 minutes
.venv/bin/python -m bench.realtime_run --quick         # about 4 minutes: fewer events
.venv/bin/python -m bench.realtime_run --quick --configs embedded --no-broadcast  # 2 minutes
.venv/bin/python -m bench.realtime_run --profile       # also samples each server with py-spy
```

Needs `redis-server` on PATH (each setup that uses Redis gets a private one
on a free port, killed at the end) and, for the Redis setups, two scratch
PostgreSQL databases, `rt_bench` and `rt_bench_list` (created when missing,
**emptied** by each run; `--pg DSN` and `--pg-list DSN` to change), because
the pub/sub and list apps run side by side. `--redis-backend sqlite` gives
each of them an SQLite file shared by its processes instead. Other flags:
`--configs embedded,pubsub,list`, `--sockets 100,500`, `--fanout-sockets
1000`, `--events N`, `--rounds N`, `--rates 1,2,4,...`, `--step-seconds S`,
`--races N`, `--racers N`, `--app-processes N`, `--client-processes N`,
`--no-compression`, `--no-broadcast`, `--out PATH`. `--profile` needs
py-spy outside the venv (`pip install --target /tmp/pyspy py-spy`). Server
logs and SQLite files go to `bench/data/realtime/` (gitignored).
`python -m bench.realtime_report bench/results/realtime.json` renders this
page again from the JSON. Results: this page and its
`.json` (`realtime-quick.*` for `--quick`)."""


def _describe(s: dict[str, Any]) -> str:
    if s["kind"] == "broadcast":
        return "websockets.broadcast, bare websockets server, 1 process"
    layer = {
        "in-memory": "in-process layer",
        "pubsub": "Redis, RedisPubSubChannelLayer",
        "list": "Redis, RedisChannelLayer",
        "redis-publish": "raw Redis PUBLISH",
    }[s["layer"]]
    db = {"sqlite": "SQLite", "postgres": "PostgreSQL"}[s["backend"]]
    who = "app" if s["kind"] == "app" else "bare Starlette baseline"
    return f"{who}: {db}, {layer}, {s['processes']} process(es)"


def _met(ratio: float | None, limit: float) -> str:
    if ratio is None:
        return "-"
    return "met" if ratio <= limit else "**not met**"


def _round_ratios(app: dict[str, Any], base: dict[str, Any], sockets: str) -> list[float]:
    """p99 ratios round by round: app and baseline ran back to back in each round."""
    ours = latency_of(app, sockets).get("rounds_p99_ms") or []
    theirs = latency_of(base, sockets).get("rounds_p99_ms") or []
    return sorted(a / b for a, b in zip(ours, theirs, strict=False) if a and b)


def _verdict(results: dict[str, Any]) -> list[str]:
    setups = results["setups"]
    broadcast = setups.get("broadcast", {})
    lines = [
        "| Figure | App setup | App | Baseline (same run) | App / baseline | Target | Met? |",
        "|---|---|---:|---:|---:|---|:-:|",
    ]
    for app in setups_of(results, "app"):
        base = setups.get(app["baseline"], {})
        for sockets in app.get("latency", {}):
            a = latency_of(app, sockets).get("p99_ms")
            b = latency_of(base, sockets).get("p99_ms")
            rounds = _round_ratios(app, base, sockets)
            # Judged on the median round: one bad round on either side can't decide it.
            r = statistics.median(rounds) if rounds else ratio(a, b)
            spread = f"; rounds {rounds[0]:.2f}-{rounds[-1]:.2f}x" if len(rounds) > 1 else ""
            lines.append(
                f"| POST to frame p99, {sockets} sockets | {app['key']} | {fmt(a)} ms | "
                f"{fmt(b)} ms | **{times(r)}** (pooled {times(ratio(a, b))}{spread}) | "
                f"≤ {LATENCY_TARGET:g}x | {_met(r, LATENCY_TARGET)} |"
            )
        fan, bfan = app.get("fanout", {}), broadcast.get("fanout", {})
        a_dps, b_dps = (
            fan.get("deliveries_per_s_per_worker"),
            bfan.get("deliveries_per_s_per_worker"),
        )
        lines.append(
            f"| deliveries/s per worker at {fan.get('sockets', '-')} sockets, p99 ≤ 100 ms "
            f"| {app['key']} | {fmt(a_dps, 0)} | {fmt(b_dps, 0)} (broadcast) | "
            f"{times(ratio(a_dps, b_dps))} | reported | - |"
        )
        mem, bmem = app.get("memory", {}), broadcast.get("memory", {})
        lines.append(
            f"| memory per socket | {app['key']} | {fmt(mem.get('kib_per_socket'))} KiB | "
            f"{fmt(bmem.get('kib_per_socket'))} KiB (broadcast) | "
            f"{times(ratio(mem.get('kib_per_socket'), bmem.get('kib_per_socket')))} | "
            "reported | - |"
        )
        claim, bclaim = app.get("claim", {}), base.get("claim", {})
        if claim:
            ok = claim["exactly_one_winner"] == claim["races"]
            lines.append(
                f"| races with exactly one winner ({claim['racers']} agents each) | {app['key']} | "
                f"{claim['exactly_one_winner']}/{claim['races']} | "
                f"{bclaim.get('exactly_one_winner', '-')}/{bclaim.get('races', '-')} | - | 100% | "
                f"{'met' if ok else '**not met**'} |"
            )
            lines.append(
                f"| claim to all {claim['viewers']} viewers, p99 | {app['key']} | "
                f"{fmt(claim.get('p99_ms'))} ms | {fmt(bclaim.get('p99_ms'))} ms | "
                f"{times(ratio(claim.get('p99_ms'), bclaim.get('p99_ms')))} | reported | - |"
            )
    return lines


def _latency_table(results: dict[str, Any]) -> list[str]:
    setups = results["setups"]
    lines = [
        "| Setup | Sockets | p50 | p90 | p99 | max | last socket p50 | trigger p50 | "
        "p50 / base | p99 / base | frames | spacing | server CPU/event | others' CPU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for s in setups_of(results):
        base = setups.get(s.get("baseline") or "", {})
        for sockets, block in s.get("latency", {}).items():
            b = latency_of(base, sockets)
            lines.append(
                f"| {s['key']} | {sockets} | {fmt(block['p50_ms'])} | {fmt(block['p90_ms'])} | "
                f"**{fmt(block['p99_ms'])}** | {fmt(block['max_ms'])} | "
                f"{fmt(block['last_socket']['p50_ms'])} | {fmt(block['trigger']['p50_ms'])} | "
                f"{times(ratio(block['p50_ms'], b.get('p50_ms')))} | "
                f"**{times(ratio(block['p99_ms'], b.get('p99_ms')))}** | "
                f"{block['frames_received']}/{block['frames_expected']}"
                f"{' (saturated)' if block.get('saturated') else ''} | "
                f"{fmt(block.get('spacing_ms'), 0)} ms | "
                f"{fmt(block['server_cpu_ms_per_event'], 2)} ms | "
                f"{fmt(block['others_cpu_share'], 2)} cores |"
            )
    return lines


def _fanout_table(results: dict[str, Any]) -> list[str]:
    lines = [
        "| Setup | Workers | Sockets | Highest rate with p99 ≤ 100 ms | Deliveries/s | "
        "**per worker** | Server CPU per delivery | CPU-bound ceiling per worker | Stopped at |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in setups_of(results):
        fan = s.get("fanout")
        if not fan:
            continue
        lines.append(
            f"| {s['key']} | {fan['workers']} | {fan['sockets']} | "
            f"{fmt(fan['capacity_events_per_s'], 0)} events/s | "
            f"{fmt(fan['deliveries_per_s'], 0)} | "
            f"**{fmt(fan['deliveries_per_s_per_worker'], 0)}** | "
            f"{fmt(fan['server_cpu_us_per_delivery'])} µs | "
            f"{fmt(fan['cpu_bound_deliveries_per_s_per_worker'], 0)}/s | {fan['stopped_at']} |"
        )
    return lines


def _ramp_steps(results: dict[str, Any]) -> list[str]:
    lines = [
        "| Setup | Rate (events/s) | Try | p50 | p99 | frames | server CPU per delivery | result |",
        "|---|---:|---:|---:|---:|---|---:|---|",
    ]
    for s in setups_of(results):
        for step in s.get("fanout", {}).get("steps", []):
            lines.append(
                f"| {s['key']} | {fmt(step['rate_per_s'], 0)} | {step['attempt']} | "
                f"{fmt(step['p50_ms'])} | {fmt(step['p99_ms'])} | "
                f"{step['frames_received']}/{step['frames_expected']} | "
                f"{fmt(step['server_cpu_us_per_delivery'])} µs | "
                f"{step['failed_because'] or 'pass'} |"
            )
    return lines


def _memory_claims(results: dict[str, Any]) -> list[str]:
    lines = [
        "| Setup | Sockets | RSS idle | RSS with sockets | per socket |",
        "|---|---:|---:|---:|---:|",
    ]
    for s in setups_of(results):
        mem = s.get("memory")
        if mem:
            lines.append(
                f"| {s['key']} | {mem['sockets']} | {fmt(mem['rss_before_mib'])} MiB | "
                f"{fmt(mem['rss_after_mib'])} MiB | **{fmt(mem['kib_per_socket'])} KiB** |"
            )
    lines += [
        "",
        "| Setup | Races | Agents racing | Exactly one winner | Every viewer told once | "
        "Viewers | claim to viewers p50 | p99 | statuses |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in setups_of(results):
        c = s.get("claim")
        if c:
            statuses = ", ".join(f"{k}: {v}" for k, v in sorted(c["statuses"].items()))
            lines.append(
                f"| {s['key']} | {c['races']} | {c['racers']} | **{c['exactly_one_winner']}** | "
                f"{c['all_viewers_told_once']} | {c['viewers']} | {fmt(c['p50_ms'])} ms | "
                f"**{fmt(c['p99_ms'])} ms** | {statuses} |"
            )
            lines += [f"  - {p}" for p in c.get("problems", [])]
    return lines


def render(results: dict[str, Any]) -> str:
    m = results["machine"]
    o = results["options"]
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items())
    setups = "; ".join(f"**{s['key']}**: {_describe(s)}" for s in results["setups"].values())
    failed = [
        f"- {s['key']} failed: {s['failed']}" for s in results["setups"].values() if "failed" in s
    ]
    lines = [
        "# Realtime: from an inbound message to every socket",
        "",
        "## How to run",
        "",
        HOW_TO_RUN,
        "",
        "## This run",
        "",
        f"- Command: `python -m bench.realtime_run {results.get('command', '')}`",
        f"- {m['date']}, {results.get('seconds', '-')} s. Machine: {m['cpu']}, {m['cores']} "
        f"cores, {m['memory_gib']} GiB; {m['os']}; Python {m['python']}, SQLite {m['sqlite']}, "
        f"PostgreSQL {m['postgresql'] or '-'}; {packages}. "
        f"Open-file limit {m.get('open_files_limit')}.",
        f"- Setups: {setups}.",
        f"- Sockets: `/api/v1/stream` JSON sockets with bearer tokens of {o['agents']} agents, all "
        "in the inbox's audience (the baselines: plain sockets); the `websockets` client in "
        f"{o['client_processes']} processes, offering permessage-deflate: "
        f"{'yes' if o['compression'] else 'no'}. Events: signed webhook POSTs "
        f"(`/webhooks/api/{{id}}`), fired open-loop on a schedule; {o['events']} per latency "
        "figure. Latency of a frame = its arrival on a socket minus the moment its POST was "
        "sent (one monotonic clock for every process).",
        f"- Ramp: {o['fanout_sockets']} sockets, rates {', '.join(fmt(r, 0) for r in o['rates'])} "
        f"events/s, {o['step_seconds']:g} s per step; a step fails when p99 > 100 ms, a frame "
        "is missing, a socket is closed or a trigger fails, and a failing step is tried once "
        f"more. Claims: {o['races']} conversations, {o['racers']} agents racing for each.",
        "",
        f'> {m["note"]} "Others\' CPU" below is what the rest of the machine used meanwhile '
        "(in cores): a figure taken while it was high is less trustworthy.",
        "",
        *failed,
        "",
        "## Verdict",
        "",
        "Latency ratios: the median over rounds of app p99 / baseline p99, where each round "
        "ran the app and its baseline back to back (order rotating); in brackets the ratio "
        "of the pooled p99s and the spread over rounds.",
        "",
        *_verdict(results),
        "",
        "## Latency: POST sent to frame received (ms)",
        "",
        *_latency_table(results),
        "",
        '"Last socket" is the time until the last socket of the event got its frame; '
        '"trigger" is the POST round trip (for the app it returns after commit and the local '
        "fan-out hand-off). Ratios are against the baseline of the same backend and process "
        "count.",
        "",
        *(
            [
                "Processes apart: sockets on the process that took the POST get the event "
                "from its local fan-out; the others only after it crossed Redis.",
                "",
                *process_split(results),
                "",
            ]
            if process_split(results)
            else []
        ),
        "## Fan-out capacity",
        "",
        *_fanout_table(results),
        "",
        "The CPU-bound ceiling is 1 / (server CPU per delivery, webhook included): what one "
        "fully busy worker could deliver. The client fleet shares the 2 cores, so the measured "
        "rate is also bounded by how fast the clients can read.",
        "",
        "<details><summary>Every ramp step</summary>",
        "",
        *_ramp_steps(results),
        "",
        "</details>",
        "",
        "## Memory and claims",
        "",
        *_memory_claims(results),
        "",
        "## Where the time goes",
        "",
        *where_time_goes(results),
        "",
        "## Channel layers",
        "",
        *layers(results),
        "",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Render again from the JSON: `python -m bench.realtime_report bench/results/realtime.json`."""
    source = Path(sys.argv[1])
    source.with_suffix(".md").write_text(render(json.loads(source.read_text())))


if __name__ == "__main__":
    main()
