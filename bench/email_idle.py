"""IDLE to agent's screen: APPEND one message, time its `message.created` frame on a socket.

The app runs as in production: `inbox serve` and `inbox worker` as two
processes on one migrated SQLite database, with or without a private Redis
for cross-process fan-out (without it, the web process reads the worker's
events from the outbox on its 1 s poll: the embedded default). The database
has two email inboxes seen by one admin, one talking to Dovecot directly and
one through the delay proxy; rounds alternate between them, so both links
are measured side by side with the same processes.

For each message: a separate IMAP session APPENDs it straight to Dovecot
(never through the proxy) and the clock starts when the APPEND's tagged OK
is back; it stops when the admin's `/api/v1/stream` socket gets the
`message.created` frame for that inbox. The baseline, from the same
APPENDs: a bare imapclient session in IDLE on the same mailbox over the same
link, stopped when the server's `* n EXISTS` reaches it. That is the floor
(Dovecot waits about half a second after a change before it tells IDLE
clients), and app minus baseline is what the worker and web process add.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import websockets

from bench.email_app import (
    SECRET_KEY,
    create_inboxes,
    fresh_database,
    remove_sqlite,
    settings_for,
)
from bench.email_common import Endpoint, login, summary_ms
from bench.email_corpus import Generator, as_crlf
from bench.progress import say
from bench.server import free_port
from inbox.runtime import create_runtime

_FRAME_TIMEOUT = 60.0
# Between two APPENDs: long enough for the worker to be back in IDLE after
# the last message (checkpoint, EXAMINE, IDLE), so each one starts from rest;
# random, so the APPENDs don't lock in phase with the web process's 1 s
# outbox poll (every message would then wait the same).
_GAP_SECONDS = (0.3, 1.3)


@dataclass
class Spawned:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        """SIGTERM its process group (only ours: each has its own session), then SIGKILL."""
        if self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()


def spawn(name: str, command: list[str], env: dict[str, str], log_dir: Path) -> Spawned:
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name}.log"
    with log.open("wb") as out:
        # A file, never an unread pipe, which would stall the process when full.
        popen = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Spawned(name, popen, log)


async def start_redis(log_dir: Path) -> tuple[Spawned, str]:
    port = free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    proc = spawn("redis", [*command, "--appendonly", "no"], dict(os.environ), log_dir)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
            return proc, f"redis://127.0.0.1:{port}/0"
        await asyncio.sleep(0.05)
    proc.stop()
    raise RuntimeError(f"redis did not start; see {proc.log}")


async def _wait_http(proc: Spawned, base_url: str) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(base_url=base_url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if proc.popen.poll() is not None:
                raise RuntimeError(f"{proc.name} exited; see {proc.log}")
            with contextlib.suppress(httpx.TransportError):
                if (await client.get("/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{proc.name} not ready after 60 s; see {proc.log}")


class IdleWatcher:
    """A bare imapclient session in IDLE; records when each EXISTS reaches it."""

    def __init__(self, endpoint: Endpoint, user: str) -> None:
        self.endpoint = endpoint
        self.user = user
        self.arrivals: queue.Queue[float] = queue.Queue()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"idle-{endpoint.name}")

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError(f"IDLE watcher at {self.endpoint.name} did not start: {self._error}")

    def _run(self) -> None:
        try:
            client = login(self.endpoint, self.user)
            client.select_folder("INBOX", readonly=True)
            client.idle()
            self._ready.set()
            while not self._stop.is_set():
                responses = client.idle_check(timeout=0.5)
                now = time.perf_counter()
                if any(len(r) >= 2 and r[1] == b"EXISTS" for r in responses):
                    self.arrivals.put(now)
            with contextlib.suppress(Exception):
                client.idle_done()
                client.logout()
        except BaseException as exc:  # reported by start() or seen as missing arrivals
            self._error = exc
            self._ready.set()

    def drain(self) -> None:
        with contextlib.suppress(queue.Empty):
            while True:
                self.arrivals.get_nowait()

    def next_arrival(self, timeout: float) -> float | None:
        try:
            return self.arrivals.get(timeout=timeout)
        except queue.Empty:
            return None

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


class FrameReader:
    """The admin's /api/v1/stream, read in the background: message.created arrival times."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.created: dict[int, asyncio.Queue[float]] = {}
        self._task: asyncio.Task[None] | None = None
        self._ws: Any = None

    async def start(self, inbox_ids: list[int]) -> None:
        self.created = {i: asyncio.Queue() for i in inbox_ids}
        self._ws = await websockets.connect(
            self.url, additional_headers={"Authorization": f"Bearer {self.token}"}
        )
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for text in self._ws:
            now = time.perf_counter()
            frame = json.loads(text)
            if frame.get("type") == "message.created" and frame.get("inbox_id") in self.created:
                self.created[frame["inbox_id"]].put_nowait(now)

    def drain(self, inbox_id: int) -> None:
        q = self.created[inbox_id]
        while not q.empty():
            q.get_nowait()

    async def next_frame(self, inbox_id: int, within: float) -> float | None:
        try:
            async with asyncio.timeout(within):
                return await self.created[inbox_id].get()
        except TimeoutError:
            return None

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()


