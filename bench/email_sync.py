"""Email sync benchmark: a 20,000-message Dovecot mailbox into the app, beside bare baselines.

    python -m bench.email_sync              # full run: 20,000 messages, about 15 minutes
    python -m bench.email_sync --quick      # 2,000 messages, about 3 minutes
    python -m bench.email_sync --messages 5000 --no-postgres --no-idle

Every figure is taken at loopback and through a delay proxy adding 20 ms of
round trip (bench/email_proxy.py), beside a baseline measured in the same
run: raw batched FETCH (the transport ceiling), one FETCH per message (the
polling helpdesks' way), `email.message_from_bytes` (the parse ceiling), a
bare EXAMINE (a poll's floor) and a bare IDLE client (the push floor).
Results: bench/results/email-sync.md and .json (email-sync-quick.* for --quick).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import email_transport as transport
from bench.email_app import app_for, breakdown, polls, sync_all
from bench.email_common import PASSWORD, Endpoint, login, summary_ms
from bench.email_corpus import Generator, Mail, write_maildir
from bench.email_idle import idle_pair
from bench.email_profile import categorise
from bench.email_proxy import delay_proxy
from bench.email_report import render
from bench.entry import results_path, run_and_report
from bench.machine import describe, postgres_version
from bench.progress import say
from bench.realtime_profile import find_pyspy
from inbox.channels.email.parse import parse_email
from tests.dovecot_server import MAIL_ID, DovecotServer, dovecot_binary

BENCH_DIR = Path(__file__).resolve().parent
LOG_DIR = BENCH_DIR / "data" / "email"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/email_bench"

BIG = "support@shop.test"  # the whole mailbox
PG_SAMPLE = "pg-sample@shop.test"  # its first messages, for PostgreSQL
PROFILE_SAMPLE = "profile-sample@shop.test"  # its first messages, for the instrumented run
IDLE_USERS = {"loopback": "idle-loopback@shop.test", "20ms": "idle-20ms@shop.test"}
NEW_MAIL = "new-mail@shop.test"  # APPENDed to one at a time: the wake-up's IMAP side


@dataclass(frozen=True)
class Options:
    messages: int
    quick: bool
    delay_ms: float  # one way: the round trip grows by twice this
    per_message_sample: int  # one-FETCH-per-message through the proxy: sampled, extrapolated
    postgres: bool
    pg: str
    pg_messages: int
    profile_messages: int
    polls: int
    new_mail_rounds: int
    idle: bool
    idle_messages: int
    redis: bool
    seed: int


def _maildir(dovecot: DovecotServer, user: str) -> Path:
    return dovecot.base / "home" / user / "Maildir"


def _owner() -> tuple[int, int] | None:
    # DovecotServer runs the mail as MAIL_ID when we are root.
    return (MAIL_ID, MAIL_ID) if os.geteuid() == 0 else None


def seed(dovecot: DovecotServer, opts: Options) -> dict[str, Any]:
    """Generate the mailbox into BIG's Maildir; hard-link its head into the sample mailboxes."""
    say(f"== seeding {opts.messages:,} messages (Maildir files, then Dovecot indexes them)")
    generator = Generator(seed=opts.seed)
    kinds: dict[str, int] = {}
    replies = 0
    sizes: list[int] = []
    started = time.perf_counter()

    def mails() -> Iterator[Mail]:
        nonlocal replies
        last = time.perf_counter()
        for n, mail in enumerate(generator.mails(opts.messages), 1):
            kinds[mail.kind] = kinds.get(mail.kind, 0) + 1
            replies += mail.reply
            sizes.append(len(mail.raw) + mail.raw.count(b"\n"))
            if time.perf_counter() - last > 3:
                last = time.perf_counter()
                say(f"    written {n:,} of {opts.messages:,}")
            yield mail

    count, nbytes = write_maildir(_maildir(dovecot, BIG), mails(), _owner())
    written = time.perf_counter() - started
    say(f"    {count:,} files, {nbytes / 2**20:,.1f} MiB in {written:.1f} s")
    files = sorted((_maildir(dovecot, BIG) / "cur").iterdir())
    for user, n in ((PG_SAMPLE, opts.pg_messages), (PROFILE_SAMPLE, opts.profile_messages)):
        target = _maildir(dovecot, user)
        write_maildir(target, iter(()), _owner())
        for path in files[:n]:
            os.link(path, target / "cur" / path.name)  # the same bytes, no copy
    # Dovecot builds its index at the first SELECT; done here, outside every timed figure.
    index_started = time.perf_counter()
    for user in (BIG, PG_SAMPLE, PROFILE_SAMPLE):
        client = login(Endpoint("loopback", dovecot.host, dovecot.port, 0), user)
        info = client.select_folder("INBOX", readonly=True)
        client.logout()
        if user == BIG and info[b"EXISTS"] != opts.messages:
            raise RuntimeError(f"Dovecot sees {info[b'EXISTS']} messages, not {opts.messages}")
    indexed = time.perf_counter() - index_started
    say(f"    Dovecot indexed them in {indexed:.1f} s")
    return {
        "method": "Maildir files written into cur/ with Dovecot's own naming, then one SELECT",
        "messages": count,
        "bytes": nbytes,
        "size_median": int(statistics.median(sizes)),
        "size_p10": int(sorted(sizes)[len(sizes) // 10]),
        "size_p90": int(sorted(sizes)[len(sizes) * 9 // 10]),
        "size_max": max(sizes),
        "kinds": kinds,
        "replies": replies,
        "conversations": len(generator.threads),
        "senders": len({t.customer.address for t in generator.threads}),
        "write_seconds": round(written, 2),
        "index_seconds": round(indexed, 2),
    }


def rtt(endpoint: Endpoint, count: int = 30) -> dict[str, Any]:
    """NOOP round trips: checks what the proxy really adds."""
    client = login(endpoint, BIG)
    each = []
    try:
        for _ in range(count):
            t = time.perf_counter()
            client.noop()
            each.append(time.perf_counter() - t)
    finally:
        client.logout()
    return summary_ms(each)


def app_parser(raws: list[bytes]) -> dict[str, Any]:
    """The app's parse_email alone over the same bytes: what its parser costs beyond stdlib."""
    started = time.perf_counter()
    for raw in raws:
        parse_email(raw)
    elapsed = time.perf_counter() - started
    return {
        "messages": len(raws),
        "seconds": round(elapsed, 3),
        "per_second": round(len(raws) / elapsed, 1),
    }


async def run(opts: Options, out: Path) -> dict[str, Any]:
    started = time.perf_counter()
    if dovecot_binary() is None:
        raise SystemExit("dovecot is not installed: apt-get install -y dovecot-imapd")
    pg_version = await postgres_version(opts.pg) if opts.postgres else None
    if opts.postgres and pg_version is None:
        # The scratch database may not exist yet: ask the server's own database.
        pg_version = await postgres_version(opts.pg.rsplit("/", 1)[0] + "/postgres")
    results: dict[str, Any] = {
        "options": asdict(opts),
        "command": "python -m bench.email_sync " + " ".join(sys.argv[1:]),
        "machine": describe(pg_version),
    }
    results["machine"]["packages"]["imapclient"] = _version("IMAPClient")
    results["machine"]["dovecot"] = _dovecot_version()
    work = Path(tempfile.mkdtemp(prefix="email-bench-"))
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    dovecot = DovecotServer()
    await dovecot.start()
    try:
        for user in (BIG, PG_SAMPLE, PROFILE_SAMPLE, NEW_MAIL, *IDLE_USERS.values()):
            dovecot.add_user(user, PASSWORD)
        results["corpus"] = await asyncio.to_thread(seed, dovecot, opts)
        with ExitStack() as stack:
            proxy = stack.enter_context(delay_proxy(dovecot.host, dovecot.port, opts.delay_ms))
            loopback = Endpoint("loopback", dovecot.host, dovecot.port, 0.0)
            slow = Endpoint("20ms", proxy.host, proxy.port, 2 * opts.delay_ms)
            endpoints = (loopback, slow)
            await _measure(results, opts, dovecot, endpoints, work)
    finally:
        dovecot.stop()
        shutil.rmtree(work, ignore_errors=True)
    results["seconds"] = round(time.perf_counter() - started, 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    out.with_suffix(".md").write_text(render(results))
    say(f"done in {results['seconds']:.0f} s")
    return results


async def _measure(
    results: dict[str, Any],
    opts: Options,
    dovecot: DovecotServer,
    endpoints: tuple[Endpoint, Endpoint],
    work: Path,
) -> None:
    loopback, slow = endpoints
    say("== round trips (NOOP)")
    results["rtt"] = {ep.name: await asyncio.to_thread(rtt, ep) for ep in endpoints}
    for ep in endpoints:
        say(f"    {ep.name}: median {results['rtt'][ep.name]['median']} ms")

    say("== transport ceiling: batched UID FETCH BODY.PEEK[], no parsing")
    # A first pass warms Dovecot's caches and the page cache for every later
    # figure alike, and keeps the bytes for the parse ceiling.
    warm, raws = await asyncio.to_thread(transport.raw_batched, loopback, BIG, True)
    results["warm_fetch"] = warm
    results["batched"] = {}
    for ep in endpoints:
        results["batched"][ep.name], _ = await asyncio.to_thread(transport.raw_batched, ep, BIG)

    say("== parse ceiling: email.message_from_bytes(policy=default) over the same bytes")
    results["parse"] = await asyncio.to_thread(transport.parse_ceiling, raws)
    say("== the app's parse_email alone, on the profile sample (for where the time goes)")
    results["app_parser"] = await asyncio.to_thread(app_parser, raws[: opts.profile_messages])
    del raws

    say("== peers' approach: SEARCH ALL, then one UID FETCH per message")
    results["per_message"] = {
        "loopback": await asyncio.to_thread(transport.per_message, loopback, BIG, None),
        "20ms": await asyncio.to_thread(transport.per_message, slow, BIG, opts.per_message_sample),
    }

    say("== the app's MailboxSync alone (its IMAP share: bodies fetched, dropped)")
    results["app_imap"] = {
        ep.name: await asyncio.to_thread(transport.app_imap_layer, ep, BIG) for ep in endpoints
    }

    say("== bare polls: one EXAMINE (the floor), EXAMINE + SEARCH ALL (a SEARCH poller)")
    results["bare_polls"] = {
        ep.name: await asyncio.to_thread(transport.bare_polls, ep, BIG, opts.polls)
        for ep in endpoints
    }

    say("== one new message: the app's MailboxSync, with Nagle on (as is) and off")
    results["new_mail"] = {}
    for ep in endpoints:
        for mode in ("app", "nodelay"):
            results["new_mail"][f"{ep.name}/{mode}"] = await asyncio.to_thread(
                transport.new_mail_fetch,
                ep,
                loopback,
                NEW_MAIL,
                opts.new_mail_rounds,
                mode != "app",
            )
            b = results["new_mail"][f"{ep.name}/{mode}"]
            say(f"    {ep.name}, {mode}: median {b['median']} ms, p99 {b['p99']} ms")

    results["app"] = {}
    runs: list[tuple[str, str, Endpoint, str, int]] = [
        ("sqlite-loopback", "sqlite", loopback, BIG, opts.messages),
        ("sqlite-20ms", "sqlite", slow, BIG, opts.messages),
    ]
    if opts.postgres and opts.pg_messages:
        runs.append(("postgres-loopback", "postgres", loopback, PG_SAMPLE, opts.pg_messages))
    for key, backend, ep, user, expected in runs:
        say(f"== app end to end: EmailConnector.sync_now(), {backend}, {ep.name}, {expected:,}")
        async with app_for(backend, ep, user, work, key, opts.pg) as app:
            pg_db = opts.pg.rsplit("/", 1)[1] if backend == "postgres" else None
            block = await sync_all(app, expected, dovecot_pid(dovecot), pg_db)
            say(f"    polls with nothing new ({opts.polls})")
            block["polls"] = await polls(app, opts.polls)
            say(
                f"    poll median {block['polls']['median']} ms, p99 {block['polls']['p99']} ms,"
                f" {block['polls']['imap_commands_per_poll']} IMAP command(s)"
            )
            block["backend"], block["endpoint"] = backend, ep.name
            results["app"][key] = block

    say(f"== where the time goes: the app on {opts.profile_messages:,} messages, instrumented")
    pyspy = find_pyspy()
    profile_path = LOG_DIR / "profile-email-sync.txt"
    profile_path.unlink(missing_ok=True)
    async with app_for("sqlite", loopback, PROFILE_SAMPLE, work, "profile", opts.pg) as app:
        results["breakdown"] = await breakdown(app, opts.profile_messages, pyspy, profile_path)
    results["breakdown"]["pyspy"] = pyspy is not None
    if pyspy and profile_path.exists():
        results["breakdown"]["profile"] = categorise(profile_path)
        results["breakdown"]["profile_rate_hz"] = 100

    results["idle"] = {}
    if opts.idle:
        say("== IDLE to agent's screen: APPEND -> message.created frame on /api/v1/stream")
        pairs = [False, True] if opts.redis and shutil.which("redis-server") else [False]
        for redis in pairs:
            results["idle"]["redis" if redis else "no-redis"] = await idle_pair(
                dovecot_endpoint=loopback,
                endpoints=list(endpoints),
                users=IDLE_USERS,
                work=work,
                log_dir=LOG_DIR,
                redis=redis,
                messages=opts.idle_messages,
            )


def dovecot_pid(dovecot: DovecotServer) -> int:
    """The master's PID, which is also its process group (it runs in a session of its own)."""
    proc = dovecot._proc
    assert proc is not None
    return proc.pid


def _version(package: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


def _dovecot_version() -> str:
    import subprocess

    binary = dovecot_binary()
    if binary is None:
        return "absent"
    done = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    return done.stdout.strip() or "unknown"


def parse_args(argv: list[str] | None) -> tuple[Options, Path]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--messages", type=int, help="mailbox size (20000; quick 2000)")
    p.add_argument("--quick", action="store_true", help="2,000 messages, fewer samples")
    p.add_argument("--delay-ms", type=float, default=10.0, help="proxy delay each way (10)")
    p.add_argument(
        "--per-message-sample",
        type=int,
        help="messages fetched one per round trip through the proxy (1000; quick 200)",
    )
    p.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL figure")
    p.add_argument("--pg", default=DEFAULT_PG, help="scratch PostgreSQL database (emptied!)")
    p.add_argument(
        "--pg-messages", type=int, help="messages synced into PostgreSQL (2500; quick 800)"
    )
    p.add_argument(
        "--profile-messages", type=int, help="messages in the instrumented run (1000; quick 400)"
    )
    p.add_argument("--polls", type=int, default=50, help="polls with nothing new per figure")
    p.add_argument(
        "--new-mail-rounds", type=int, default=20, help="one-new-message syncs per setting (20)"
    )
    p.add_argument("--no-idle", action="store_true", help="skip the IDLE-to-screen figure")
    p.add_argument("--idle-messages", type=int, help="APPENDs per link and setup (15; quick 5)")
    p.add_argument("--no-redis", action="store_true", help="IDLE figure without the Redis pair")
    p.add_argument("--seed", type=int, default=20260101, help="corpus generator seed")
    p.add_argument("--out", help="results path without suffix")
    a = p.parse_args(argv)
    quick = a.quick
    messages = a.messages or (2000 if quick else 20000)
    opts = Options(
        messages=messages,
        quick=quick,
        delay_ms=a.delay_ms,
        per_message_sample=min(messages, a.per_message_sample or (200 if quick else 1000)),
        postgres=not a.no_postgres,
        pg=a.pg,
        pg_messages=min(
            messages, a.pg_messages if a.pg_messages is not None else (800 if quick else 2500)
        ),
        profile_messages=min(messages, a.profile_messages or (400 if quick else 1000)),
        polls=a.polls,
        new_mail_rounds=a.new_mail_rounds,
        idle=not a.no_idle,
        idle_messages=a.idle_messages or (5 if quick else 15),
        redis=not a.no_redis,
        seed=a.seed,
    )
    if opts.pg.rsplit("/", 1)[1] in ("test", "postgres", ""):
        p.error("--pg must name a scratch database: it is emptied")
    return opts, results_path("email-sync", quick, a.out)


def main(argv: list[str] | None = None) -> None:
    run_and_report(run, *parse_args(argv))


if __name__ == "__main__":
    main()
