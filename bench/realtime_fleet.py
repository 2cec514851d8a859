"""A fleet of websocket clients in child processes, recording when each frame arrives.

Receiving is as CPU-hungry as sending (frame parsing, decompression), so the
sockets live in their own processes, one per core by default, not in the
process that fires the events. Arrival times come from `time.perf_counter_ns`,
which on Linux is CLOCK_MONOTONIC: one clock for every process on the
machine, so an arrival here and a send in the parent subtract directly.

The hot path only appends `(socket, time, raw frame)`; frames are parsed when
the parent collects them. Commands travel over a pipe, one at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

# (socket index, url, extra headers)
SocketSpec = tuple[int, str, dict[str, str]]

_REPLY_TIMEOUT = 180.0


@dataclass(frozen=True)
class Arrival:
    type: str
    key: int | None  # message_id, conversation_id or tick id: what the frame is about
    assignee: int | None
    socket: int
    t_ns: int


def _identify(frame: dict[str, Any]) -> tuple[int | None, int | None]:
    kind = frame.get("type")
    if kind == "message.created":
        return frame.get("message_id"), None
    if kind == "conversation.assigned":
        return frame.get("conversation_id"), frame.get("assignee_id")
    return frame.get("id"), None


class _Sockets:
    """The child's side: its share of the sockets and what they received."""

    def __init__(self, compression: bool) -> None:
        self.compression = compression
        self.open: dict[int, ClientConnection] = {}
        self.readers: dict[int, asyncio.Task[None]] = {}
        self.frames: list[tuple[int, int, str | bytes]] = []
        self.closed: dict[int, int | None] = {}
        self.watch = ""
        self.watched = 0

    async def connect(self, specs: list[SocketSpec], concurrency: int) -> list[str]:
        gate = asyncio.Semaphore(concurrency)
        failures: list[str] = []

        async def one(spec: SocketSpec) -> None:
            index, url, headers = spec
            async with gate:
                try:
                    ws = await connect(
                        url,
                        additional_headers=headers,
                        open_timeout=30,
                        # The servers ping; client pings would only add noise.
                        ping_interval=None,
                        max_size=2**20,
                        compression="deflate" if self.compression else None,
                    )
                except Exception as exc:
                    failures.append(f"socket {index}: {exc!r}")
                    return
            self.open[index] = ws
            self.readers[index] = asyncio.create_task(self._read(index, ws))

        await asyncio.gather(*(one(spec) for spec in specs))
        return failures

    async def _read(self, index: int, ws: ClientConnection) -> None:
        clock = time.perf_counter_ns
        try:
            async for raw in ws:
                # self.frames, not a local: collect() swaps the list out.
                self.frames.append((index, clock(), raw))
                if self.watch and self.watch in raw:
                    self.watched += 1
        except ConnectionClosed:
            pass
        finally:
            self.open.pop(index, None)
            self.closed[index] = ws.close_code

    async def set_watch(self, needle: str) -> None:
        """Count arriving frames that contain `needle` from now on (cheap progress)."""
        self.watch, self.watched = needle, 0

    async def watched_count(self) -> int:
        return self.watched

    async def collect(self) -> tuple[list[Arrival], dict[int, int | None]]:
        """Everything received since the last collect, parsed; and sockets closed meanwhile."""
        frames, self.frames = self.frames, []
        closed, self.closed = self.closed, {}
        arrivals = []
        for index, t_ns, raw in frames:
            frame = json.loads(raw)
            kind = frame.get("type", "")
            if kind == "heartbeat":
                continue
            key, assignee = _identify(frame)
            arrivals.append(Arrival(kind, key, assignee, index, t_ns))
        return arrivals, closed

    async def count_open(self) -> int:
        return len(self.open)

    async def close_all(self) -> None:
        gate = asyncio.Semaphore(50)

        async def one(ws: ClientConnection) -> None:
            async with gate:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(ws.close(), 5)

        await asyncio.gather(*(one(ws) for ws in list(self.open.values())))
        for task in self.readers.values():
            task.cancel()
        await asyncio.gather(*self.readers.values(), return_exceptions=True)
        self.readers.clear()
        self.open.clear()
        self.frames.clear()
        self.closed.clear()


async def _serve(conn: Connection, compression: bool) -> None:
    sockets = _Sockets(compression)
    while True:
        command, args = await asyncio.to_thread(conn.recv)
        if command == "stop":
            await sockets.close_all()
            conn.send(("ok", None))
            return
        try:
            result = await getattr(sockets, command)(*args)
        except Exception as exc:  # reported to the parent, which raises it there
            conn.send(("error", repr(exc)))
        else:
            conn.send(("ok", result))


def _child_main(conn: Connection, compression: bool) -> None:
    asyncio.run(_serve(conn, compression))


class Fleet:
    """The parent's handle: spreads sockets over the children and gathers what they saw."""

    def __init__(self, processes: int, *, compression: bool = True) -> None:
        context = multiprocessing.get_context("spawn")
        self._children: list[tuple[BaseProcess, Connection]] = []
        for n in range(processes):
            parent, child = context.Pipe()
            proc = context.Process(
                target=_child_main, args=(child, compression), name=f"fleet-{n}", daemon=True
            )
            proc.start()
            self._children.append((proc, parent))

    @property
    def processes(self) -> int:
        return len(self._children)

    async def _ask(self, conn: Connection, command: str, *args: Any) -> Any:
        conn.send((command, args))
        if not await asyncio.to_thread(conn.poll, _REPLY_TIMEOUT):
            raise TimeoutError(f"fleet process gave no answer to {command}")
        status, result = conn.recv()
        if status != "ok":
            raise RuntimeError(f"fleet {command} failed: {result}")
        return result

    async def _all(self, command: str, per_child: list[tuple[Any, ...]] | None = None) -> list[Any]:
        args = per_child or [() for _ in self._children]
        return list(
            await asyncio.gather(
                *(
                    self._ask(conn, command, *a)
                    for (_, conn), a in zip(self._children, args, strict=True)
                )
            )
        )

    async def connect(self, specs: list[SocketSpec], concurrency: int = 32) -> list[str]:
        """Open the sockets, spread round-robin; returns the failures."""
        shares: list[list[SocketSpec]] = [[] for _ in self._children]
        for n, spec in enumerate(specs):
            shares[n % len(shares)].append(spec)
        each = max(1, concurrency // len(shares))
        results = await self._all("connect", [(share, each) for share in shares])
        return [failure for result in results for failure in result]

    async def watch(self, needle: str) -> None:
        await self._all("set_watch", [(needle,) for _ in self._children])

    async def watched(self) -> int:
        return sum(await self._all("watched_count"))

    async def collect(self) -> tuple[list[Arrival], dict[int, int | None]]:
        arrivals: list[Arrival] = []
        closed: dict[int, int | None] = {}
        for got, gone in await self._all("collect"):
            arrivals += got
            closed.update(gone)
        return arrivals, closed

    async def count_open(self) -> int:
        return sum(await self._all("count_open"))

    async def close_all(self) -> None:
        await self._all("close_all")

    def stop(self) -> None:
        """Always called (finally): ask politely, then terminate, then kill."""
        for _, conn in self._children:
            with contextlib.suppress(Exception):
                conn.send(("stop", ()))
        for proc, conn in self._children:
            proc.join(10)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join()
            conn.close()
