"""The results as a Markdown page: verdict, figures, where the time goes, plans."""

from __future__ import annotations

from typing import Any

from bench.phases import QUERY_FUNCTIONS
from bench.workload import HTTP_ONLY, PATHS, TARGET_PATHS

TARGET_P99_MS = 20.0
TARGET_GROWTH = 1.2


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.2f}x"


def _stat(block: dict[str, Any] | None, key: str) -> float | None:
    return None if not block else block.get(key)


def _http(scale: dict[str, Any], workers: str, path: str) -> dict[str, Any] | None:
    paths: dict[str, Any] = scale.get("http", {}).get(workers, {}).get("paths", {})
    return paths.get(path)


def _verdict(results: dict[str, Any], labels: list[str], workers: str) -> list[str]:
    scales = results["scales"]
    base, top = scales[labels[0]], scales[labels[-1]]
    growth_label = f"{labels[-1]}/{labels[0]}"
    lines = [
        f"| Path | HTTP p99 at {labels[-1]} | p99 ≤ {TARGET_P99_MS:.0f} ms | "
        f"{growth_label} p50 | {growth_label} p99 | ≤ {TARGET_GROWTH}x | "
        f"p99 of one client alone at {labels[-1]} |",
        "|---|---:|:-:|---:|---:|:-:|---:|",
    ]
    for path in TARGET_PATHS:
        now, then = _http(top, workers, path), _http(base, workers, path)
        p99 = _stat(now, "p99_ms")
        ok_p99 = "-" if p99 is None else ("met" if p99 <= TARGET_P99_MS else "**not met**")
        g50 = _growth(now, then, "p50_ms")
        g99 = _growth(now, then, "p99_ms")
        if g50 is None or g99 is None or len(labels) < 2:
            ok_growth = "-"
        else:
            ok_growth = "met" if max(g50, g99) <= TARGET_GROWTH else "**not met**"
        rows_then = base.get("workload", {}).get("rows_per_response", {}).get(path)
        rows_now = top.get("workload", {}).get("rows_per_response", {}).get(path)
        if rows_then and rows_now and rows_then < 0.9 * rows_now:
            ok_growth += f" ({rows_then:g} vs {rows_now:g} rows)"
        alone = top.get("http", {}).get(workers, {}).get("alone", {}).get(path)
        lines.append(
            f"| {PATHS[path]} | {_ms(p99)} ms | {ok_p99} | {_fmt_growth(g50)} | "
            f"{_fmt_growth(g99)} | {ok_growth} | {_ms(_stat(alone, 'p99_ms'))} ms |"
        )
    return lines


def _growth(now: dict[str, Any] | None, then: dict[str, Any] | None, key: str) -> float | None:
    a, b = _stat(now, key), _stat(then, key)
    return None if a is None or not b else a / b


