"""What the benchmark drives: the app, the Starlette baseline, the broadcast baseline.

Each target knows how to make one event happen (`fire`), where its sockets
connect, and, where it has them, how to open a conversation and claim it.
`fire` returns when the trigger was sent (perf_counter_ns, the clock the
fleet stamps arrivals with) and the id the resulting frames will carry.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass
from typing import Protocol

import httpx
from websockets.asyncio.client import ClientConnection, connect

from bench.realtime_fleet import SocketSpec
from bench.realtime_infra import Proc
from bench.realtime_seed import Seeded
from inbox.channels.api.signing import signature

TEXT = "Hello, my order has not arrived yet and the tracking page shows nothing."


@dataclass(frozen=True)
class Fired:
    key: int | None  # the id the frames will carry; None when the trigger failed
    t_ns: int  # when the trigger was sent
    ms: float  # how long the trigger took to answer (HTTP round trip)
    error: str | None = None
    server: int = 0  # which server process took the trigger (socket i is on server i % n)


@dataclass(frozen=True)
class Attempt:
    agent: int  # the agent id the claim was made as
    status: int
    t_ns: int


class Target(Protocol):
    name: str
    frame_type: str
    servers: list[Proc]
    claims: bool

    def socket_specs(self, start: int, count: int) -> list[SocketSpec]: ...
    async def fire(self) -> Fired: ...
    async def warm(self, connections: int) -> None: ...
    async def new_conversation(self) -> int: ...
    async def claim(self, conversation_id: int, racer: int) -> Attempt: ...
    async def assignee(self, conversation_id: int) -> int | None: ...
    async def aclose(self) -> None: ...


def _ws(base_url: str, path: str) -> str:
    return base_url.replace("http://", "ws://", 1) + path


def _clients(servers: list[Proc]) -> list[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    return [httpx.AsyncClient(base_url=s.base_url, timeout=30.0, limits=limits) for s in servers]


class _Http:
    """Shared by the HTTP targets: a keep-alive client per server, round-robin."""

    def __init__(self, servers: list[Proc], tag: str) -> None:
        self.servers = servers
        self.http = _clients(servers)
        self.tag = tag
        self._n = itertools.count()

    def next(self) -> tuple[int, httpx.AsyncClient]:
        n = next(self._n)
        return n, self.http[n % len(self.http)]

    async def warm(self, connections: int) -> None:
        """Open the connections a race will use, so no claim pays for a TCP handshake."""
        await asyncio.gather(*(c.get("/healthz") for c in self.http for _ in range(connections)))

    async def aclose(self) -> None:
        for client in self.http:
            await client.aclose()


class AppTarget(_Http):
    """The inbox: signed webhook POSTs in, `/api/v1/stream` JSON sockets out."""

    frame_type = "message.created"
    claims = True

    def __init__(
        self, name: str, servers: list[Proc], seeded: Seeded, tag: str, customers: int = 20
    ) -> None:
        super().__init__(servers, tag)
        self.name = name
        self.seeded = seeded
        self.customers = customers
        self._senders = itertools.count()

    def socket_specs(self, start: int, count: int) -> list[SocketSpec]:
        tokens = self.seeded.tokens
        return [
            (
                i,
                _ws(self.servers[i % len(self.servers)].base_url, "/api/v1/stream"),
                {"Authorization": f"Bearer {tokens[i % len(tokens)]}"},
            )
            for i in range(start, start + count)
        ]

    async def _post(self, sender: str) -> tuple[Fired, int | None]:
        n, client = self.next()
        server = n % len(self.http)
        body = json.dumps(
            {"message_id": f"{self.tag}-{n}", "sender": {"id": sender}, "text": TEXT}
        ).encode()
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Inbox-Timestamp": stamp,
            "X-Inbox-Signature": signature(self.seeded.secret, stamp, body),
        }
        t0 = time.perf_counter_ns()
        try:
            response = await client.post(
                f"/webhooks/api/{self.seeded.inbox_id}", content=body, headers=headers
            )
        except httpx.HTTPError as exc:
            ms = (time.perf_counter_ns() - t0) / 1e6
            return Fired(None, t0, ms, repr(exc), server), None
        ms = (time.perf_counter_ns() - t0) / 1e6
        if response.status_code != 200:
            error = f"{response.status_code} {response.text[:200]}"
            return Fired(None, t0, ms, error, server), None
        answer = response.json()
        return Fired(int(answer["message_id"]), t0, ms, None, server), int(
            answer["conversation_id"]
        )

    async def fire(self) -> Fired:
        # A few returning customers: after the warm-up each POST is one
        # message.created event on an existing conversation.
        fired, _ = await self._post(f"customer-{next(self._senders) % self.customers}")
        return fired

    async def new_conversation(self) -> int:
        fired, conversation_id = await self._post(f"claim-{self.tag}-{next(self._senders)}")
        if conversation_id is None:
            raise RuntimeError(f"could not open a conversation: {fired.error}")
        return conversation_id

    async def claim(self, conversation_id: int, racer: int) -> Attempt:
        client = self.http[racer % len(self.http)]
        token = self.seeded.tokens[racer]
        t0 = time.perf_counter_ns()
        response = await client.post(
            f"/api/v1/conversations/{conversation_id}/claim",
            headers={"Authorization": f"Bearer {token}"},
        )
        return Attempt(self.seeded.agent_ids[racer], response.status_code, t0)

    async def assignee(self, conversation_id: int) -> int | None:
        response = await self.http[0].get(
            f"/api/v1/conversations/{conversation_id}",
            headers={"Authorization": f"Bearer {self.seeded.tokens[0]}"},
        )
        response.raise_for_status()
        value = response.json()["conversation"]["assignee_id"]
        return None if value is None else int(value)


class BaselineTarget(_Http):
    """The bare Starlette app (realtime_baseline): raw INSERT + PUBLISH, bare fan-out."""

    frame_type = "message.created"
    claims = True

    def __init__(self, name: str, servers: list[Proc], tag: str) -> None:
        super().__init__(servers, tag)
        self.name = name

    def socket_specs(self, start: int, count: int) -> list[SocketSpec]:
        return [
            (i, _ws(self.servers[i % len(self.servers)].base_url, "/ws"), {})
            for i in range(start, start + count)
        ]

    async def fire(self) -> Fired:
        n, client = self.next()
        server = n % len(self.http)
        t0 = time.perf_counter_ns()
        try:
            response = await client.post(
                "/ingest", json={"message_id": f"{self.tag}-{n}", "text": TEXT}
            )
            ms = (time.perf_counter_ns() - t0) / 1e6
            response.raise_for_status()
        except httpx.HTTPError as exc:
            return Fired(None, t0, (time.perf_counter_ns() - t0) / 1e6, repr(exc), server)
        return Fired(int(response.json()["message_id"]), t0, ms, None, server)

    async def new_conversation(self) -> int:
        _, client = self.next()
        response = await client.post("/conversations")
        response.raise_for_status()
        return int(response.json()["conversation_id"])

    async def claim(self, conversation_id: int, racer: int) -> Attempt:
        client = self.http[racer % len(self.http)]
        agent = racer + 1
        t0 = time.perf_counter_ns()
        response = await client.post(
            "/claim", json={"conversation_id": conversation_id, "agent_id": agent}
        )
        return Attempt(agent, response.status_code, t0)

    async def assignee(self, conversation_id: int) -> int | None:
        response = await self.http[0].get(f"/conversations/{conversation_id}")
        response.raise_for_status()
        value = response.json()["assignee_id"]
        return None if value is None else int(value)


class BroadcastTarget:
    """The bare websockets server (realtime_broadcast), triggered over its control socket."""

    frame_type = "tick"
    claims = False

    def __init__(self, name: str, server: Proc) -> None:
        self.name = name
        self.servers = [server]
        self._n = itertools.count()
        self._control: ClientConnection | None = None

    def socket_specs(self, start: int, count: int) -> list[SocketSpec]:
        url = _ws(self.servers[0].base_url, "/ws")
        return [(i, url, {}) for i in range(start, start + count)]

    async def fire(self) -> Fired:
        if self._control is None:
            self._control = await connect(_ws(self.servers[0].base_url, "/control"))
        n = next(self._n)
        t0 = time.perf_counter_ns()
        await self._control.send(str(n))
        return Fired(n, t0, (time.perf_counter_ns() - t0) / 1e6)

    async def warm(self, connections: int) -> None:
        return None

    async def new_conversation(self) -> int:
        raise NotImplementedError("the broadcast baseline has no conversations")

    async def claim(self, conversation_id: int, racer: int) -> Attempt:
        raise NotImplementedError("the broadcast baseline has no conversations")

    async def assignee(self, conversation_id: int) -> int | None:
        raise NotImplementedError("the broadcast baseline has no conversations")

    async def aclose(self) -> None:
        if self._control is not None:
            await self._control.close()
