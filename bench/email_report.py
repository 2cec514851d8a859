"""The email sync benchmark's page: verdict, figures, where the time goes, from the JSON.

python -m bench.email_report bench/results/email-sync.json   # renders the .md again
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench.machine import NOTE

PER_MESSAGE_TARGET = 20.0  # the app at least this many times the one-FETCH-per-message rate
PARSE_TARGET = 0.6  # the app at least this share of the stdlib parse rate
POLL_TARGET_MS = 10.0


def _rate(v: float | None) -> str:
    return "-" if v is None else f"{v:,.1f} msg/s"


def _x(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "-"
    return f"{a / b:.2f}x"


def _met(ok: bool | None) -> str:
    if ok is None:
        return "-"
    return "met" if ok else "**not met**"


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:,.1f} ms"


def _verdict(r: dict[str, Any]) -> list[str]:
    rows = [
        "| Figure | App | Baseline (same run) | App / baseline | Target | Met? |",
        "|---|---:|---:|---:|---|:-:|",
    ]
    app = r.get("app", {})
    per = r.get("per_message", {})
    batched = r.get("batched", {})
    parse = r.get("parse", {}).get("per_second")
    for key, ep in (("sqlite-20ms", "20ms"), ("sqlite-loopback", "loopback")):
        if key not in app or ep not in per:
            continue
        a, b = app[key]["per_second"], per[ep]["per_second"]
        sampled = (
            f", extrapolated from {per[ep]['fetched']:,}" if per[ep].get("extrapolated") else ""
        )
        target = f"≥ {PER_MESSAGE_TARGET:.0f}x" if ep == "20ms" else "reported"
        ok = a / b >= PER_MESSAGE_TARGET if ep == "20ms" else None
        rows.append(
            f"| App end to end (SQLite) vs one FETCH per message, {_link(r, ep)} | {_rate(a)} | "
            f"{_rate(b)}{sampled} | **{_x(a, b)}** | {target} | {_met(ok)} |"
        )
    for key in ("sqlite-loopback", "sqlite-20ms", "postgres-loopback"):
        if key not in app or not parse:
            continue
        a = app[key]["per_second"]
        ok = a / parse >= PARSE_TARGET if key != "sqlite-20ms" else None
        target = f"≥ {PARSE_TARGET}x" if key != "sqlite-20ms" else "reported"
        what = _setup(r, key)
        rows.append(
            f"| App end to end ({what}) vs stdlib parse alone | {_rate(a)} | {_rate(parse)} | "
            f"**{_x(a, parse)}** | {target} | {_met(ok)} |"
        )
    for key, ep in (("sqlite-loopback", "loopback"), ("sqlite-20ms", "20ms")):
        if key in app and ep in batched:
            a, b = app[key]["per_second"], batched[ep]["per_second"]
            rows.append(
                f"| App end to end (SQLite) vs raw batched FETCH, {_link(r, ep)} | {_rate(a)} | "
                f"{_rate(b)} | {_x(a, b)} | reported | - |"
            )
    bare = r.get("bare_polls", {})
    for key, ep in (
        ("sqlite-loopback", "loopback"),
        ("sqlite-20ms", "20ms"),
        (
            "postgres-loopback",
            "loopback",
        ),
    ):
        if key not in app or "polls" not in app[key] or ep not in bare:
            continue
        p = app[key]["polls"]
        floor = bare[ep]["examine_ms"]
        if ep == "loopback":
            met: bool | None = p["median"] <= POLL_TARGET_MS and p["p99"] <= POLL_TARGET_MS
            target = f"≤ {POLL_TARGET_MS:.0f} ms (median and p99)"
        else:
            met, target = None, "reported (1 round trip)"
        rows.append(
            f"| Poll with no changes ({_setup(r, key)}): median / p99, "
            f"{p['imap_commands_per_poll']:g} IMAP round trip(s) | "
            f"{_ms(p['median'])} / {_ms(p['p99'])} | bare EXAMINE {_ms(floor['median'])} / "
            f"{_ms(floor['p99'])} | {_x(p['median'], floor['median'])} | {target} | {_met(met)} |"
        )
    for pair, block in r.get("idle", {}).items():
        for ep, e in block["endpoints"].items():
            f, x = e["frame_ms"], e["exists_ms"]
            if not f.get("n"):
                continue
            rows.append(
                f"| IDLE to screen: APPEND → `message.created` frame ({_pair(pair)}, "
                f"{_link(r, ep)}): median / p99 | {_ms(f['median'])} / {_ms(f['p99'])} | "
                f"bare IDLE EXISTS {_ms(x['median'])} / {_ms(x['p99'])} | "
                f"{_x(f['median'], x['median'])} | reported | - |"
            )
    return rows


def _link(r: dict[str, Any], ep: str) -> str:
    if ep == "loopback":
        return "loopback"
    delay = r.get("options", {}).get("delay_ms", 10)
    return f"{2 * delay:g} ms RTT"


def _pair(pair: str) -> str:
    return "serve + worker, Redis" if pair == "redis" else "serve + worker, no Redis"


def _setup(r: dict[str, Any], key: str) -> str:
    a = r["app"][key]
    backend = "SQLite" if a["backend"] == "sqlite" else "PostgreSQL"
    scope = "" if a["expected"] == r["corpus"]["messages"] else f", {a['expected']:,} messages"
    return f"{backend}, {_link(r, a['endpoint'])}{scope}"


def render(r: dict[str, Any]) -> str:
    o = r["options"]
    m = r["machine"]
    c = r["corpus"]
    pk = m["packages"]
    out = [
        "# Email sync: a Dovecot mailbox into the app, beside bare baselines",
        "",
        "## How to run",
        "",
        "```sh",
        ".venv/bin/python -m bench.email_sync              # full run: 20,000 messages, ~15 min",
        ".venv/bin/python -m bench.email_sync --quick      # 2,000 messages, ~3 min",
        ".venv/bin/python -m bench.email_sync --messages 5000 --no-postgres --no-idle",
        "```",
        "",
        "Needs `dovecot` (`apt-get install -y dovecot-imapd`; a private instance on a free "
        "loopback port is started and killed, as the tests do), `redis-server` for the Redis "
        "half of the IDLE figure (skipped without it, or with `--no-redis`), and PostgreSQL "
        "at `127.0.0.1:5432` (user `postgres`, trust auth) for the PostgreSQL figure: the "
        "scratch database `email_bench` is created when missing and **emptied** by each run "
        "(`--pg DSN` to change, `--no-postgres` to skip). Other flags: `--messages N`, "
        "`--delay-ms MS` (one way), `--per-message-sample N`, `--pg-messages N`, "
        "`--profile-messages N`, `--polls N`, `--idle-messages N`, `--no-idle`, `--seed N`, "
        "`--out PATH`. With py-spy at `/tmp/pyspy/bin/py-spy` or on PATH (`pip install "
        "--target /tmp/pyspy py-spy`), the instrumented run's main process is also sampled "
        "(not the parse workers). Logs and the "
        "py-spy profile go to `bench/data/email/` (gitignored); `python -m "
        "bench.email_report bench/results/email-sync.json` renders this page again.",
        "",
        "## This run",
        "",
        f"- Command: `{r.get('command', '')}`",
        f"- {m['date']}, {r.get('seconds', 0):.0f} s. Machine: {m['cpu']}, {m['cores']} cores, "
        f"{m['memory_gib']} GiB; {m['os']}; Python {m['python']}, SQLite {m['sqlite']}, "
        f"PostgreSQL {m.get('postgresql') or '-'}, {m.get('dovecot', '?')}; "
        + ", ".join(f"{k} {v}" for k, v in pk.items())
        + ".",
        f"- Mailbox: {c['messages']:,} messages, {c['bytes'] / 2**20:,.1f} MiB as served "
        f"(CRLF); sizes p10 {c['size_p10'] / 1024:.1f} KiB, median "
        f"{c['size_median'] / 1024:.1f} KiB, p90 {c['size_p90'] / 1024:.1f} KiB, max "
        f"{c['size_max'] / 1024:.1f} KiB; "
        + ", ".join(f"{v:,} {k}" for k, v in sorted(c["kinds"].items()))
        + f"; {c['replies']:,} replies (In-Reply-To and References) in {c['conversations']:,} "
        f"threads from {c['senders']} senders. Seeded by writing Maildir files "
        f"({c['write_seconds']} s) and one SELECT for Dovecot to index them "
        f"({c['index_seconds']} s); see `bench/email_corpus.py`.",
        f"- Links: loopback (NOOP round trip median {r['rtt']['loopback']['median']} ms) and "
        f"through `bench/email_proxy.py`, {o['delay_ms']:g} ms each way (NOOP median "
        f"{r['rtt']['20ms']['median']} ms). Batches: {r['batched']['loopback']['batch_messages']} "
        "messages per FETCH, the app's MailboxSync default, for the app and the batched "
        "baseline alike.",
        "",
        f"> {NOTE}",
        "",
        "## Verdict",
        "",
        *_verdict(r),
        "",
        *_reading(r),
        "",
        *_details(r),
        "",
    ]
    return "\n".join(out)


def _reading(r: dict[str, Any]) -> list[str]:
    app = r.get("app", {})
    lines = []
    per = r.get("per_message", {}).get("20ms")
    if per and per.get("extrapolated"):
        lines.append(
            f"- One FETCH per message at 20 ms RTT was measured on {per['fetched']:,} messages "
            f"spread evenly over the folder; the rate is theirs, and the whole folder's time "
            f"({per['seconds']:,.0f} s) is extrapolated from it (plus the measured login and "
            f"SEARCH)."
        )
    if "postgres-loopback" in app:
        pg = app["postgres-loopback"]
        lines.append(
            f"- PostgreSQL took the first {pg['expected']:,} messages of the same mailbox (the "
            "whole mailbox in both SQLite runs), to keep the run's length in bounds."
        )
    halves = [
        f"{_setup(r, key)}: {a['first_half_per_second']:,.1f} msg/s over the first half of the "
        f"messages, {a['second_half_per_second']:,.1f} over the second "
        f"({100 * (a['second_half_per_second'] / a['first_half_per_second'] - 1):+.0f}%)"
        for key, a in app.items()
        if "first_half_per_second" in a
    ]
    if halves:
        lines.append(
            "- Does the rate drift as the database grows? From the checkpoint's progress: "
            + "; ".join(halves)
            + "."
        )
    lines.append(
        "- Messages/s are the whole operation's: connect and log in to the last commit (app) or "
        "last byte (baselines)."
    )
    lines += _in_short(r)
    return lines


def _in_short(r: dict[str, Any]) -> list[str]:
    """What the figures say together, computed from them (so a re-render stays true)."""
    app = r.get("app", {})
    lo, slow = app.get("sqlite-loopback"), app.get("sqlite-20ms")
    b = r.get("breakdown")
    if not lo or not slow or not b:
        return []
    lines = ["", "In short:", ""]
    imap = r.get("app_imap", {})
    if "loopback" in imap and "20ms" in imap:
        alone_lo, alone_slow = imap["loopback"]["per_second"], imap["20ms"]["per_second"]
        # IMAP alone at least twice the end-to-end rate on the slow link: not what limits it.
        head = (
            "The sync is bound by the app's own work, not by IMAP"
            if alone_slow >= 2 * slow["per_second"]
            else "IMAP is close to what limits the sync"
        )
        ratio = slow["per_second"] / lo["per_second"]
        links = (
            "the two links give about the same rate"
            if abs(ratio - 1) <= 0.15
            else f"the 20 ms link runs at {100 * ratio:.0f}% of loopback's rate"
        )
        lines.append(
            f"- {head}: its MailboxSync alone moves {alone_lo:,.0f} msg/s at loopback and "
            f"{alone_slow:,.0f} at 20 ms RTT, and end to end {links} "
            f"({lo['per_second']:,.1f} and {slow['per_second']:,.1f} msg/s). "
            + _cpu_used(lo, r["machine"].get("cores"))
        )
    per = r.get("per_message", {}).get("20ms")
    if per:
        need = PER_MESSAGE_TARGET * per["per_second"]
        ceiling = r["batched"]["20ms"]["per_second"]
        if slow["per_second"] >= need:
            tail = "the app is there."
        elif ceiling >= need:
            tail = (
                f"batching takes the link out of the way (the transport ceiling there is "
                f"{ceiling:,.0f} msg/s): the app's own work is what stands between it and "
                "the target."
            )
        else:
            tail = f"even the transport ceiling there ({ceiling:,.0f} msg/s) falls short of it."
        lines.append(
            f"- {PER_MESSAGE_TARGET:.0f}x the one-FETCH-per-message rate at 20 ms RTT would be "
            f"{need:,.0f} msg/s, {1000 / need:.2f} ms per message end to end; the app "
            f"spends {1000 / slow['per_second']:.1f} ms; " + tail
        )
    parse = r.get("parse", {}).get("per_second")
    if parse:
        need_ms = 1000 / (PARSE_TARGET * parse)
        lines.append(
            f"- {PARSE_TARGET}x the stdlib parse rate would be {PARSE_TARGET * parse:,.0f} "
            f"msg/s, {need_ms:.2f} ms per message for everything. " + _costs(r, b, parse)
        )
    return lines


def _cores(n: float) -> str:
    return f"{n:g} core" + ("" if n == 1 else "s")


def _cpu_used(a: dict[str, Any], machine_cores: int | None) -> str:
    """The CPU an end-to-end figure cost, split between the app's processes when known."""
    of = f" of the machine's {machine_cores}" if machine_cores else ""
    if "workers_cpu_ms_per_message" not in a:  # results from before the parse pool
        return (
            f"The app process used {a['app_cpu_ms_per_message']:.1f} ms of CPU per message, "
            f"{_cores(a['app_cpu_cores'])}{of} while syncing."
        )
    return (
        f"The app used {a['app_cpu_ms_per_message']:.1f} ms of CPU per message at loopback, "
        f"{_cores(a['app_cpu_cores'])}{of} while syncing: "
        f"{a['main_cpu_ms_per_message']:.1f} ms in its main process (event loop, IMAP and "
        f"SQLite threads), {a['workers_cpu_ms_per_message']:.1f} ms in "
        f"{_workers(a.get('parse_workers', 0))}."
    )


