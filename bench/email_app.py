"""The app's side of the email sync benchmark: a fresh app database, a real EmailConnector.

Each figure gets a database of its own, migrated by the real migrations, with
an admin, a team and the email inbox created by the real actions, exactly as
`tests/test_email_worker.py` sets one up. The runtime joins the hub, as
`inbox worker` does, so events are written and published as in production.
`EmailConnector.sync_now()` then takes the whole folder in, batch by batch:
while one batch is stored (one transaction, then a checkpoint), the next is
fetched and parsed in the parse pool's worker processes, whose CPU is counted
with the app's.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import shutil
import signal
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select

from bench.cpu import DatabaseBackendsClock, group_cpu, machine_busy, process_cpu
from bench.email_common import PASSWORD, Endpoint, summary_ms
from bench.progress import say
from bench.realtime_seed import ensure_database, reset_postgres
from inbox.actions.agents import do_create_agent, do_create_team
from inbox.actions.inboxes import do_create_email_inbox
from inbox.channels.email import connector as connector_module
from inbox.channels.email import parse_pool
from inbox.channels.email.connector import EmailConnector
from inbox.channels.email.imap_sync import ImapSettings, MailboxSync
from inbox.channels.email.settings import EmailConfig, EmailSecrets, email_config
from inbox.config import Settings
from inbox.migrations import upgrade
from inbox.models import (
    Conversation,
    EmailDetails,
    Inbox,
    MailSyncState,
    Message,
    QuarantinedMail,
    Role,
)
from inbox.runtime import Runtime, create_runtime

SECRET_KEY = "email-bench-secret-key-not-for-production"


@dataclass
class App:
    backend: str
    rt: Runtime
    inbox_id: int
    connector: EmailConnector
    config: EmailConfig
    api_token: str
    data_dir: Path


def remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _pg_url(dsn: str) -> str:
    return "postgresql+asyncpg://" + dsn.split("://", 1)[1]


async def fresh_database(backend: str, work: Path, key: str, pg_dsn: str) -> tuple[str, Path]:
    """A migrated, empty app database and a data dir of its own: (URL, data dir)."""
    data_dir = work / f"data-{key}"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{work / f'{key}.sqlite3'}"
    else:
        await ensure_database(pg_dsn)
        await reset_postgres(pg_dsn)  # the scratch database only, never another
        url = _pg_url(pg_dsn)
    await asyncio.to_thread(upgrade, url)
    return url, data_dir


def settings_for(url: str, data_dir: Path) -> Settings:
    return Settings(
        database_url=url,
        redis_url=None,
        channel_layer="pubsub",
        secret_key=SECRET_KEY,
        data_dir=data_dir,
        secure_cookies=False,
        allowed_origins=(),
    )


async def create_inboxes(
    rt: Runtime, mailboxes: list[tuple[str, Endpoint, str]]
) -> tuple[str, dict[str, int]]:
    """An admin in a team that sees one email inbox per (name, endpoint, IMAP user).

    Returns the admin's API token and the inboxes' ids by name.
    """
    admin = await do_create_agent(rt, None, email="admin@shop.test", name="Admin", role=Role.ADMIN)
    team = await do_create_team(rt, None, name="Support", member_ids=[admin.agent.id])
    ids = {}
    for name, endpoint, user in mailboxes:
        config = EmailConfig.model_validate(
            {
                "address": user,
                "imap": {"host": endpoint.host, "port": endpoint.port, "security": "none"},
                # Never used: nothing is sent in the benchmark.
                "smtp": {"host": "127.0.0.1", "port": 9, "security": "none"},
            }
        )
        inbox = await do_create_email_inbox(
            rt,
            None,
            name=name,
            config=config,
            secrets=EmailSecrets(imap_password=PASSWORD),
            team_ids=[team.id],
        )
        ids[name] = inbox.id
    return admin.api_token, ids


@asynccontextmanager
async def app_for(
    backend: str, endpoint: Endpoint, user: str, work: Path, key: str, pg_dsn: str
) -> AsyncIterator[App]:
    url, data_dir = await fresh_database(backend, work, key, pg_dsn)
    rt = create_runtime(settings_for(url, data_dir))
    try:
        await rt.start()  # as `inbox worker` does: events reach the hub
        token, ids = await create_inboxes(rt, [("Support", endpoint, user)])
        async with rt.read_sessions() as db:
            inbox = await db.get(Inbox, ids["Support"])
        assert inbox is not None
        config = email_config(inbox.config)
        assert config is not None
        yield App(backend, rt, inbox.id, EmailConnector(rt, inbox), config, token, data_dir)
    finally:
        await rt.close()
        shutil.rmtree(data_dir, ignore_errors=True)
        if backend == "sqlite":
            remove_sqlite(work / f"{key}.sqlite3")
        else:
            with contextlib.suppress(Exception):
                await reset_postgres(pg_dsn)  # leave the scratch database empty


async def _stored(app: App) -> dict[str, Any]:
    async with app.rt.read_sessions() as db:
        messages = await db.scalar(select(func.count()).select_from(Message))
        conversations = await db.scalar(select(func.count()).select_from(Conversation))
        quarantined = await db.scalar(select(func.count()).select_from(QuarantinedMail))
        rules = dict(
            (
                await db.execute(
                    select(EmailDetails.threaded_by, func.count()).group_by(
                        EmailDetails.threaded_by
                    )
                )
            ).all()
        )
    return {
        "messages": int(messages or 0),
        "conversations": int(conversations or 0),
        "quarantined": int(quarantined or 0),
        "threaded_by": {str(k): int(v) for k, v in rules.items()},
    }


async def _progress(app: App, total: int, started: float, points: list[tuple[float, int]]) -> None:
    """A line every few seconds while the sync runs: one cheap read of the checkpoint row."""
    while True:
        await asyncio.sleep(5.0)
        async with app.rt.read_sessions() as db:
            done = await db.scalar(
                select(MailSyncState.messages_synced).where(MailSyncState.inbox_id == app.inbox_id)
            )
        done = int(done or 0)
        elapsed = time.perf_counter() - started
        points.append((elapsed, done))
        share = 100 * done / total
        say(f"    app sync: {done:,} of {total:,} ({share:.0f}%), {done / elapsed:,.1f}/s")


def _halves(points: list[tuple[float, int]], stored: int, elapsed: float) -> dict[str, float]:
    """The rate over the first and the second half of the messages: does it drift as the
    database grows? From the progress samples (a checkpoint per batch)."""
    half = next(((t, n) for t, n in points if n >= stored / 2), None)
    if half is None or half[0] <= 0 or elapsed <= half[0]:
        return {}
    t, n = half
    return {
        "first_half_per_second": round(n / t, 1),
        "second_half_per_second": round((stored - n) / (elapsed - t), 1),
    }


async def sync_all(
    app: App, expected: int, dovecot_pid: int, pg_database: str | None
) -> dict[str, Any]:
    """`EmailConnector.sync_now()` over the whole folder, timed, with the CPU it cost.

    The app's CPU is this process's and its parse workers'. The first figure
    of a run also pays for starting the pool, as a worker's first sync does.
    """
    db_clock = DatabaseBackendsClock(pg_database) if pg_database else None
    pool = PoolClock()
    cpu0, dove0, busy0 = process_cpu(), dovecot_cpu(dovecot_pid), machine_busy()
    db0 = db_clock() if db_clock else 0.0
    started = time.perf_counter()
    points: list[tuple[float, int]] = []
    ticker = asyncio.create_task(_progress(app, expected, started, points))
    try:
        stored = await app.connector.sync_now()
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
    elapsed = time.perf_counter() - started
    workers = pool.seconds()
    await asyncio.sleep(0.3)  # the session's imap process exits at LOGOUT: let it be reaped
    main = process_cpu() - cpu0
    cpu = main + workers
    dove = dovecot_cpu(dovecot_pid) - dove0
    db = (db_clock() - db0) if db_clock else None
    busy = machine_busy() - busy0
    result = await _stored(app)
    say(f"    app sync: {stored:,} stored in {elapsed:.1f} s, {stored / elapsed:,.1f}/s")
    if stored != expected or result["quarantined"]:
        say(f"    WARNING: expected {expected} stored, got {stored}; {result['quarantined']} held")
    others = busy - cpu - dove - (db or 0.0)
    return {
        "stored": stored,
        "expected": expected,
        "seconds": round(elapsed, 3),
        "per_second": round(stored / elapsed, 1),
        "app_cpu_ms_per_message": round(1000 * cpu / max(stored, 1), 3),
        "app_cpu_cores": round(cpu / elapsed, 2),
        "main_cpu_ms_per_message": round(1000 * main / max(stored, 1), 3),
        "workers_cpu_ms_per_message": round(1000 * workers / max(stored, 1), 3),
        "parse_workers": len(pool.workers),
        "dovecot_cpu_ms_per_message": round(1000 * dove / max(stored, 1), 3),
        "database_cpu_ms_per_message": None if db is None else round(1000 * db / max(stored, 1), 3),
        "others_cpu_cores": round(max(others, 0.0) / elapsed, 2),
        **_halves(points, stored, elapsed),
        **result,
    }


def dovecot_cpu(master: int) -> float:
    """CPU seconds of Dovecot: its live processes, plus the imap processes that already exit.

    A session's imap process exits at LOGOUT, before a figure ends; its time
    then shows in the master's reaped-children clock (cutime + cstime).
    """
    try:
        fields = Path(f"/proc/{master}/stat").read_text().rsplit(")", 1)[1].split()
        reaped = (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        reaped = 0.0
    return group_cpu(master) + reaped


def _mailbox_sync(app: App) -> MailboxSync:
    """The MailboxSync the connector's receive loop would build (same settings)."""
    c = app.config
    settings = ImapSettings(
        host=c.imap.host,
        port=c.imap.port,
        username=c.imap.username or c.address,
        password=PASSWORD,
        folder=c.folder,
        security=c.imap.security,
    )
    return MailboxSync(settings, max_message_bytes=c.max_message_mb * 2**20)


