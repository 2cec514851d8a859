"""Live collaboration across processes, through a real Redis, and without it.

Two real `inbox serve` processes, A and B, share one database and one private
redis-server. Ana's JSON stream is open on A; Ben acts through B's HTTP API.

- Through Redis, Ben's action reaches Ana well inside the hub's 1 s outbox
  poll, so the fast path is proven to be Redis, for both channel layers.
- With Redis killed, Ben's actions still succeed and Ana still gets every
  event (by the poll); after Redis comes back on the same port, delivery
  through Redis resumes without restarting either process.
- An event the transport never carries (a writer that committed but never
  fanned out, a subscription Redis forgot) still arrives, by the poll.
- A hung Redis (connections open, no replies) slows no action and doesn't
  hold up shutdown.
- In-process, the list layer's subscription survives an idle receive, the
  layer's group expiry and a lost group key, and reconnects under one name.

Every cross-process check ends by comparing what Ana received with the outbox: each of her
events once, in sequence order, none extra.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import os
import re
import statistics
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from inbox.channels.ingest import ingest
from inbox.config import PROJECT_ROOT
from inbox.realtime.outbox import events_after, latest_seq
from inbox.runtime import Runtime
from tests.conftest import World, login
from tests.helpers import inbound
from tests.live import free_port
from tests.redis_server import DIE_WITH_PARENT, RedisServer, missing, require_redis

LAYERS = ("pubsub", "list")
# The hub polls the outbox every second (Hub's default poll_interval). An
# event seen well inside that, across several events spaced so that they fall
# at different points of the poll's cycle, came through Redis.
POLL_SECONDS = 1.0
THROUGH_REDIS = 0.5
# Without Redis an event waits for the next poll: one interval, plus slack
# for a loaded CI machine.
BY_POLL = POLL_SECONDS + 1.5


# -- the two app processes ---------------------------------------------------


class AppProcess:
    """`inbox serve --no-migrate` on its own loopback port, output to a log file."""

    def __init__(self, name: str, env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.env = env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = logs / f"{name}.log"
        self._proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log_path.open("ab") as log:
            # A file, not a pipe: a pipe nobody reads would eventually block the server.
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "inbox.cli",
                "serve",
                "--no-migrate",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                env=self.env,
                cwd=PROJECT_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=DIE_WITH_PARENT,
            )

    async def wait_ready(self, within: float = 20.0) -> None:
        assert self._proc is not None
        async with httpx.AsyncClient(timeout=1.0) as http:
            try:
                async with asyncio.timeout(within):
                    while self._proc.returncode is None:
                        with contextlib.suppress(httpx.TransportError):
                            if (await http.get(f"{self.url}/healthz")).status_code == 200:
                                return
                        await asyncio.sleep(0.05)
            except TimeoutError:
                pass
        pytest.fail(f"{self.name} did not start within {within} s:\n{self.log_tail()}")

    async def stop(self, within: float = 10.0) -> float:
        """SIGTERM, as a platform stops a process; the seconds it took to exit."""
        proc, self._proc = self._proc, None
        if proc is None or proc.returncode is not None:
            return 0.0
        loop = asyncio.get_running_loop()
        began = loop.time()
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), within)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return float("inf")
        return loop.time() - began

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Cluster:
    redis: RedisServer
    a: AppProcess
    b: AppProcess

    def logs(self) -> str:
        return (
            "\n".join(f"--- {p.name} ---\n{p.log_tail()}" for p in (self.a, self.b))
            + f"\n--- redis ---\n{self.redis.log_tail()}"
        )


@pytest.fixture(params=LAYERS)
def layer(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    require_redis()
    server = RedisServer(tmp_path / "redis")
    await server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def conversation(rt: Runtime, world: World) -> int:
    received = await ingest(rt, inbound(id_of(world.email_inbox), email="maria@example.test"))
    return received.message.conversation_id


@pytest.fixture
async def cluster(
    database_url: str, redis: RedisServer, layer: str, tmp_path: Path, conversation: int
) -> AsyncIterator[Cluster]:
    """A and B, started after the team and the conversation exist (their hubs
    begin from the outbox's latest seq at start)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INBOX_")}
    env.update(
        INBOX_DATABASE_URL=database_url,
        INBOX_REDIS_URL=redis.url,
        INBOX_CHANNEL_LAYER=layer,
        INBOX_DATA_DIR=str(tmp_path / "data"),
        INBOX_SECRET_KEY="fanout-test-secret-key",
        PYTHONUNBUFFERED="1",
    )
    env.pop("WEB_CONCURRENCY", None)
    env.pop("PORT", None)
    cluster = Cluster(redis, AppProcess("A", env, tmp_path), AppProcess("B", env, tmp_path))
    try:
        await cluster.a.start()
        await cluster.b.start()
        await asyncio.gather(cluster.a.wait_ready(), cluster.b.wait_ready())
        yield cluster
    finally:
        # Both, whatever happened; a stop that hangs is killed by AppProcess.
        await asyncio.gather(cluster.a.stop(), cluster.b.stop())


# -- the stream client and the actions ---------------------------------------


class Stream:
    """An agent's /api/v1/stream, read in the background so each frame's
    arrival time is its own, not when the test got round to it."""

    def __init__(self, ws: Any) -> None:
        self._ws = ws
        self._frames: asyncio.Queue[tuple[float, dict[str, Any]]] = asyncio.Queue()
        self.seqs: list[int] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        async for raw in self._ws:
            frame = json.loads(raw)
            if frame["type"] != "heartbeat":
                await self._frames.put((loop.time(), frame))

    async def next(self, within: float) -> tuple[float, dict[str, Any]]:
        try:
            async with asyncio.timeout(within):
                at, frame = await self._frames.get()
        except TimeoutError:
            raise AssertionError(f"no event on the stream within {within} s") from None
        self.seqs.append(int(frame["seq"]))
        return at, frame

    async def quiet(self, seconds: float) -> list[dict[str, Any]]:
        """Whatever else arrives in that time (nothing, if all is well)."""
        await asyncio.sleep(seconds)
        extra = []
        while not self._frames.empty():
            extra.append(self._frames.get_nowait()[1])
        return extra

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
            await self._reader


@asynccontextmanager
async def stream_on(app: AppProcess, token: str, since: int) -> AsyncIterator[Stream]:
    url = f"ws://127.0.0.1:{app.port}/api/v1/stream?since={since}"
    async with websockets.connect(
        url, additional_headers={"Authorization": f"Bearer {token}"}, open_timeout=5
    ) as ws:
        stream = Stream(ws)
        try:
            yield stream
        finally:
            await stream.close()


@asynccontextmanager
async def api_on(app: AppProcess, token: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=app.url, headers={"Authorization": f"Bearer {token}"}, timeout=10.0
    ) as api:
        yield api


async def note_seen(
    api: httpx.AsyncClient, stream: Stream, conversation: int, text: str, within: float
) -> tuple[float, float]:
    """Post a note through one process and wait for it on the other's stream.

    Returns (seconds from sending the request to the event arriving, seconds
    the request took). The event can arrive before the response does: B
    fans out before it answers.
    """
    loop = asyncio.get_running_loop()
    sent = loop.time()
    response = await api.post(
        f"/api/v1/conversations/{conversation}/messages", json={"kind": "note", "text": text}
    )
    took = loop.time() - sent
    assert response.status_code == 201, response.text
    message_id = response.json()["message"]["id"]
    at, frame = await stream.next(within)
    assert frame["type"] == "message.created", frame
    assert frame["message_id"] == message_id, (frame, message_id)
    return at - sent, took


async def outbox_seq(rt: Runtime) -> int:
    async with rt.read_sessions() as session:
        return await latest_seq(session)


async def assert_got_exactly_the_outbox(
    rt: Runtime, stream: Stream, after: int, agent_id: int
) -> None:
    """Each of the agent's events since `after` once, in order, and nothing late."""
    # Long enough for one more poll, which is what would bring a duplicate.
    extra = await stream.quiet(POLL_SECONDS + 0.2)
    assert extra == [], f"duplicated or unexpected frames: {extra}"
    async with rt.read_sessions() as session:
        events = await events_after(session, after, limit=10_000)
    expected = [p.seq for p in events if agent_id in p.audience.agent_ids]
    assert stream.seqs == expected


def id_of(row: object) -> int:
    """World's fields are typed `object` (conftest): their ids, for mypy."""
    return int(row.id)  # type: ignore[attr-defined]


def spread(latencies: list[float]) -> str:
    return (
        f"median {statistics.median(latencies) * 1000:.0f} ms, "
        f"max {max(latencies) * 1000:.0f} ms over {len(latencies)}"
    )


async def notes_by_poll(
    api: httpx.AsyncClient, stream: Stream, conversation: int, label: str, count: int
) -> tuple[list[float], list[float]]:
    """Post `count` notes back to back while Redis can't carry them; each must
    succeed and then arrive (in order) by the poll. (latencies, request times)"""
    loop = asyncio.get_running_loop()
    sent: list[tuple[float, int]] = []
    took: list[float] = []
    for n in range(count):
        began = loop.time()
        response = await api.post(
            f"/api/v1/conversations/{conversation}/messages",
            json={"kind": "note", "text": f"{label} {n}"},
        )
        took.append(loop.time() - began)
        assert response.status_code == 201, response.text
        sent.append((began, response.json()["message"]["id"]))
    latencies = []
    for began, message_id in sent:
        at, frame = await stream.next(BY_POLL)
        assert frame.get("message_id") == message_id, (frame, message_id)
        latencies.append(at - began)
    return latencies, took


async def redis_delivery_resumes(
    api: httpx.AsyncClient, stream: Stream, conversation: int, within: float
) -> tuple[float, list[float]]:
    """Act every 0.3 s until three events in a row come through Redis.

    Each must arrive whichever way it travels. Under 0.5 s three times running
    is proof: an event the poll delivered arrived on a poll tick, so the next
    one, sent 0.3 s later, would wait about 0.7 s for the following tick.
    Returns (seconds until Redis carried them again, every latency seen).
    """
    loop = asyncio.get_running_loop()
    began = loop.time()
    latencies: list[float] = []
    try:
        async with asyncio.timeout(within):
            while True:
                latency, _ = await note_seen(api, stream, conversation, "again", BY_POLL)
                latencies.append(latency)
                if len(latencies) >= 3 and max(latencies[-3:]) < THROUGH_REDIS:
                    return loop.time() - began, latencies
                await asyncio.sleep(0.3)
    except TimeoutError:
        raise AssertionError(
            f"Redis did not carry events again within {within} s: {spread(latencies)}"
        ) from None


# -- the tests ---------------------------------------------------------------


async def test_an_action_on_one_process_reaches_a_stream_on_the_other_through_redis(
    layer: str, cluster: Cluster, rt: Runtime, world: World, conversation: int
) -> None:
    start = await outbox_seq(rt)
    loop = asyncio.get_running_loop()
    async with (
        stream_on(cluster.a, world.tokens["ana"], since=start) as ana,
        api_on(cluster.b, world.tokens["ben"]) as ben,
    ):
        sent = loop.time()
        claim = await ben.post(f"/api/v1/conversations/{conversation}/claim")
        assert claim.status_code == 200, claim.text
        at, frame = await ana.next(BY_POLL)
        assert frame["type"] == "conversation.assigned", frame
        assert frame["assignee_id"] == id_of(world.ben) and frame["reason"] == "claimed"
        latencies = [at - sent]
        # Each note goes 0.3 s after the previous event arrived. Had the poll
        # carried that one, it arrived on a tick, and this one would wait
        # about 0.7 s for the next: all under 0.5 s means Redis carried them.
        for n in range(5):
            await asyncio.sleep(0.3)
            latency, _ = await note_seen(ben, ana, conversation, f"note {n}", BY_POLL)
            latencies.append(latency)
        print(f"\n[{layer}] B -> Redis -> A: {spread(latencies)}")
        assert max(latencies) < THROUGH_REDIS, f"{spread(latencies)}\n{cluster.logs()}"
        await assert_got_exactly_the_outbox(rt, ana, start, id_of(world.ana))


def test_missing_redis_fails_under_ci_and_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no redis-server"):
        missing("no redis-server")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="no redis-server"):
        missing("no redis-server")