def _workers(n: int) -> str:
    if not n:
        return "no parse worker process (parsing ran in threads)"
    return f"its {n} parse worker process" + ("" if n == 1 else "es")


def _commits(b: dict[str, Any]) -> str:
    c = b.get("commits_per_message")
    p = b.get("pipeline")
    if c is None:
        return ""
    if not p or not p.get("batches") or c >= 0.5:
        return f"{c:g} commits per message"
    per_batch = c * b["stored"] / p["batches"]
    return f"{per_batch:.1f} commits per batch of about {b['stored'] / p['batches']:.0f} messages"


def _pace(b: dict[str, Any], short: bool = False) -> str:
    """Which side of the pipeline set the pace, from how busy each was."""
    p = b["pipeline"]
    store, waited = p["store_busy_share"], p["store_waited_share"]
    fetch, room = p["fetch_busy_share"], p.get("fetch_waited_share", 0.0)
    said = (
        f"after the first batch, the store loop was busy {100 * store:.0f}% of the time and "
        f"waited for a parsed batch {100 * waited:.0f}%; the fetch side was busy "
        f"{100 * fetch:.0f}% and waited for room in the parse pool {100 * room:.0f}%"
    )
    if abs(store - waited) < 0.1:
        return f"Storing and parsing were about evenly matched: {said}."
    what = {"storing": "Storing", "parsing": "Parsing", "IMAP": "Fetching from the server"}[
        p["bottleneck"]
    ]
    if short:
        return f"{what} set the pace: {said} (see Where the time goes)."
    if p["bottleneck"] == "storing":
        advice = (
            "Faster parsing would not speed this sync up; faster storing would, until "
            "parsing catches up."
        )
    elif p["bottleneck"] == "parsing":
        advice = (
            "The pool was full and the store loop starved: more parse workers (cores) or a "
            "cheaper parse would speed the sync up, until storing catches up."
        )
    else:
        advice = "The store loop starved for the server's bytes."
    return f"{what} set the pace: {said}. {advice}"