def _append(client: Any, raw: bytes) -> float:
    client.append("INBOX", raw)
    return time.perf_counter()  # the tagged OK is back: the message is in the folder


async def idle_pair(
    *,
    dovecot_endpoint: Endpoint,
    endpoints: list[Endpoint],
    users: dict[str, str],
    work: Path,
    log_dir: Path,
    redis: bool,
    messages: int,
) -> dict[str, Any]:
    """One serve + worker pair (with or without Redis); rounds over `endpoints`."""
    label = "redis" if redis else "no-redis"
    say(f"  IDLE to screen: inbox serve + inbox worker, SQLite, {label}")
    key = f"idle-{label}"
    url, data_dir = await fresh_database("sqlite", work, key, "")
    rt = create_runtime(settings_for(url, data_dir))
    try:
        token, ids = await create_inboxes(rt, [(ep.name, ep, users[ep.name]) for ep in endpoints])
    finally:
        await rt.close()
    procs: list[Spawned] = []
    watchers: list[IdleWatcher] = []
    appenders: dict[str, Any] = {}
    reader: FrameReader | None = None
    generator = Generator(seed=4242 + int(redis))
    rng = random.Random(99 + int(redis))
    try:
        env = {
            **os.environ,
            "INBOX_DATABASE_URL": url,
            "INBOX_DATA_DIR": str(data_dir),
            "INBOX_SECRET_KEY": SECRET_KEY,
            "WEB_CONCURRENCY": "1",
        }
        env.pop("INBOX_REDIS_URL", None)
        env.pop("INBOX_CHANNEL_LAYER", None)
        if redis:
            redis_proc, redis_url = await start_redis(log_dir)
            procs.append(redis_proc)
            env["INBOX_REDIS_URL"] = redis_url
        port = free_port()
        command = [sys.executable, "-m", "inbox.cli"]
        serve = spawn(
            f"serve-{label}",
            [*command, "serve", "--no-migrate", "--host", "127.0.0.1", "--port", str(port)],
            env,
            log_dir,
        )
        procs.append(serve)
        await _wait_http(serve, f"http://127.0.0.1:{port}")
        procs.append(spawn(f"worker-{label}", [*command, "worker"], env, log_dir))
        reader = FrameReader(f"ws://127.0.0.1:{port}/api/v1/stream", token)
        await reader.start(list(ids.values()))
        for ep in endpoints:
            watcher = IdleWatcher(ep, users[ep.name])
            await asyncio.to_thread(watcher.start)
            watchers.append(watcher)
            # The APPENDing client is a sender: straight to Dovecot, never delayed.
            appenders[ep.name] = await asyncio.to_thread(login, dovecot_endpoint, users[ep.name])
        by_name = {w.endpoint.name: w for w in watchers}
        results: dict[str, dict[str, list[float]]] = {
            ep.name: {"frame": [], "exists": [], "app_minus_exists": []} for ep in endpoints
        }
        missing: dict[str, int] = {ep.name: 0 for ep in endpoints}
        for n in range(messages + 1):  # round 0 is a warm-up: the worker starts its connectors
            order = endpoints if n % 2 == 0 else list(reversed(endpoints))
            for ep in order:
                inbox_id = ids[ep.name]
                watcher = by_name[ep.name]
                await asyncio.sleep(rng.uniform(*_GAP_SECONDS))
                reader.drain(inbox_id)
                watcher.drain()
                raw = as_crlf(generator.next().raw)
                appended = await asyncio.to_thread(_append, appenders[ep.name], raw)
                frame_at = await reader.next_frame(inbox_id, _FRAME_TIMEOUT)
                exists_at = await asyncio.to_thread(watcher.next_arrival, 10.0)
                if n == 0:
                    continue
                if frame_at is None or exists_at is None:
                    missing[ep.name] += 1
                    continue
                r = results[ep.name]
                r["frame"].append(frame_at - appended)
                r["exists"].append(exists_at - appended)
                r["app_minus_exists"].append(frame_at - exists_at)
            if n:
                line = ", ".join(
                    f"{name} {1000 * r['frame'][-1]:.0f} ms (EXISTS {1000 * r['exists'][-1]:.0f})"
                    for name, r in results.items()
                    if r["frame"]
                )
                say(f"    message {n}/{messages}: {line}")
        return {
            "redis": redis,
            "endpoints": {
                name: {
                    "frame_ms": summary_ms(r["frame"]),
                    "exists_ms": summary_ms(r["exists"]),
                    "app_minus_exists_ms": summary_ms(r["app_minus_exists"]),
                    "missing": missing[name],
                }
                for name, r in results.items()
            },
        }
    finally:
        if reader is not None:
            await reader.close()
        for watcher in watchers:
            await asyncio.to_thread(watcher.stop)
        for client in appenders.values():
            with contextlib.suppress(Exception):
                await asyncio.to_thread(client.logout)
        for proc in reversed(procs):
            await asyncio.to_thread(proc.stop)
        shutil.rmtree(data_dir, ignore_errors=True)
        remove_sqlite(work / f"{key}.sqlite3")