async def test_a_redis_restart_loses_no_event_and_redis_delivery_resumes(
    layer: str, cluster: Cluster, rt: Runtime, world: World, conversation: int
) -> None:
    start = await outbox_seq(rt)
    async with (
        stream_on(cluster.a, world.tokens["ana"], since=start) as ana,
        api_on(cluster.b, world.tokens["ben"]) as ben,
    ):
        before, _ = await note_seen(ben, ana, conversation, "before", BY_POLL)
        assert before < THROUGH_REDIS, cluster.logs()

        cluster.redis.stop()
        during, took = await notes_by_poll(ben, ana, conversation, "during", 3)
        print(f"\n[{layer}] Redis down: by poll {spread(during)}; requests {spread(took)}")
        # Actions never wait on Redis: the hub fans out in the background.
        assert max(took) < 1.0, spread(took)

        # Same port, empty: subscriptions and the list layer's group are gone.
        # Acting at once, before A has necessarily joined again, means Redis
        # may drop the first events; the poll must still deliver them, once.
        await cluster.redis.start()
        resumed, after = await redis_delivery_resumes(ben, ana, conversation, within=15)
        print(f"[{layer}] restarted: Redis carries again after {resumed:.1f} s; {spread(after)}")
        await assert_got_exactly_the_outbox(rt, ana, start, id_of(world.ana))