def _fmt_growth(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _rows_note(results: dict[str, Any], labels: list[str]) -> list[str]:
    """Say so when the small scale's pages are shorter: its figures then did less work."""
    first = results["scales"][labels[0]].get("workload", {}).get("rows_per_response", {})
    last = results["scales"][labels[-1]].get("workload", {}).get("rows_per_response", {})
    short = [
        f"{PATHS[p]} {first[p]} rows against {last[p]}"
        for p in TARGET_PATHS
        if p in first and p in last and first[p] < 0.9 * last[p]
    ]
    if len(labels) < 2 or not short:
        return []
    return [
        "",
        f"Mind the rows: at {labels[0]} some responses are shorter ({'; '.join(short)}), "
        f"because small inboxes there hold fewer open conversations than a page. Those "
        f"{labels[-1]}/{labels[0]} ratios compare a full page with a short one, so they "
        "overstate the growth that the data size alone causes.",
    ]


def _figures(results: dict[str, Any], labels: list[str]) -> list[str]:
    scales = results["scales"]
    base = scales[labels[0]]
    growth = f"{labels[-1]}/{labels[0]}"
    lines = [
        "| Scale | Path | Rows | Workers | HTTP p50 | HTTP p99 | HTTP req/s | SQL p50 | SQL p99 | "
        f"HTTP/SQL p50 | HTTP/SQL p99 | {growth} HTTP p50 | {growth} HTTP p99 |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label in labels:
        scale = scales[label]
        worker_sets = sorted(scale.get("http", {})) or ["-"]
        rows = scale.get("workload", {}).get("rows_per_response", {})
        for path, title in {**HTTP_ONLY, **PATHS}.items():
            sql = scale.get("sql", {}).get(path)
            for workers in worker_sets:
                http = _http(scale, workers, path)
                if http is None and sql is None:
                    continue
                then = _http(base, workers, path)
                lines.append(
                    f"| {label} | {title} | {rows.get(path, '-')} | {workers} | "
                    f"{_ms(_stat(http, 'p50_ms'))} | "
                    f"{_ms(_stat(http, 'p99_ms'))} | {_stat(http, 'per_second') or '-'} | "
                    f"{_ms(_stat(sql, 'p50_ms'))} | {_ms(_stat(sql, 'p99_ms'))} | "
                    f"{_ratio(_stat(http, 'p50_ms'), _stat(sql, 'p50_ms'))} | "
                    f"{_ratio(_stat(http, 'p99_ms'), _stat(sql, 'p99_ms'))} | "
                    f"{'' if label == labels[0] else _fmt_growth(_growth(http, then, 'p50_ms'))} | "
                    f"{'' if label == labels[0] else _fmt_growth(_growth(http, then, 'p99_ms'))} |"
                )
    return lines


def _cpu(block: dict[str, Any] | None, meter: str) -> float | None:
    return None if not block else block.get("cpu_ms_per_request", {}).get(meter)


def _others(block: dict[str, Any] | None) -> float | None:
    """Machine CPU per request that neither the app, the database nor the client used."""
    machine = _cpu(block, "machine")
    if machine is None:
        return None
    ours = sum(_cpu(block, m) or 0.0 for m in ("server", "database", "client"))
    return max(0.0, machine - ours)


def _breakdown(results: dict[str, Any], labels: list[str]) -> list[str]:
    lines = [
        "| Scale | Path | HTTP p50 | HTTP p50, one client alone | app CPU | database CPU | "
        "client CPU | others' CPU | the request's SQL, raw, p50 | "
        "indexed statement, raw, p50 |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label in labels:
        scale = results["scales"][label]
        alone_paths = scale.get("http", {}).get("1", {}).get("alone", {})
        for path, title in {**HTTP_ONLY, **PATHS}.items():
            http = _http(scale, "1", path)
            alone = alone_paths.get(path)
            whole = _stat(scale.get("sql_request", {}).get(path), "p50_ms")
            single = _stat(scale.get("sql", {}).get(path), "p50_ms")
            lines.append(
                f"| {label} | {title} | {_ms(_stat(http, 'p50_ms'))} | "
                f"{_ms(_stat(alone, 'p50_ms'))} | {_ms(_cpu(http, 'server'))} | "
                f"{_ms(_cpu(http, 'database'))} | {_ms(_cpu(http, 'client'))} | "
                f"{_ms(_others(http))} | {_ms(whole)} | {_ms(single)} |"
            )
    return lines


def _phases(results: dict[str, Any], labels: list[str]) -> list[str]:
    lines: list[str] = []
    for label in labels:
        for path, parts in results["scales"][label].get("phases", {}).items():
            if not lines:
                names = list(parts)
                lines += [
                    "| Scale | Path | " + " | ".join(names) + " |",
                    "|---|---|" + "---:|" * len(names),
                ]
            cells = " | ".join(f"{p['cpu_ms']:.2f} ({p['wall_ms']:.2f})" for p in parts.values())
            lines.append(f"| {label} | {PATHS[path]}: {QUERY_FUNCTIONS[path]} | {cells} |")
    return lines


def _plans(results: dict[str, Any], labels: list[str]) -> list[str]:
    lines: list[str] = []
    for label in labels:
        for path, plan in results["scales"][label].get("plans", {}).items():
            used = "uses" if plan["uses_index"] else "does **not** use"
            sort = "; sorts outside the index" if plan["sorts"] else ""
            lines += [
                f"**{label}, {PATHS[path]}**: {used} {plan['expected_index']}{sort}.",
                "",
                "```",
                plan["plan"],
                "```",
                "",
            ]
    return lines


def _api_notes(results: dict[str, Any], labels: list[str]) -> list[str]:
    notes = []
    for label in labels:
        for workers, block in results["scales"][label].get("http", {}).items():
            if block.get("api") == "missing":
                notes.append(
                    f"- {label}, {workers} worker(s): the API endpoints answered 404 "
                    "(not implemented yet), so there are no HTTP figures."
                )
            notes += [f"- {label}, {workers} worker(s): {p}" for p in block.get("problems", [])]
    return notes


def render(results: dict[str, Any]) -> str:
    machine = results["machine"]
    config = results["config"]
    labels = list(results["scales"])
    backend = {"sqlite": "SQLite", "postgres": "PostgreSQL"}[results["backend"]]
    lines = [
        f"# Read paths on {backend}",
        "",
        f"Generated by `python -m bench.read_paths --backend {results['backend']} "
        f"--scales {','.join(labels)}` on {machine['date']}.",
        "",
        f"- Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB RAM; "
        f"{machine['os']}",
        f"- Python {machine['python']}, SQLite {machine['sqlite']}, "
        f"PostgreSQL {machine['postgresql'] or 'not reachable'}; "
        + ", ".join(f"{k} {v}" for k, v in machine["packages"].items()),
        f"- Load: closed loop, {config['concurrency']} concurrent clients with keep-alive, "
        f"{config['warmup']} warm-up then {config['requests']} timed requests per figure "
        f"(at most {config['time_limit_s']:.0f} s); server workers: "
        f"{', '.join(map(str, config['workers']))}.",
        "",
        f"> {machine['note']}",
        "",
        "## Target",
        "",
        f"The issue asks for p99 ≤ {TARGET_P99_MS:.0f} ms for the inbox list and the timeline "
        f"at 1M messages, and at most {TARGET_GROWTH}x slower at 1M than at 10k. "
        "Judged on HTTP figures with one server worker:",
        "",
        *_verdict(results, labels, "1"),
        "",
        *_api_notes(results, labels),
        *_rows_note(results, labels),
        "",
        "## Figures (milliseconds)",
        "",
        "HTTP: the real app under `inbox serve --no-migrate`, timed by an httpx client. "
        "SQL: the same indexed statement with the same parameters, run raw "
        "(asyncpg / aiosqlite) at the same concurrency.",
        "",
        *_figures(results, labels),
        "",
        "## Where the HTTP time goes",
        "",
        'One server worker, milliseconds. "One client alone" is the same path at '
        'concurrency 1: the time of a request with no queue. "App CPU" is the CPU the '
        "server's processes spent per request (on SQLite it includes the queries, which "
        "run in-process; on PostgreSQL the database's own CPU is not in it). With one "
        "worker the server handles at most 1000 / (app CPU) requests a second, and a "
        'closed loop of 10 clients then waits about 10 x app CPU per request. "The '
        "request's SQL\" runs every statement one API request sends (token lookup, "
        "visible inboxes, the page, selectin loads) raw, one after another.",
        "",
        *_breakdown(results, labels),
        "",
        "In-process, one request at a time (bench/phases.py): the app built with "
        "`create_app` and driven through ASGI directly, and its parts timed alone. "
        "CPU ms per request (wall ms in brackets). Token lookup runs in its own "
        "session, as AuthMiddleware does; the query functions are inbox/queries.py's; "
        '"to JSON response" is the endpoint\'s pydantic models and JSONResponse.',
        "",
        *_phases(results, labels),
        "",
        "## Query plans",
        "",
        *_plans(results, labels),
        "## Data",
        "",
    ]
    for label in labels:
        seed = results["scales"][label].get("seed", {})
        workload = results["scales"][label].get("workload", {})
        deep = ", ".join(
            f"inbox {d['inbox_id']} page {d['page']}" for d in workload.get("deep_pages", [])
        )
        lines.append(
            f"- {label}: {seed.get('counts')} (seeded in {seed.get('seconds')} s); "
            f"deep pages: {deep}; {workload.get('typical_customers')} typical and "
            f"{workload.get('long_timeline_customers')} long-timeline customers."
        )
    return "\n".join(lines) + "\n"