def _costs(r: dict[str, Any], b: dict[str, Any], parse: float) -> str:
    """Where the instrumented run's time went, in a sentence or two."""
    if "pipeline" not in b:  # results from before the pipeline: the steps added up
        top = sorted(
            ((k.strip(), v) for k, v in b["steps"].items() if not k.startswith(" ")),
            key=lambda kv: -kv[1]["ms_per_message"],
        )[:3]
        return (
            "The instrumented run's biggest steps: "
            + ", ".join(f"{k} {v['ms_per_message']:.1f} ms" for k, v in top)
            + f" per message ({b.get('sql_statements_per_message', '?')} SQL statements and "
            f"{_commits(b)})."
        )
    steps, cpu = b["steps"], b.get("cpu", {})

    def ms(label: str) -> float:
        return float(next(v["ms_per_message"] for k, v in steps.items() if label in k))

    app_parser = r.get("app_parser", {}).get("per_second")
    alone = (
        f" (the app's `parse_email` alone, in one process, takes {1000 / app_parser:.1f} ms, "
        f"against {1000 / parse:.1f} for the ceiling's `policy=default` parse: it reads the "
        "structure with the faster `compat32` policy and decodes only the headers it uses)"
        if app_parser
        else ""
    )
    return (
        f"In the instrumented run ({b['per_second']:,.1f} msg/s, "
        f"{1000 * b['seconds'] / max(b['stored'], 1):.1f} ms per message) storing and "
        f"parsing overlap: storing took {ms('ingest_batch'):.1f} ms per message in "
        f"`ingest_batch` ({b.get('sql_statements_per_message', '?')} SQL statements per "
        f"message, {_commits(b)}); parsing took {ms('normalise_batch'):.1f} ms per message from "
        "hand-off to parsed and its blobs durable in `normalise_batch`, batches side by side, "
        f"with {cpu.get('workers_ms_per_message', 0):.1f} ms of CPU per "
        f"message in {_workers(cpu.get('parse_workers', 0))}{alone}. " + _pace(b, short=True)
    )