@contextmanager
def _count_statements(app: App) -> Iterator[list[int]]:
    """SQL queries the polls send, transaction control left out.

    The hub's once-a-second outbox poll runs on the same engine meanwhile:
    its queries (and their BEGINs, hence leaving those out) are not the poll's.
    """
    counter = [0]

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        head = statement.lstrip()[:8].upper()
        if "outbox" not in statement and not head.startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            counter[0] += 1

    engine = app.rt.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield counter
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def polls(app: App, count: int) -> dict[str, Any]:
    """`sync_once` with nothing new, on one connection kept open as the receive loop keeps it."""
    sync = _mailbox_sync(app)
    await asyncio.to_thread(sync.connect)
    commands = [0]
    imap = sync._client._imap  # imaplib under imapclient: every byte the client sends
    original = imap.send

    def counting(data: bytes) -> Any:
        # A command may go out in pieces (imapclient sends SEARCH's CRLF apart);
        # the piece ending in CRLF ends it, and one command is one round trip.
        if bytes(data).endswith(b"\r\n"):
            commands[0] += 1
        return original(data)

    imap.send = counting
    each: list[float] = []
    stored = 0
    try:
        for _ in range(3):  # warm: the first poll after a sync may still save a checkpoint
            stored += await app.connector.sync_once(sync, app.config)
        commands[0] = 0
        with _count_statements(app) as statements:
            for _ in range(count):
                t = time.perf_counter()
                stored += await app.connector.sync_once(sync, app.config)
                each.append(time.perf_counter() - t)
        sent = commands[0]  # before LOGOUT, which is no poll's
    finally:
        await asyncio.to_thread(sync.close)
    return {
        **summary_ms(each),
        "imap_commands_per_poll": round(sent / count, 2),
        "sql_queries_per_poll": round(statements[0] / count, 2),
        "stored_meanwhile": stored,
        "condstore": sync._condstore,
    }