async def test_events_redis_dropped_or_never_carried_still_arrive_by_the_poll(
    layer: str, cluster: Cluster, rt: Runtime, world: World, conversation: int
) -> None:
    start = await outbox_seq(rt)
    loop = asyncio.get_running_loop()
    async with (
        stream_on(cluster.a, world.tokens["ana"], since=start) as ana,
        api_on(cluster.b, world.tokens["ben"]) as ben,
    ):
        # Committed by a writer that never fans out (this test's runtime has
        # no started hub), as if it died between commit and publish.
        began = loop.time()
        created = await ingest(rt, inbound(id_of(world.email_inbox), email="lost@example.test"))
        at, frame = await ana.next(BY_POLL)
        assert frame["type"] == "conversation.created", frame
        assert frame["conversation_id"] == created.message.conversation_id
        assert (await ana.next(BY_POLL))[1]["type"] == "message.created"
        print(f"\n[{layer}] never sent: by poll after {(at - began) * 1000:.0f} ms")

        if layer == "list":
            # Redis forgets the group (FLUSHALL, eviction, a restart without
            # persistence that the receive connection never noticed, or
            # channels-redis's group_expiry): B's send reaches no one.
            async with redis_client(cluster.redis) as r:
                assert await r.delete("asgi:group:inbox.events") == 1
            latency, _ = await note_seen(ben, ana, conversation, "unheard", BY_POLL)
            print(f"[{layer}] group forgotten: by poll after {latency * 1000:.0f} ms")
            # Either it took a poll's time (Redis takes milliseconds), or the
            # group is still gone, so B's send reached no one: on a loaded
            # machine a poll tick can come at any moment. (Only A renewing its
            # membership, every 15 s, could put the group back.)
            async with redis_client(cluster.redis) as r:
                regrouped = await r.exists("asgi:group:inbox.events")
            assert latency > THROUGH_REDIS or not regrouped, "carried by Redis: no drop"
        await assert_got_exactly_the_outbox(rt, ana, start, id_of(world.ana))