def _details(r: dict[str, Any]) -> list[str]:
    out = ["## Throughput", ""]
    out += [
        "| What | Link | Messages | Seconds | Messages/s | Notes |",
        "|---|---|---:|---:|---:|---|",
    ]
    for a in r.get("app", {}).values():
        db = a.get("database_cpu_ms_per_message")
        split = (
            f": main process {a['main_cpu_ms_per_message']:.2f}, {a['parse_workers']} parse "
            f"worker(s) {a['workers_cpu_ms_per_message']:.2f}"
            if "workers_cpu_ms_per_message" in a
            else ""
        )
        notes = (
            f"app CPU {a['app_cpu_ms_per_message']:.2f} ms/msg ({a['app_cpu_cores']} cores busy"
            f"{split}); "
            f"Dovecot {a['dovecot_cpu_ms_per_message']:.2f} ms/msg"
            + (f"; PostgreSQL backends {db:.2f} ms/msg" if db is not None else "")
            + f"; others {a['others_cpu_cores']} cores; {a['conversations']:,} conversations, "
            f"threaded by {_rules(a['threaded_by'])}; {a['quarantined']} quarantined"
        )
        backend = "SQLite" if a["backend"] == "sqlite" else "PostgreSQL"
        out.append(
            f"| app: EmailConnector.sync_now(), {backend} | {_link(r, a['endpoint'])} | "
            f"{a['stored']:,} | {a['seconds']:,.1f} | **{a['per_second']:,.1f}** | {notes} |"
        )
    for ep, b in r.get("app_imap", {}).items():
        out.append(
            f"| app's MailboxSync.batches() alone (no parse, no store) | {_link(r, ep)} | "
            f"{b['messages']:,} | {b['seconds']:,.1f} | {b['per_second']:,.1f} | "
            f"{b['batches']} batches |"
        )
    for ep, b in r.get("batched", {}).items():
        out.append(
            f"| raw batched UID FETCH BODY.PEEK[] (transport ceiling) | {_link(r, ep)} | "
            f"{b['messages']:,} | {b['seconds']:,.1f} | {b['per_second']:,.1f} | "
            f"{b['fetches']} FETCHes of {b['batch_messages']} |"
        )
    for ep, b in r.get("per_message", {}).items():
        f = b["fetch_ms"]
        how = (
            f"measured on {b['fetched']:,}, extrapolated"
            if b.get("extrapolated")
            else "every message"
        )
        out.append(
            f"| one UID FETCH per message (peers' way) | {_link(r, ep)} | {b['messages']:,} | "
            f"{b['seconds']:,.1f} | {b['per_second']:,.1f} | {how}; a FETCH median "
            f"{f['median']} ms, p99 {f['p99']} ms |"
        )
    p = r.get("parse")
    if p:
        out.append(
            f"| `email.message_from_bytes(policy=default)` (parse ceiling) | in memory | "
            f"{p['messages']:,} | {p['seconds']:,.1f} | {p['per_second']:,.1f} | a message "
            f"median {p['parse_ms']['median']} ms, p99 {p['parse_ms']['p99']} ms |"
        )
    ap = r.get("app_parser")
    if ap:
        out.append(
            f"| the app's `parse_email` alone | in memory | {ap['messages']:,} | "
            f"{ap['seconds']:,.1f} | {ap['per_second']:,.1f} | the first messages of the "
            "mailbox: the full parse (walk, decode, quote split, HTML sanitising) |"
        )
    out += ["", *_where(r), "", *_polls(r), "", *_new_mail(r), "", *_idle(r)]
    return out


