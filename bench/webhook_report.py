"""bench/results/webhook-ingest.md from the run's results (see webhook_ingest)."""

from __future__ import annotations

from typing import Any

SIDES = ("app", "floor")


def _n(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        value = f"{value:,.1f}" if value < 100 else f"{value:,.0f}"
    return f"{value}{unit}"


def _r(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _ratio(app: Any, floor: Any) -> str:
    return f"{app / floor:.2f}x" if app is not None and floor else "-"


def _verdict(results: dict[str, Any]) -> list[str]:
    v = results.get("verdict")
    if not v:
        return ["**Incomplete run**: the figures below are what was measured before it stopped."]
    met = "met" if v.get("met") else "not met"
    sat = results["saturation"]
    found = results["search"]
    return [
        f"**Target: the app sustains at least {v['target_ratio']:g}x the floor's throughput "
        f"on SQLite: {met}** (sustained ratio {_r(v.get('sustained_ratio'))}: "
        f"{_n(sat['app']['throughput_per_s'])}/s against "
        f"{_n(sat['floor']['throughput_per_s'])}/s).",
        "",
        f"Highest offered rate with p99 ≤ {results['options']['p99_limit_ms']:g} ms: app "
        f"{_n(found['app']['highest_rate_per_s'])}/s, floor "
        f"{_n(found['floor']['highest_rate_per_s'])}/s (ratio {_r(v.get('p99_rate_ratio'))}).",
    ]


def _rates(results: dict[str, Any]) -> list[str]:
    rates = results.get("rates")
    if not rates:
        return []
    lines = [
        "## Offered rates",
        "",
        f"Medians over {results['options']['rounds']} round(s) of "
        f"{results['options']['seconds']:g} s; latency from each delivery's scheduled send "
        "to the end of its answer. Send delay: from the scheduled moment to the request's "
        "first byte, which includes waiting for one of the generator's connections when "
        "all are busy (the server is behind); the floor's figures show how far the "
        "generator itself lags.",
        "",
        "| offered/s | side | sent/s | done/s | p50 ms | p99 ms | max ms | errors "
        "| server CPU ms/delivery | frames seen | send delay p99 ms |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for rate in rates["app"]:
        for side in SIDES:
            m = rates[side][rate]
            lines.append(
                f"| {rate} | {side} | {_n(m['offered_per_s'])} | {_n(m['throughput_per_s'])} "
                f"| {_n(m['p50_ms'])} | {_n(m['p99_ms'])} | {_n(m['max_ms'])} | {m['errors']} "
                f"| {_n(m['server_cpu_ms_per_delivery'])} "
                f"| {m['frames_seen']:,}/{m['frames_expected']:,} | {_n(m['send_lag_p99_ms'])} |"
            )
    lines += [
        "",
        "| offered/s | p50 app/floor | p99 app/floor | done/s app/floor |",
        "|---:|---:|---:|---:|",
    ]
    for rate in rates["app"]:
        a, f = rates["app"][rate], rates["floor"][rate]
        lines.append(
            f"| {rate} | {_ratio(a['p50_ms'], f['p50_ms'])} | {_ratio(a['p99_ms'], f['p99_ms'])} "
            f"| {_ratio(a['throughput_per_s'], f['throughput_per_s'])} |"
        )
    errors = [
        f"- {side} at {rate}/s: {m['first_error']}"
        for side in SIDES
        for rate, m in rates[side].items()
        if m["first_error"]
    ]
    if errors:
        lines += ["", "First error of each figure that had any:", "", *errors]
    return [*lines, ""]


def _search(results: dict[str, Any]) -> list[str]:
    found = results.get("search")
    if not found:
        return []
    limit = results["options"]["p99_limit_ms"]
    lines = [
        f"## Highest rate with p99 ≤ {limit:g} ms",
        "",
        "Started from the offered rates above: steps of x1.5 up from the best passing one, "
        "then bisection to within 10%. A step passes with p99 within the limit and no "
        f"errors; a failing step is measured once more before it counts; "
        f"{results['options']['search_seconds']:g} s per step.",
        "",
        "| side | highest passing/s | lowest failing/s | steps (offered/s: p99 ms) | note |",
        "|---|---:|---:|---|---|",
    ]
    for side in SIDES:
        s = found[side]
        steps = ", ".join(f"{st['rate']:g}: {_n(st['p99_ms'])}" for st in s["steps"]) or "-"
        lines.append(
            f"| {side} | {_n(s['highest_rate_per_s'])} | {_n(s['lowest_failing_rate_per_s'])} "
            f"| {steps} | {s['note'] or ''} |"
        )
    return [*lines, ""]


def _saturation(results: dict[str, Any]) -> list[str]:
    sat = results.get("saturation")
    if not sat:
        return []
    opts = results["options"]
    lines = [
        "## Sustained throughput",
        "",
        f"Closed loop with {opts['saturation_in_flight']} deliveries outstanding, "
        f"{opts['saturation_seconds']:g} s, median of {opts['rounds']} round(s).",
        "",
        "| side | done/s | p50 ms | p99 ms | errors | server CPU ms/delivery | server CPU share |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for side in SIDES:
        m = sat[side]
        lines.append(
            f"| {side} | {_n(m['throughput_per_s'])} | {_n(m['p50_ms'])} | {_n(m['p99_ms'])} "
            f"| {m['errors']} | {_n(m['server_cpu_ms_per_delivery'])} "
            f"| {_n(m['server_cpu_share'])} |"
        )
    return [*lines, ""]


def _setup(results: dict[str, Any]) -> list[str]:
    opts, machine = results["options"], results["machine"]
    packages = ", ".join(f"{k} {v}" for k, v in machine["packages"].items())
    return [
        "## Setup",
        "",
        f"- App: `inbox serve` (one uvicorn worker), embedded default: SQLite file and "
        f"channels' in-process layer; {opts['channel']} webhook, correctly signed; "
        f"{opts['sockets']} agent sockets on `/api/v1/stream`.",
        "- Floor (`bench/webhook_floor.py`): bare Starlette route under the same uvicorn "
        "settings; one raw INSERT through aiosqlite, committed, then one `group_send` on "
        f"the same in-process layer, fanned out to {opts['sockets']} sockets on `/ws`.",
        f"- Generator (`bench/webhook_load.py`): its own process, open loop, up to "
        f"{opts['max_in_flight']} keep-alive connections; every delivery has a new id; "
        f"{opts['new_share']:.0%} from new customers, the rest from returning ones.",
        f"- Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB; "
        f"{machine['os']}; Python {machine['python']}, SQLite {machine['sqlite']}; {packages}.",
        f"- {machine['note']}",
        f"- Run: {machine['date']}, {results.get('seconds', 0):g} s, "
        f"`python -m bench.webhook_ingest {results.get('command', '')}`.",
        "",
    ]


def render(results: dict[str, Any]) -> str:
    lines = ["# Webhook ingest: the app against a raw insert + publish floor", ""]
    lines += _verdict(results)
    lines.append("")
    lines += _rates(results) + _search(results) + _saturation(results) + _setup(results)
    return "\n".join(lines).rstrip() + "\n"