async def test_a_hung_redis_neither_slows_actions_nor_blocks_shutdown(
    layer: str, cluster: Cluster, rt: Runtime, world: World, conversation: int
) -> None:
    start = await outbox_seq(rt)
    async with (
        stream_on(cluster.a, world.tokens["ana"], since=start) as ana,
        api_on(cluster.b, world.tokens["ben"]) as ben,
    ):
        before, _ = await note_seen(ben, ana, conversation, "before", BY_POLL)
        assert before < THROUGH_REDIS, cluster.logs()

        # Connections stay open but nothing answers: no error comes quickly.
        cluster.redis.freeze()
        during, took = await notes_by_poll(ben, ana, conversation, "hung", 2)
        print(f"\n[{layer}] Redis hung: by poll {spread(during)}; requests {spread(took)}")
        assert max(took) < 1.0, spread(took)

        cluster.redis.thaw()
        resumed, _ = await redis_delivery_resumes(ben, ana, conversation, within=15)
        print(f"[{layer}] thawed: Redis carries events again after {resumed:.1f} s")
        await assert_got_exactly_the_outbox(rt, ana, start, id_of(world.ana))

    # Shutting down must not wait on a Redis that never answers.
    cluster.redis.freeze()
    stopped = await asyncio.gather(cluster.a.stop(), cluster.b.stop())
    print(f"[{layer}] stopped with Redis hung in {max(stopped):.1f} s")
    assert max(stopped) < 6.0, f"{stopped}\n{cluster.logs()}"


