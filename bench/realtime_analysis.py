"""The analysis sections of the realtime report: where the time goes, processes, layers."""

from __future__ import annotations

from typing import Any

from bench.realtime_format import fmt, latency_of, ratio, setups_of, times


def where_time_goes(results: dict[str, Any]) -> list[str]:
    lines = [
        "Server CPU split into the trigger's own cost (measured with no socket open) and "
        "the cost of each delivery (the CPU per event at the largest latency socket count, "
        "less the trigger's, divided by the sockets).",
        "",
        "| Setup | Trigger alone: round trip p50 | Trigger alone: server CPU per event | "
        "Per delivery (CPU) | Sockets at which fan-out CPU equals the trigger's |",
        "|---|---:|---:|---:|---:|",
    ]
    for s in setups_of(results):
        ingest = s.get("ingest")
        latency = s.get("latency", {})
        if not ingest or not latency:
            continue
        top = max(latency, key=int)
        per_event = latency[top]["server_cpu_ms_per_event"]
        alone = ingest["server_cpu_ms_per_event"]
        per_delivery = max(0.0, (per_event - alone) * 1000 / int(top)) if int(top) else None
        even = alone * 1000 / per_delivery if per_delivery else None
        lines.append(
            f"| {s['key']} | {fmt(ingest['trigger']['p50_ms'], 2)} ms | {fmt(alone, 2)} ms | "
            f"{fmt(per_delivery)} µs | {fmt(even, 0)} |"
        )
    profiled = [s for s in setups_of(results) if s.get("profile")]
    if profiled:
        labels: list[str] = []
        for s in profiled:
            labels += [k for k in s["profile"] if isinstance(s["profile"][k], float)]
        labels = list(dict.fromkeys(k for k in labels if k not in ("rate_per_s",)))
        lines += [
            "",
            "py-spy on the first server process, at the fan-out socket count and 2 events/s "
            "(a separate phase after the figures): share of the event loop's busy samples.",
            "",
            "| Where | " + " | ".join(s["key"] for s in profiled) + " |",
            "|---|" + "---:|" * len(profiled),
        ]
        for label in labels:
            cells = " | ".join(
                f"{100 * s['profile'][label]:.0f}%" if label in s["profile"] else "-"
                for s in profiled
            )
            lines.append(f"| {label} | {cells} |")
    return lines


def process_split(results: dict[str, Any]) -> list[str]:
    """Multi-process setups: sockets on the process that took the POST, and the others."""
    lines = [
        "| Setup | Sockets | same process p50 | p99 | other process p50 | p99 | "
        "other - same, p50 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s in setups_of(results):
        if s["processes"] < 2:
            continue
        for sockets, block in s.get("latency", {}).items():
            same, other = block.get("same_process", {}), block.get("other_process", {})
            gap = None
            if same.get("p50_ms") is not None and other.get("p50_ms") is not None:
                gap = other["p50_ms"] - same["p50_ms"]
            lines.append(
                f"| {s['key']} | {sockets} | {fmt(same.get('p50_ms'))} | "
                f"{fmt(same.get('p99_ms'))} | {fmt(other.get('p50_ms'))} | "
                f"{fmt(other.get('p99_ms'))} | {fmt(gap)} |"
            )
    return lines if len(lines) > 2 else []


LAYER_NOTES = """How the layers are used here: each process joins the events group once and
fans out locally, so a layer carries **one message per event per process**,
never one per socket. Pub/sub sends an event with one `PUBLISH` and each
process reads it from its one subscription. The list layer's `group_send`
takes a `ZRANGE` of the group, a pipeline of `ZREMRANGEBYSCORE` and an
`EVAL` (three round trips), and each receive an `EVAL`, a `BZPOPMIN` and a
`ZADD` plus a `ZPOPMIN` for the in-flight backup (about four). Every round
trip is an `await` on an event loop that is busy fanning out to sockets, so
where the list layer costs latency it is on the events that cross processes
(the "other process" columns above), and most under bursts such as claims.
Its strengths, persistence and per-channel capacity, buy nothing here: the
outbox is the source of truth and the hub reads any gap back from it."""


def layers(results: dict[str, Any]) -> list[str]:
    setups = results["setups"]
    pubsub, lst = setups.get("pubsub"), setups.get("list")
    if not pubsub or not lst or "failed" in pubsub or "failed" in lst:
        return ["Both Redis setups are needed for this comparison (`--configs pubsub,list`)."]
    rows: list[tuple[str, float | None, float | None]] = []
    for sockets in pubsub.get("latency", {}):
        for key in ("p50_ms", "p99_ms"):
            rows.append(
                (
                    f"POST to frame {key[:3]} at {sockets} sockets (ms)",
                    latency_of(pubsub, sockets).get(key),
                    latency_of(lst, sockets).get(key),
                )
            )
    rows.append(
        (
            "claim to viewers p99 (ms)",
            pubsub.get("claim", {}).get("p99_ms"),
            lst.get("claim", {}).get("p99_ms"),
        )
    )
    lines = [
        "| Figure | RedisPubSubChannelLayer | RedisChannelLayer | list / pubsub |",
        "|---|---:|---:|---:|",
    ]
    lower_wins = 0
    for label, a, b in rows:
        lines.append(f"| {label} | {fmt(a)} | {fmt(b)} | {times(ratio(b, a))} |")
        if a is not None and b is not None and a <= b:
            lower_wins += 1
    fa, fb = pubsub.get("fanout", {}), lst.get("fanout", {})
    da, db = fa.get("deliveries_per_s_per_worker"), fb.get("deliveries_per_s_per_worker")
    lines.append(
        f"| deliveries/s per worker at {fa.get('sockets', '-')} sockets (higher is better) | "
        f"{fmt(da, 0)} | {fmt(db, 0)} | {times(ratio(db, da))} |"
    )
    verdict = (
        "agree with the default (pub/sub)"
        if lower_wins * 2 > len(rows)
        else "do **not** favour the default (pub/sub)"
    )
    lines += [
        "",
        f"Pub/sub was as fast or faster on {lower_wins} of {len(rows)} latency figures: "
        f"the figures {verdict}.",
        "",
        LAYER_NOTES,
    ]
    return lines
