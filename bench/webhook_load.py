"""An open-loop webhook load generator that runs in its own process.

Deliveries go out on a fixed schedule (delivery i at start + i / rate),
whether or not earlier ones have been answered. A delivery's latency runs
from the moment it was *scheduled* to the end of its answer. So a server
that falls behind shows its queue in the latency, and so does a generator
that falls behind (its send lag is reported too, so the two can be told
apart). With `rate=None` the generator runs a closed loop instead: it keeps
`max_in_flight` deliveries outstanding and measures saturation throughput.

It runs in a child process (`Generator`), on uvloop, so it never shares the
server's event loop or the parent's. The HTTP/1.1 client is a bare asyncio
protocol over httptools, the parser uvicorn uses. httpx costs about a
millisecond of CPU per request, which on 2 cores would cap the generator
below the rates it has to offer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, cast

import httptools

from bench.loadgen import percentile
from inbox.channels.api.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature

TEXT = "Hello, my order has not arrived yet and the tracking page shows nothing."
TELEGRAM_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Connections opened before the schedule starts, so handshakes stay out of the figures.
_WARM_CONNECTIONS = 16
_REPLY_TIMEOUT = 900.0


@dataclass(frozen=True)
class Plan:
    port: int
    path: str
    channel: str  # telegram | api: the body's shape and its signature
    secret: str  # Telegram secret token or API signing secret ("" for the floor)
    rate: float | None  # deliveries per second; None: closed loop
    seconds: float
    max_in_flight: int  # connections; beyond them deliveries wait in the generator
    new_share: float  # share of deliveries from a customer never seen before
    first_id: int  # update / message ids start here, so every run's are new
    customer_base: int  # customer ids are customer_base + 0, 1, 2, ...
    known_customers: int  # how many of them earlier runs made (returning customers)
    drain_seconds: float  # how long to wait for answers after the last send


class Deliveries:
    """Distinct, correctly signed deliveries from new and returning customers."""

    def __init__(self, plan: Plan, host: str, seed: int) -> None:
        self.plan = plan
        self.rng = random.Random(seed)
        self.next_id = plan.first_id
        # Returning customers are drawn from every customer made so far.
        self.customers = plan.known_customers
        self.new_customers = 0
        self.head = (
            f"POST {plan.path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        ).encode()

    def _customer(self) -> int:
        if not self.customers or self.rng.random() < self.plan.new_share:
            self.customers += 1
            self.new_customers += 1
            return self.plan.customer_base + self.customers - 1
        return self.plan.customer_base + self.rng.randrange(self.customers)

    def next(self) -> bytes:
        n, self.next_id = self.next_id, self.next_id + 1
        customer = self._customer()
        if self.plan.channel == "telegram":
            body = json.dumps(
                {
                    "update_id": n,
                    "message": {
                        "message_id": n,
                        "date": int(time.time()),
                        "chat": {"id": customer, "type": "private"},
                        "from": {"id": customer, "is_bot": False, "first_name": f"C{customer}"},
                        "text": TEXT,
                    },
                }
            ).encode()
            headers = f"{TELEGRAM_SECRET_HEADER}: {self.plan.secret}\r\n"
        else:
            body = json.dumps(
                {"message_id": f"m-{n}", "sender": {"id": f"c-{customer}"}, "text": TEXT}
            ).encode()
            stamp = str(int(time.time()))
            headers = (
                f"{TIMESTAMP_HEADER}: {stamp}\r\n"
                f"{SIGNATURE_HEADER}: {signature(self.plan.secret, stamp, body)}\r\n"
            )
        return self.head + f"{headers}Content-Length: {len(body)}\r\n\r\n".encode() + body


@dataclass
class _Item:
    scheduled: float
    payload: bytes
    sent: float = 0.0


# (connection, delivery, status or None when it failed, body or reason, connection reusable)
Done = Callable[["_Conn", _Item, int | None, str, bool], None]


class _Conn(asyncio.Protocol):
    """One keep-alive connection carrying one delivery at a time."""

    def __init__(self, done: Done, lost: Callable[[_Conn], None]) -> None:
        self.done, self.lost = done, lost
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.item: _Item | None = None
        self.body = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self.transport = cast(asyncio.Transport, transport)

    def send(self, item: _Item) -> None:
        assert self.transport is not None
        self.item, item.sent = item, time.perf_counter()
        self.body.clear()
        self.transport.write(item.payload)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(f"bad response: {exc}")
            if self.transport is not None:
                self.transport.close()

    def on_body(self, body: bytes) -> None:
        if len(self.body) < 300:
            self.body += body

    def on_message_complete(self) -> None:
        item, self.item = self.item, None
        if item is not None:
            status, text = self.parser.get_status_code(), self.body.decode(errors="replace")
            self.done(self, item, status, text, self.parser.should_keep_alive())

    def _fail(self, reason: str) -> None:
        item, self.item = self.item, None
        if item is not None:
            self.done(self, item, None, reason, False)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(f"connection lost: {exc!r}")
        self.lost(self)


class _Run:
    """One plan's schedule, its connections, and what came back."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.deliveries = Deliveries(plan, f"127.0.0.1:{plan.port}", seed=plan.first_id)
        self.idle: list[_Conn] = []
        self.conns: set[_Conn] = set()
        self.opening = 0
        self.backlog: deque[_Item] = deque()
        self.outstanding = 0
        self.latencies: list[float] = []
        self.lags: list[float] = []
        self.statuses: Counter[str] = Counter()
        self.first_error: str | None = None
        self.last_done = 0.0
        self.closed_until = 0.0  # closed loop: keep sending until then
        self.finished = asyncio.Event()
        self.scheduling = True

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self.opening += 1
        try:
            _, conn = await loop.create_connection(
                lambda: _Conn(self._done, self._lost), "127.0.0.1", self.plan.port
            )
        except OSError as exc:
            self.opening -= 1
            self._record(None, f"connect failed: {exc!r}", None)
            return
        self.opening -= 1
        self.conns.add(conn)
        self._release(conn)

    def submit(self, item: _Item) -> None:
        self.outstanding += 1
        if self.idle:
            self.idle.pop().send(item)
            return
        self.backlog.append(item)
        if len(self.conns) + self.opening < self.plan.max_in_flight:
            asyncio.get_running_loop().create_task(self.open())

    def _release(self, conn: _Conn) -> None:
        if self.backlog:
            conn.send(self.backlog.popleft())
        else:
            self.idle.append(conn)

    def _lost(self, conn: _Conn) -> None:
        self.conns.discard(conn)
        with contextlib.suppress(ValueError):
            self.idle.remove(conn)
        if self.backlog:
            asyncio.get_running_loop().create_task(self.open())

    def _record(self, status: int | None, text: str, item: _Item | None) -> None:
        now = time.perf_counter()
        self.last_done = now
        if status is not None and 200 <= status < 300 and item is not None:
            self.latencies.append((now - item.scheduled) * 1000)
            self.lags.append((item.sent - item.scheduled) * 1000)
            self.statuses[str(status)] += 1
        else:
            self.statuses[str(status) if status is not None else "failed"] += 1
            if self.first_error is None:
                self.first_error = f"{status}: {text[:200]}"

    def _done(
        self, conn: _Conn, item: _Item, status: int | None, text: str, reusable: bool
    ) -> None:
        self._record(status, text, item)
        self.outstanding -= 1
        if reusable and conn.transport is not None and not conn.transport.is_closing():
            self._release(conn)
        elif conn.transport is not None:
            conn.transport.close()  # connection_lost then replaces it if work waits
        now = time.perf_counter()
        if self.plan.rate is None and now < self.closed_until:
            self.submit(_Item(now, self.deliveries.next()))
        elif not self.scheduling and self.outstanding == 0:
            self.finished.set()

    async def go(self) -> dict[str, Any]:
        await asyncio.gather(
            *(self.open() for _ in range(min(_WARM_CONNECTIONS, self.plan.max_in_flight)))
        )
        cpu0 = _cpu()
        start = time.perf_counter()
        sent = 0
        if self.plan.rate is None:
            self.closed_until = start + self.plan.seconds
            for _ in range(self.plan.max_in_flight):
                self.submit(_Item(start, self.deliveries.next()))
                sent += 1
            await asyncio.sleep(self.plan.seconds)
        else:
            sent = await self._schedule(start, self.plan.rate)
        last_sent = time.perf_counter()
        self.scheduling = False
        if self.outstanding:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.finished.wait(), self.plan.drain_seconds)
        unanswered = self.outstanding
        for conn in list(self.conns):
            if conn.transport is not None:
                conn.transport.close()
        if self.plan.rate is None:
            sent = sum(self.statuses.values()) + unanswered
        return self._result(start, last_sent, sent, unanswered, _cpu() - cpu0)

    async def _schedule(self, start: float, rate: float) -> int:
        count = round(rate * self.plan.seconds)
        n = 0
        while n < count:
            due = min(count, int((time.perf_counter() - start) * rate) + 1)
            while n < due:
                self.submit(_Item(start + n / rate, self.deliveries.next()))
                n += 1
            wait = start + n / rate - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
        return n

    def _result(
        self, start: float, last_sent: float, sent: int, unanswered: int, cpu: float
    ) -> dict[str, Any]:
        ordered, lags = sorted(self.latencies), sorted(self.lags)
        ok = len(ordered)
        span = max(self.last_done - start, 1e-9)
        send_span = max(last_sent - start, 1e-9)
        return {
            "rate": self.plan.rate,
            "seconds": self.plan.seconds,
            "sent": sent,
            "ok": ok,
            "errors": sent - ok,
            "unanswered": unanswered,
            "statuses": dict(self.statuses),
            "first_error": self.first_error,
            "offered_per_s": round(sent / send_span, 1),
            "throughput_per_s": round(ok / span, 1),
            "p50_ms": round(percentile(ordered, 0.50), 2) if ordered else None,
            "p90_ms": round(percentile(ordered, 0.90), 2) if ordered else None,
            "p99_ms": round(percentile(ordered, 0.99), 2) if ordered else None,
            "max_ms": round(ordered[-1], 2) if ordered else None,
            "send_lag_p99_ms": round(percentile(lags, 0.99), 2) if lags else None,
            "connections": len(self.conns),
            "generator_cpu_share": round(cpu / span, 3),
            "new_customers": self.deliveries.new_customers,
        }


def _cpu() -> float:
    times = os.times()
    return times.user + times.system


def _child_main(conn: Connection) -> None:
    import uvloop

    while True:
        command, plan = conn.recv()
        if command == "stop":
            return
        try:
            result = uvloop.run(_Run(Plan(**plan)).go())
        except Exception as exc:  # reported to the parent, which raises it there
            conn.send(("error", repr(exc)))
        else:
            conn.send(("ok", result))


class Generator:
    """The parent's handle on the generator process."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._proc: BaseProcess = context.Process(
            target=_child_main, args=(child,), name="webhook-load", daemon=True
        )
        self._proc.start()

    async def run(self, plan: Plan) -> dict[str, Any]:
        self._conn.send(("run", asdict(plan)))
        if not await asyncio.to_thread(self._conn.poll, _REPLY_TIMEOUT):
            raise TimeoutError("the load generator gave no answer")
        status, result = self._conn.recv()
        if status != "ok":
            raise RuntimeError(f"load generator failed: {result}")
        return dict(result)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._conn.send(("stop", None))
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(5)
        self._conn.close()