async def test_a_list_layer_subscription_survives_idleness_expiry_and_lost_keys(
    redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """In-process, where the layer can be given a short group_expiry.

    - An idle receive (BZPOPMIN, 5 s) must not fail on the client's socket
      timeout (redis-py 8 defaults it to 5 s too).
    - channels-redis drops a member `group_expiry` after it joined, however
      busy it is, and Redis can lose the group's key outright: the process
      must join again by itself.
    - After its receive connection breaks it joins again under the same
      channel name: a new name per reconnect leaves stale members, whose
      messages the process would buffer and never read.
    """
    from inbox.realtime.transport import GROUP, LayerTransport, make_layer
    from tests.conftest import make_settings

    settings = make_settings("sqlite+aiosqlite://", redis_url=redis.url, channel_layer="list")
    layer = make_layer(settings)
    layer.group_expiry = 3
    receiving, sending = LayerTransport(layer), LayerTransport(make_layer(settings))
    got: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await receiving.start(got.put_nowait)
    try:
        async with redis_client(redis) as r:
            members = await r.zrange(f"asgi:group:{GROUP}", 0, -1)
            assert len(members) == 1
            await r.delete(f"asgi:group:{GROUP}")
            # Past an idle BZPOPMIN, past group_expiry since the join.
            await asyncio.sleep(5.6)
            await sending.send({"seq": 1})
            async with asyncio.timeout(1):
                assert await got.get() == {"seq": 1}
            assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == []
            assert await r.zrange(f"asgi:group:{GROUP}", 0, -1) == members

            blocked = await clients_running(r, "bzpopmin", within=2)
            assert len(blocked) == 1, blocked
            await r.client_kill_filter(_id=blocked[0])
            await sending.send({"seq": 2})
            async with asyncio.timeout(3):
                assert await got.get() == {"seq": 2}
            assert await r.zrange(f"asgi:group:{GROUP}", 0, -1) == members
    finally:
        await receiving.close()
        await sending.close()


async def test_stop_task_stops_a_task_busy_with_redis(redis: RedisServer) -> None:
    """Shutdown can't rely on one cancel(): with a socket timeout set, redis-py
    sends through asyncio.wait_for, which on Python 3.11 loses a cancellation
    that lands as the send completes, and the task carries on."""
    from redis.asyncio import Redis

    from inbox.realtime.transport import stop_task

    client = Redis.from_url(redis.url, socket_timeout=5)

    async def busy() -> None:
        while True:
            await client.ping()

    task = asyncio.create_task(busy())
    loop = asyncio.get_running_loop()
    try:
        await asyncio.sleep(0.2)
        began = loop.time()
        await stop_task(task, within=5)
        assert task.done(), "still running"
        # Stopped by the retried cancels, not by giving up at the deadline
        # (how much sooner depends on how busy the machine is).
        assert loop.time() - began < 5
    finally:
        # Ends the task, if it still runs, with a ConnectionError.
        await client.aclose()


@asynccontextmanager
async def redis_client(server: RedisServer) -> AsyncIterator[Any]:
    from redis.asyncio import Redis

    # No socket timeout: with one, redis-py sends through asyncio.wait_for,
    # which on Python 3.11 can swallow the cancellation of this test's
    # asyncio.timeout() (see inbox.realtime.transport.stop_task).
    client = Redis.from_url(server.url, socket_timeout=None)
    try:
        yield client
    finally:
        await client.aclose()


async def clients_running(client: Any, command: str, within: float) -> list[str]:
    """Ids of the Redis clients blocked in (or last running) `command`, once any is.

    A deadline, not asyncio.timeout(): a cancellation that redis-py swallows
    (see inbox.realtime.transport.stop_task) would make that wait forever.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        ids = [c["id"] for c in await client.client_list() if c["cmd"] == command]
        if ids:
            return ids
        await asyncio.sleep(0.02)
    raise AssertionError(f"no Redis client ran {command} within {within} s")


# -- presence: ephemeral, so it travels only through Redis ---------------------


@asynccontextmanager
async def page_socket(app: AppProcess, cookie: str, origin: str, path: str) -> AsyncIterator[Any]:
    """The live socket of the page at `path` on `app`, caught up."""
    async with httpx.AsyncClient(base_url=app.url, cookies={"inbox_session": cookie}) as http:
        page = await http.get(path)
    assert page.status_code == 200, page.text
    found = re.search(r'ws-connect="([^"]+)"', page.text)
    assert found, "the page has no live socket"
    url = f"ws://127.0.0.1:{app.port}" + html.unescape(found.group(1))
    async with websockets.connect(
        url,
        additional_headers={"Cookie": f"inbox_session={cookie}"},
        origin=origin,  # type: ignore[arg-type]
    ) as ws:
        await ws.recv()  # the marker that ends the replay
        yield ws


async def presence_text(ws: Any, within: float) -> str:
    """The text of the next presence fragment (no seq marker), events skipped."""
    async with asyncio.timeout(within):
        while True:
            batch = await ws.recv()
            if 'id="live-seq"' not in batch:
                return " ".join(html.unescape(re.sub(r"<[^>]*>", " ", batch)).split())


async def test_presence_on_one_process_shows_on_the_other(
    layer: str, cluster: Cluster, world: World, conversation: int
) -> None:
    cookies = {}
    for who in ("ana", "ben"):
        async with httpx.AsyncClient(base_url=cluster.a.url) as http:
            await login(http, f"{who}@example.test")
            cookies[who] = http.cookies["inbox_session"]
    path = f"/conversations/{conversation}"
    async with page_socket(cluster.b, cookies["ben"], cluster.b.url, path) as ben:
        async with page_socket(cluster.a, cookies["ana"], cluster.a.url, path) as ana:
            assert await presence_text(ben, THROUGH_REDIS * 4) == (
                "Ana is viewing this conversation"
            ), cluster.logs()
            await ana.send(json.dumps({"presence": "typing"}))
            assert await presence_text(ben, THROUGH_REDIS * 4) == "Ana is typing here…"
        # Closed on A: gone on B at once, not when the report would expire.
        assert await presence_text(ben, THROUGH_REDIS * 4) == ""