# -- the parse workers' CPU ---------------------------------------------------


def _pid_cpu(pid: int) -> float | None:
    """Seconds of CPU one live process used (user + system), or None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


class PoolClock:
    """CPU seconds of the parse pool's worker processes (inbox.channels.email.parse_pool).

    They parse in processes of their own, so this process's os.times() misses
    them: each is read from /proc while it lives (the pool outlives a sync).
    A worker started during the measurement (the first big batch starts the
    pool) counts from zero; one that exits during it (only if the pool breaks)
    loses what it used since it was last read.
    """

    def __init__(self) -> None:
        self.start = self._read()
        self.workers: set[int] = set()

    @staticmethod
    def _read() -> dict[int, float]:
        pool = parse_pool._pool
        pids = list(getattr(pool, "_processes", None) or {}) if pool is not None else []
        return {pid: cpu for pid in pids if (cpu := _pid_cpu(pid)) is not None}

    def seconds(self) -> float:
        now = self._read()
        self.workers |= now.keys()
        return sum(cpu - self.start.get(pid, 0.0) for pid, cpu in now.items())


# -- where the time goes ----------------------------------------------------
#
# The connector pipelines its batches (EmailConnector._take_all): while `_store`
# writes batch k, the `_fetch_all` task pulls the next batches from the server
# and hands each to the parse pool (`_parse`), up to `_AHEAD` batches ahead.
# The sides run at once, so their steps overlap: the store loop's rows, plus
# what runs outside the pipeline, add up to the wall time; the fetch side's
# rows add up to it too; the parse rows are batches in the pool side by side.

STORE_SIDE, FETCH_SIDE, PARSE_SIDE, OUTSIDE = "store", "fetch", "parse", "outside"

WAIT_STEP = "waiting for the next parsed batch"
FIRST_WAIT = "of which the first batch (nothing to overlap with yet)"
STORE_STEP = "`_store`: held messages, then `ingest_batch`"
INGEST_STEP = "of which `ingest_batch`: one transaction per batch"
CHECKPOINT_STEP = "checkpoint per batch (`do_save_checkpoint`)"
IMAP_STEP = "IMAP: EXAMINE, SEARCH, size and body FETCHes (`next(batches)` in a thread)"
OVERSIZED_STEP = "messages over the size limit, fetched alone (`_fetch_oversized`)"
FETCH_WAIT = "waiting for room: the parse pool holds as many batches as it may"
PARSE_STEP = "`normalise_batch`: a batch from hand-off to parsed, its blobs durable"
OUTSIDE_STEP = "outside the pipeline: checkpoint read, connect, LOGOUT"

# (label, side, depth): a row at depth 1 is part of the row above it.
STEPS: tuple[tuple[str, str, int], ...] = (
    (WAIT_STEP, STORE_SIDE, 0),
    (FIRST_WAIT, STORE_SIDE, 1),
    (STORE_STEP, STORE_SIDE, 0),
    (INGEST_STEP, STORE_SIDE, 1),
    (CHECKPOINT_STEP, STORE_SIDE, 0),
    (IMAP_STEP, FETCH_SIDE, 0),
    (OVERSIZED_STEP, FETCH_SIDE, 0),
    (FETCH_WAIT, FETCH_SIDE, 0),
    (PARSE_STEP, PARSE_SIDE, 0),
    (OUTSIDE_STEP, OUTSIDE, 0),
)

# Timed directly, the rows above derived from them.
_TAKE_ALL, _FETCH = "_take_all", "_fetch_all"


class _Clock:
    """Wall time spent inside wrapped functions, by label, and when each label first ran.

    Calls of one label never overlap, except the parse pool's batches, which
    may run side by side: their sum is batch-seconds.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.first_started: dict[str, float] = {}
        self.first_seconds: dict[str, float] = {}

    def _add(self, label: str, started: float) -> None:
        took = time.perf_counter() - started
        self.seconds[label] += took
        self.calls[label] += 1
        self.first_started.setdefault(label, started)
        self.first_seconds.setdefault(label, took)

    def wrap_async(self, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        async def timed(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return await fn(*args, **kwargs)
            finally:
                self._add(label, t)

        return timed


@contextmanager
def instrumented(clock: _Clock) -> Iterator[None]:
    """Time the connector's steps by wrapping the names it calls; everything restored after.

    Only this process's module and class attributes change, for this phase
    only: the app's code is untouched. What runs in the parse pool's worker
    processes (`to_inbound`, `parse_email`, the blob writes) can't be timed
    this way: `normalise_batch` is, from the outside, and the workers' CPU is
    read from /proc (PoolClock).
    """
    patches: list[tuple[Any, str, Any]] = []

    def patch(owner: Any, name: str, wrap: Callable[[Any], Any]) -> None:
        old = getattr(owner, name)
        patches.append((owner, name, old))
        setattr(owner, name, wrap(old))

    def timed_batches(original: Any) -> Any:
        def batches(self: MailboxSync, state: Any) -> Iterator[Any]:
            # The connector pulls each batch with next() in a thread: time each pull.
            inner = original(self, state)
            while True:
                t = time.perf_counter()
                try:
                    batch = next(inner)
                except StopIteration:
                    return
                finally:
                    clock._add(IMAP_STEP, t)
                yield batch

        return batches

    patch(MailboxSync, "batches", timed_batches)
    patch(EmailConnector, "_take_all", lambda f: clock.wrap_async(_TAKE_ALL, f))
    patch(EmailConnector, "_fetch_all", lambda f: clock.wrap_async(_FETCH, f))
    patch(EmailConnector, "_fetch_oversized", lambda f: clock.wrap_async(OVERSIZED_STEP, f))
    patch(EmailConnector, "_store", lambda f: clock.wrap_async(STORE_STEP, f))
    patch(connector_module, "normalise_batch", lambda f: clock.wrap_async(PARSE_STEP, f))
    patch(connector_module, "ingest_batch", lambda f: clock.wrap_async(INGEST_STEP, f))
    patch(connector_module, "do_save_checkpoint", lambda f: clock.wrap_async(CHECKPOINT_STEP, f))
    try:
        yield
    finally:
        for owner, name, old in reversed(patches):
            setattr(owner, name, old)


def _pipeline(clock: _Clock, elapsed: float) -> tuple[dict[str, float], dict[str, Any]]:
    """Seconds per row of STEPS, and how busy each side of the pipeline was."""
    s = clock.seconds
    take_all, fetch = s[_TAKE_ALL], s[_FETCH]
    store, checkpoint = s[STORE_STEP], s[CHECKPOINT_STEP]
    # The loop in _take_all does three things: wait for a parsed batch, _store, the checkpoint.
    waited = max(take_all - store - checkpoint, 0.0)
    first = (
        clock.first_started[STORE_STEP] - clock.first_started[_TAKE_ALL]
        if STORE_STEP in clock.first_started and _TAKE_ALL in clock.first_started
        else waited
    )
    # The fetch side: the server, the oversized messages, or waiting for room in the pool.
    fetch_work = s[IMAP_STEP] + s[OVERSIZED_STEP]
    seconds = {
        WAIT_STEP: waited,
        FIRST_WAIT: first,
        STORE_STEP: store,
        INGEST_STEP: s[INGEST_STEP],
        CHECKPOINT_STEP: checkpoint,
        IMAP_STEP: s[IMAP_STEP],
        OVERSIZED_STEP: s[OVERSIZED_STEP],
        FETCH_WAIT: max(fetch - fetch_work, 0.0),
        PARSE_STEP: s[PARSE_STEP],
        OUTSIDE_STEP: max(elapsed - take_all, 0.0),
    }
    # Once the first batch is in, the sides run at once: whichever the others wait for
    # sets the pace. The store loop busy most of the time: storing. Otherwise it waited
    # for parsed batches; a fetch side that waited for room in the pool says the pool
    # was full (parsing), one that did not, that the server's bytes were late (IMAP).
    steady = max(take_all - first, 1e-9)
    store_busy = store + checkpoint
    fetch_waited = seconds[FETCH_WAIT]
    if store_busy >= waited - first:
        bottleneck = "storing"
    else:
        bottleneck = "parsing" if fetch_waited >= fetch_work else "IMAP"
    side = {
        "batches": clock.calls[STORE_STEP],
        "ahead": connector_module._AHEAD,
        "seconds": round(take_all, 3),
        "first_batch_seconds": round(first, 3),
        "steady_seconds": round(steady, 3),
        # Shares of the steady part, after the first batch.
        "store_busy_share": round(min(store_busy / steady, 1.0), 3),
        "store_waited_share": round(min((waited - first) / steady, 1.0), 3),
        "fetch_busy_share": round(min(fetch_work / steady, 1.0), 3),
        "fetch_waited_share": round(min(fetch_waited / steady, 1.0), 3),
        # Batches in the pool at once, on average over the store loop's time.
        "parsing_batches": round(s[PARSE_STEP] / max(take_all, 1e-9), 2),
        "bottleneck": bottleneck,
    }
    return seconds, side


async def breakdown(
    app: App, expected: int, pyspy: str | None, profile_path: Path
) -> dict[str, Any]:
    """The app's sync with its steps timed (and sampled by py-spy when installed)."""
    clock = _Clock()
    spy = None
    if pyspy:
        spy = await asyncio.create_subprocess_exec(
            pyspy,
            "record",
            "--pid",
            str(os.getpid()),
            "--rate",
            "100",
            # This process only (the parse workers are processes of their own),
            # and only the thread holding the GIL: what keeps the event loop and
            # its threads busy. Waits, and C code that releases the GIL (fsync,
            # SQLite's own work), show in the timed steps instead.
            "--gil",
            "--threads",
            "--format",
            "raw",
            "--output",
            str(profile_path),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await asyncio.sleep(1.0)  # py-spy attaches
    statements = [0]
    commits = [0]

    def on_statement(*_args: Any) -> None:
        statements[0] += 1

    def on_commit(*_args: Any) -> None:
        commits[0] += 1

    engine = app.rt.engine.sync_engine
    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(engine, "commit", on_commit)
    pool = PoolClock()
    cpu0 = process_cpu()
    started = time.perf_counter()
    try:
        with instrumented(clock):
            stored = await app.connector.sync_now()
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
        event.remove(engine, "commit", on_commit)
    elapsed = time.perf_counter() - started
    main_cpu, workers_cpu = process_cpu() - cpu0, pool.seconds()
    if spy is not None:
        spy.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        try:
            await asyncio.wait_for(spy.wait(), 30)
        except TimeoutError:
            spy.kill()
            await spy.wait()
    seconds, side = _pipeline(clock, elapsed)
    n = max(stored, 1)
    steps = {
        label: {
            "side": where,
            "depth": depth,
            "ms_per_message": round(1000 * seconds[label] / n, 3),
            "share": round(seconds[label] / elapsed, 3),
            "calls": clock.calls.get(label, 0),
        }
        for label, where, depth in STEPS
    }
    say(f"    instrumented sync: {stored:,} in {elapsed:.1f} s, {side['bottleneck']} set the pace")
    return {
        "stored": stored,
        "expected": expected,
        "seconds": round(elapsed, 3),
        "per_second": round(stored / elapsed, 1),
        # Everything the engine ran, BEGINs included (the hub's 1 s poll is a rounding error).
        "sql_statements_per_message": round(statements[0] / n, 2),
        "commits_per_message": round(commits[0] / n, 3),
        "cpu": {
            "parse_workers": len(pool.workers),
            "main_ms_per_message": round(1000 * main_cpu / n, 3),
            "workers_ms_per_message": round(1000 * workers_cpu / n, 3),
            "main_cores": round(main_cpu / elapsed, 2),
            "workers_cores": round(workers_cpu / elapsed, 2),
            "cores": round((main_cpu + workers_cpu) / elapsed, 2),
        },
        "pipeline": side,
        "steps": steps,
    }