def _rules(rules: dict[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in sorted(rules.items()))


def _where(r: dict[str, Any]) -> list[str]:
    b = r.get("breakdown")
    if not b:
        return []
    if "pipeline" not in b:
        return _where_serial(b) + _profile(
            b,
            "C code that releases it (SQLite executing statements and committing, fsync, "
            "hashing) and hand-offs between the event loop and the threads",
        )
    p, cpu = b["pipeline"], b.get("cpu", {})
    per_msg = 1000 * b["seconds"] / max(b["stored"], 1)
    workers = cpu.get("parse_workers", 0)
    pool = (
        f"{workers} worker process{'' if workers == 1 else 'es'} here"
        if workers
        else "no worker process was seen: threads"
    )
    out = [
        "## Where the time goes",
        "",
        f"The app's sync of the first {b['stored']:,} messages (SQLite, loopback) once more, "
        f"with its steps timed by wrapping the functions the connector calls "
        f"({b['per_second']:,.1f} msg/s, {per_msg:.1f} ms per message, under the wrappers). "
        f"The connector pipelines its {p['batches']} batches: while `_store` writes batch k "
        "(held messages, then one `ingest_batch` transaction) and the checkpoint moves, the "
        "`_fetch_all` task pulls the next batches from the server (`next(batches)` in a "
        "thread) and hands each to `_parse` at once: `normalise_batch` parses it over the "
        f"parse pool ({pool}; one per core, at most 8); each worker makes the blobs it "
        "wrote durable with one `BlobStore.sync` before it hands its part back. Up to "
        f"{p.get('ahead', 1)} batches are in the pool at once. The sides overlap, so their "
        "steps don't add up to the wall time: the store loop's rows, plus the part outside "
        "the pipeline, do, and so do the fetch side's; the parse rows are batches side by "
        "side. The sides also share one event loop and one GIL in this process, so a step's "
        "wall time includes waiting while another side's Python runs. What the parse "
        "workers do inside `normalise_batch` (`to_inbound`: blob writes, `parse_email`, the "
        "sender; then the blobs' fsyncs) runs in other processes and is not timed step by "
        "step; their CPU is read from /proc.",
        "",
        "| Step | ms per message | Share of wall time |",
        "|---|---:|---:|",
    ]
    headings = {
        "store": "**Storing: the loop in `_take_all`**",
        "fetch": "**Fetching: the `_fetch_all` task, at the same time**",
        "parse": "**Parsing: the batches in the pool (`_parse`), side by side**",
        "outside": "**Neither side**",
    }
    side = None
    for step, s in b["steps"].items():
        if s["side"] != side:
            side = s["side"]
            out.append(f"| {headings.get(side, side)} | | |")
        indent = "&nbsp;&nbsp;" * (1 + s["depth"])
        out.append(f"| {indent}{step} | {s['ms_per_message']:.2f} | {100 * s['share']:.0f}% |")
    out += [
        "",
        f"The first batch has nothing to overlap with: the store loop waited "
        f"{p['first_batch_seconds']:.2f} s for it. On average "
        f"{p.get('parsing_batches', 1):.1f} batches were in the pool. " + _pace(b),
    ]
    if cpu:
        machine = r["machine"].get("cores")
        app_parser = r.get("app_parser", {}).get("per_second")
        out += [
            "",
            f"CPU over the instrumented run: this process {cpu['main_ms_per_message']:.1f} ms "
            f"per message ({_cores(cpu['main_cores'])}: the event loop, the IMAP and SQLite "
            f"threads), the parse workers {cpu['workers_ms_per_message']:.1f} ms per message "
            f"({_cores(cpu['workers_cores'])}): {_cores(cpu['cores'])} in total"
            + (f", on a {machine}-core machine shared with Dovecot" if machine else "")
            + "."
            + (
                f" The app's `parse_email` alone, in one process, takes "
                f"{1000 / app_parser:.1f} ms per message (Throughput); a worker also writes "
                "each message's blobs, fsyncs them and names its sender."
                if app_parser
                else ""
            ),
        ]
    out += [
        "",
        f"The sync ran {b.get('sql_statements_per_message', '?')} SQL statements per message "
        f"(BEGINs included) and {_commits(b)}.",
    ]
    return out + _profile(
        b,
        "waiting (for the server, for the next parsed batch) and C code that releases it "
        "(SQLite executing statements and committing, fsync, hashing)",
        " The parse workers are processes of their own and are not sampled: this is the "
        "event loop, the IMAP thread and the SQLite thread.",
    )


def _where_serial(b: dict[str, Any]) -> list[str]:
    """Results from before the pipeline: one message at a time, so the steps added up."""
    per_msg = 1000 * b["seconds"] / max(b["stored"], 1)
    out = [
        "## Where the time goes",
        "",
        f"The app's sync of the first {b['stored']:,} messages (SQLite, loopback) once more, "
        f"with each step it takes timed by wrapping the functions the connector calls "
        f"({b['per_second']:,.1f} msg/s, {per_msg:.1f} ms per message, under the wrappers). "
        "The connector of that run took one message at a time, so the steps add up to the "
        f"wall time. It ran {b.get('sql_statements_per_message', '?')} SQL statements and "
        f"{_commits(b)}.",
        "",
        "| Step | ms per message | Share of wall time |",
        "|---|---:|---:|",
    ]
    for step, s in b["steps"].items():
        indent = "&nbsp;&nbsp;" if step.startswith("  ") else ""
        out.append(
            f"| {indent}{step.strip()} | {s['ms_per_message']:.2f} | {100 * s['share']:.0f}% |"
        )
    return out


def _profile(b: dict[str, Any], rest: str, scope: str = "") -> list[str]:
    prof = b.get("profile")
    if not prof:
        return (
            [] if b.get("pyspy") else ["", "(py-spy not installed: no sampled profile this run.)"]
        )
    rate = b.get("profile_rate_hz", 100)
    held = prof["busy_samples"] / (rate * b["seconds"])
    out = [
        "",
        f"py-spy (`--gil`, {rate} Hz) sampled whichever thread held the GIL: "
        f"{prof['busy_samples']:,} samples in {b['seconds']:.1f} s, so the GIL was held "
        f"about {100 * held:.0f}% of the wall time; the rest is {rest}.{scope} What held the "
        "GIL, by category (innermost matching frame):",
        "",
        "| Category | Share of busy samples |",
        "|---|---:|",
    ]
    out += [f"| {k} | {100 * v:.1f}% |" for k, v in prof["categories"].items()]
    out += ["", "By thread:", "", "| Thread | Share |", "|---|---:|"]
    out += [f"| {k} | {100 * v:.1f}% |" for k, v in prof["threads"].items()]
    out += [
        "",
        "Functions with the most own samples:",
        "",
        "| Function | Share |",
        "|---|---:|",
    ]
    out += [f"| `{k}` | {100 * v:.1f}% |" for k, v in prof["top_functions"].items()]
    return out


def _polls(r: dict[str, Any]) -> list[str]:
    out = [
        "## Polls with nothing new",
        "",
        "`EmailConnector.sync_once` after the full sync, on one kept-open connection, "
        f"{r['options']['polls']} times: a read of the checkpoint row, then one EXAMINE whose "
        "HIGHESTMODSEQ (CONDSTORE) matches it. IMAP commands are counted as the "
        "client writes them (one command, one round trip), SQL queries at the engine "
        "(BEGIN/COMMIT and the hub's own outbox poll left out). Baselines: a bare EXAMINE "
        "(the floor of any poll) and EXAMINE + UID SEARCH ALL (a client that polls by "
        "listing the folder). Percentiles are nearest-rank: of fewer than 100 polls, p99 "
        "is the slowest.",
        "",
        "| Who | Link | median | p90 | p99 | IMAP commands | SQL queries |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for key, a in r.get("app", {}).items():
        p = a.get("polls")
        if not p:
            continue
        out.append(
            f"| app sync_once ({_setup(r, key)}) | {_link(r, a['endpoint'])} | {p['median']} | "
            f"{p['p90']} | {p['p99']} | {p['imap_commands_per_poll']:g} | "
            f"{p['sql_queries_per_poll']:g} |"
        )
    for ep, b in r.get("bare_polls", {}).items():
        e, s = b["examine_ms"], b["examine_search_ms"]
        out.append(
            f"| bare EXAMINE | {_link(r, ep)} | {e['median']} | {e['p90']} | {e['p99']} | 1 | - |"
        )
        out.append(
            f"| bare EXAMINE + UID SEARCH ALL ({b['search_uids']:,} UIDs) | {_link(r, ep)} | "
            f"{s['median']} | {s['p90']} | {s['p99']} | 2 | - |"
        )
    out += [
        "",
        "In the worker's receive loop a wake-up costs more than one poll: after `sync_once`, "
        "`wait_for_change` sends another EXAMINE before it enters IDLE (so that mail which "
        "arrived during the sync is not missed), then IDLE, and DONE when the server speaks.",
    ]
    return out


def _new_mail(r: dict[str, Any]) -> list[str]:
    nm = r.get("new_mail")
    if not nm:
        return []
    out = [
        "## One new message: the app's IMAP side of a wake-up",
        "",
        "`MailboxSync.batches()` from the checkpoint right after another session APPENDed "
        "one message: EXAMINE, UID SEARCH, a size FETCH and a body FETCH, as the worker does "
        "when IDLE wakes it. As the app runs it, and once more with Nagle's algorithm turned "
        "off on its socket (`TCP_NODELAY`, set by the benchmark only): imapclient writes "
        "UID SEARCH as two `send()`s (the command, then its CRLF), and with Nagle on the "
        "CRLF waits for the server's delayed ACK, about 40 ms on Linux.",
        "",
        "| Link | Socket | median | p90 | p99 | IMAP commands |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for key, b in nm.items():
        ep, _, mode = key.partition("/")
        socket_mode = "as the app has it (Nagle on)" if mode == "app" else "TCP_NODELAY"
        out.append(
            f"| {_link(r, ep)} | {socket_mode} | {b['median']} | {b['p90']} | {b['p99']} | "
            f"{b['commands_per_sync']:g} |"
        )
    return out


def _idle(r: dict[str, Any]) -> list[str]:
    idle = r.get("idle")
    if not idle:
        return []
    out = [
        "## IDLE to agent's screen",
        "",
        "`inbox serve` and `inbox worker` as two processes on one SQLite database, with and "
        "without a private Redis; one admin's `/api/v1/stream` socket. Each message is "
        "APPENDed straight to Dovecot by a separate session; the clock starts when its "
        "tagged OK is back, and stops at the `message.created` frame for its inbox (app) or "
        "at the `* n EXISTS` a bare imapclient IDLE session on the same link gets (baseline: "
        "Dovecot waits about 0.5 s after a change before telling IDLE clients). One inbox "
        "talks to Dovecot directly and one through the proxy; rounds alternate between them, "
        "after a warm-up message each.",
        "",
        "| Setup | Link | App median | p90 | p99 | max | EXISTS median | p99 | app - EXISTS "
        "median | p99 | n | missing |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for pair, block in idle.items():
        for ep, e in block["endpoints"].items():
            f, x, d = e["frame_ms"], e["exists_ms"], e["app_minus_exists_ms"]
            if not f.get("n"):
                out.append(
                    f"| {_pair(pair)} | {_link(r, ep)} | no frames | | | | | | | | 0 | "
                    f"{e['missing']} |"
                )
                continue
            out.append(
                f"| {_pair(pair)} | {_link(r, ep)} | {f['median']} | {f['p90']} | {f['p99']} | "
                f"{f['max']} | {x['median']} | {x['p99']} | {d['median']} | {d['p99']} | "
                f"{f['n']} | {e['missing']} |"
            )
    out += [
        "",
        "Without Redis the web process learns of the worker's events from the outbox, which "
        "it polls every second: up to a second on top, half a second on average if arrivals "
        "are random (they are: the gaps between APPENDs are random). With "
        f"{r['options']['idle_messages']} messages per row, p99 is the slowest one.",
    ]
    redis = idle.get("redis", {}).get("endpoints", {})
    nm = r.get("new_mail", {})
    if "loopback" in redis and "20ms" in redis and "20ms/app" in nm and "20ms/nodelay" in nm:
        extra_lo = redis["loopback"]["app_minus_exists_ms"]["median"]
        extra_slow = redis["20ms"]["app_minus_exists_ms"]["median"]
        fetch, fast = nm["20ms/app"]["median"], nm["20ms/nodelay"]["median"]
        out += [
            "",
            f"With Redis the app adds {extra_lo:.0f} ms (median) to the bare IDLE client at "
            f"loopback: the worker's wake-up, parse, ingest and the fan-out to the socket. At "
            f"20 ms RTT it adds {extra_slow:.0f} ms: DONE to leave IDLE (one round trip), then "
            f"EXAMINE, UID SEARCH and two FETCHes ({fetch:.0f} ms in the table above, of which "
            f"{fetch - fast:.0f} ms is the Nagle wait on SEARCH), then the same local work.",
        ]
    return out


def main(argv: list[str] | None = None) -> None:
    path = Path((argv or sys.argv[1:])[0])
    results = json.loads(path.read_text())
    path.with_suffix(".md").write_text(render(results))
    print(f"wrote {path.with_suffix('.md')}")


if __name__ == "__main__":
    main()
