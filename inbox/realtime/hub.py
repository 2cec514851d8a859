"""The hub: hands committed events, in sequence order, to this process's subscribers.

Events reach a process two ways: from actions committed in it (`publish`) and
from other processes over the transport. Either way the hub delivers each
sequence number once and in order, reading any gap back from the outbox; a
poll of the outbox catches up on whatever the transport lost (a Redis
restart, a dropped message). Each subscriber has a bounded queue; one that
falls behind is marked overflowed and must resync, so it can't grow memory
or slow the others.

Fanning out to other processes happens in the background, in order: an
action's request never waits on Redis, so a slow, hung or absent Redis costs
other processes latency (until their next poll), never this one's requests.

Presence rides the same transport but not the outbox: it is ephemeral, has
no seq and is never replayed. Every process keeps all sockets' reports in its
PresenceTracker.

One heartbeat per process, every HEARTBEAT_SECONDS, keeps sockets honest:
it renews this process's presence reports (so other processes' copies don't
expire while the sockets are open), re-checks every subscriber's credentials
in one query, and ticks the idle ones, so sockets need no timer of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.auth import Credential, still_valid
from inbox.events import Audience, Published, parse_event
from inbox.realtime.outbox import events_after, latest_seq
from inbox.realtime.presence import PresenceChange, PresenceReport, PresenceTracker
from inbox.realtime.transport import LayerTransport, stop_task

log = logging.getLogger(__name__)

# Events waiting to be fanned out. Past this, while Redis is stuck, newer
# events are not sent at all: other processes read them on their next poll.
_OUTGOING_MAX = 1000
# One send may take this long before it is abandoned for the next. A healthy
# Redis answers in about a millisecond; a hung one would otherwise hold every
# later event for the client's socket timeout (which still ends the send if
# redis-py loses this deadline's cancellation: see transport.stop_task).
_SEND_SECONDS = 2.0


# The process heartbeat. Presence reports live for presence.VIEWING_TTL (three
# heartbeats), and idle browser pages hear from the server this often.
HEARTBEAT_SECONDS = 15.0

# Between ticks, one slice of idle subscriptions gets its tick, then the
# loop pauses: a thousand sockets' heartbeats never go out in one burst that
# would hold up an event's delivery.
_TICK_SLICE = 100
_TICK_PAUSE = 0.05


class Signal(enum.Enum):
    """What the heartbeat tells a subscriber, in between events."""

    TICK = "tick"  # still here: say so to an idle client
    REVOKED = "revoked"  # its credentials no longer sign in: close


Item = Published | PresenceChange | Signal


class Subscription:
    def __init__(
        self,
        agent_id: int | None,
        maxsize: int,
        *,
        presence: bool = False,
        credential: Credential | None = None,
    ) -> None:
        # None receives everything (server-side consumers and tests).
        self.agent_id = agent_id
        # None, queued last, says the subscriber fell behind: it wakes a
        # waiting reader with nothing else to wait on.
        self.queue: asyncio.Queue[Item | None] = asyncio.Queue(maxsize + 1)
        self.maxsize = maxsize
        self.overflowed = False
        # Browser pages show presence; the JSON stream does not.
        self.presence = presence
        # Board pages follow everyone's availability, not only their audience's.
        self.availability = False
        # Checked again at every heartbeat (None: nothing to check).
        self.credential = credential
        # A chat visitor's socket (see `subscribe_visitor`): it gets only what
        # its customer may see, and nothing until it has a customer.
        self.visitor = False
        self.customer_id: int | None = None
        # Something was queued since the last heartbeat: no tick needed.
        self.busy = False

    def offer(self, published: Published) -> None:
        if self.overflowed:
            return
        if self.visitor:
            if self.customer_id is None or published.audience.customer_id != self.customer_id:
                return
        elif self.agent_id is not None and self.agent_id not in published.audience.agent_ids:
            return
        if self.queue.qsize() < self.maxsize:
            self.queue.put_nowait(published)
            self.busy = True
            return
        self.overflowed = True
        self.queue.put_nowait(None)
        log.warning("subscriber for agent %s fell behind; it must resync", self.agent_id)

    def offer_presence(self, change: PresenceChange) -> None:
        if not self.presence or self.overflowed or self.agent_id == change.agent_id:
            return
        if self.visitor:
            # Typing on their conversation, and agents coming and going (the
            # widget says whether anyone is there to answer).
            wanted = change.availability_changed or (
                self.customer_id is not None and self.customer_id in change.customer_ids
            )
        else:
            wanted = self.agent_id in change.audience or (
                self.availability and change.availability_changed
            )
        # Ephemeral: with the queue full, this one is dropped, and the socket
        # is about to be dropped for falling behind anyway.
        if wanted and self.queue.qsize() < self.maxsize:
            self.queue.put_nowait(change)

    def signal(self, signal: Signal) -> None:
        # A full queue means the subscriber is about to overflow, which ends
        # it anyway (and a revoked one can't come back).
        if not self.overflowed and self.queue.qsize() < self.maxsize:
            self.queue.put_nowait(signal)


class Hub:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        transport: LayerTransport | None = None,
        *,
        queue_size: int = 1000,
        poll_interval: float = 1.0,
    ) -> None:
        self._sessions = sessions
        self._transport = transport
        self._queue_size = queue_size
        self._poll_interval = poll_interval
        self._subs: set[Subscription] = set()
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._poller: asyncio.Task[None] | None = None
        self._outgoing: asyncio.Queue[dict[str, Any]] = asyncio.Queue(_OUTGOING_MAX)
        self._sender: asyncio.Task[None] | None = None
        self._started = False
        # Everything up to here was delivered (or predates this process).
        self.last_seq: int | None = None
        # Presence of every process's sockets; this process's own are renewed
        # by its heartbeat. The node id lets a process skip its own echoes.
        self.presence = PresenceTracker(self._fan_out_presence)
        self._local_presence: dict[str, PresenceReport] = {}
        self._node = uuid.uuid4().hex
        self._heartbeat: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Join the transport and start the outbox poll (servers and workers only)."""
        async with self._sessions() as session:
            self.last_seq = await latest_seq(session)
        if self._transport is not None:
            self._transport.on_reconnect = self._wake.set
            await self._transport.start(self._on_transport)
            self._sender = asyncio.create_task(self._send_loop(), name="inbox-hub-send")
        self._poller = asyncio.create_task(self._poll_loop(), name="inbox-hub-poll")
        self._heartbeat = asyncio.create_task(self._heartbeat_loop(), name="inbox-hub-heartbeat")
        self._started = True

    async def publish(self, published: Published) -> None:
        """Called by actions after commit."""
        await self._deliver_in_order(published)
        if self._fans_out():
            try:
                self._outgoing.put_nowait(_to_wire(published))
            except asyncio.QueueFull:
                # Other processes will read it from the outbox on their next poll.
                log.debug("fan-out backlog full; event %s left to the outbox", published.seq)

    def report_presence(self, report: PresenceReport) -> None:
        """A socket's presence changed (socket_presence): apply here, tell the other processes."""
        if report.availability is None:
            self._local_presence.pop(report.socket, None)
        else:
            self._local_presence[report.socket] = report
        self.presence.apply(report)
        self._send_presence([report])

    def _send_presence(self, reports: list[PresenceReport]) -> None:
        if not reports or not self._fans_out():
            return
        message = {"node": self._node, "presence": [r.model_dump(mode="json") for r in reports]}
        # Ephemeral: with the backlog full it is dropped, and the next
        # heartbeat (or the report's expiry) sets things right.
        with contextlib.suppress(asyncio.QueueFull):
            self._outgoing.put_nowait(message)

    def _fans_out(self) -> bool:
        return (
            self._sender is not None and self._transport is not None and self._transport.has_peers()
        )

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                await self.heartbeat()
            except Exception as exc:
                log.warning("heartbeat failed: %s", exc)

    async def heartbeat(self) -> None:
        """Renew this process's presence everywhere; check and tick every subscriber.

        Credentials are checked for all subscribers at once, in one query, so
        a thousand open sockets cost one query per heartbeat, not a thousand.
        """
        reports = list(self._local_presence.values())
        for report in reports:
            self.presence.apply(report)
        self._send_presence(reports)

        subs = list(self._subs)
        credentials = {s.credential for s in subs if s.credential is not None}
        valid = credentials
        if credentials:
            try:
                async with self._sessions() as session:
                    valid = await still_valid(session, credentials)
            except Exception as exc:
                # Can't tell now (database down): keep them until it can.
                log.warning("could not re-check sockets' credentials: %s", exc)
        ticked = 0
        for sub in subs:
            if sub.credential is not None and sub.credential not in valid:
                sub.signal(Signal.REVOKED)
            elif sub.busy:
                sub.busy = False  # it heard from us since the last heartbeat
            else:
                sub.signal(Signal.TICK)
                ticked += 1
                if ticked % _TICK_SLICE == 0:
                    await asyncio.sleep(_TICK_PAUSE)

    def _fan_out_presence(self, change: PresenceChange) -> None:
        for sub in list(self._subs):
            sub.offer_presence(change)

    async def _send_loop(self) -> None:
        assert self._transport is not None
        failing = False
        while True:
            message = await self._outgoing.get()
            try:
                async with asyncio.timeout(_SEND_SECONDS):
                    await self._transport.send(message)
            except Exception as exc:
                # Other processes will read it from the outbox on their next
                # poll. One warning per outage, not one per event.
                if not failing:
                    reason = str(exc) or type(exc).__name__  # a timeout has no message
                    log.warning("could not fan out %s: %s", _describe(message), reason)
                failing = True
                continue
            if failing:
                log.warning("fanning out events again from %s", _describe(message))
            failing = False

    def _on_transport(self, message: dict[str, Any]) -> None:
        if "presence" in message:
            if message.get("node") != self._node:
                for raw in message["presence"]:
                    self.presence.apply(PresenceReport.model_validate(raw))
            return
        published = _from_wire(message)
        if self.last_seq is not None and published.seq <= self.last_seq:
            return  # our own echo, or already caught up from the outbox
        task = asyncio.create_task(self._deliver_in_order(published))
        task.add_done_callback(_log_failure)

    async def _deliver_in_order(self, published: Published) -> None:
        async with self._lock:
            last = self.last_seq
            if last is not None and published.seq <= last:
                return
            if last is not None and published.seq > last + 1:
                # Writers commit in sequence order, so the gap is committed
                # already (or a rolled-back hole): read it back first.
                async with self._sessions() as session:
                    missing = await events_after(session, last, before=published.seq)
                for earlier in missing:
                    self._fan_out(earlier)
            self._fan_out(published)
            self.last_seq = published.seq

    async def catch_up(self) -> None:
        """Deliver whatever the outbox has beyond what this process has seen."""
        async with self._lock:
            if self.last_seq is None:
                return
            while True:
                async with self._sessions() as session:
                    batch = await events_after(session, self.last_seq)
                for published in batch:
                    self._fan_out(published)
                    self.last_seq = published.seq
                if len(batch) < 1000:
                    return

    async def _poll_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_interval)
            self._wake.clear()
            try:
                await self.catch_up()
            except Exception as exc:
                log.warning("outbox catch-up failed: %s", exc)

    def _fan_out(self, published: Published) -> None:
        for sub in list(self._subs):
            sub.offer(published)

    @contextmanager
    def subscribe(
        self,
        agent_id: int | None = None,
        *,
        presence: bool = False,
        credential: Credential | None = None,
    ) -> Iterator[Subscription]:
        sub = Subscription(agent_id, self._queue_size, presence=presence, credential=credential)
        self._subs.add(sub)
        try:
            yield sub
        finally:
            self._subs.discard(sub)

    @contextmanager
    def subscribe_visitor(self) -> Iterator[Subscription]:
        """A chat visitor's subscription: set its `customer_id` once known."""
        sub = Subscription(None, self._queue_size, presence=True)
        sub.visitor = True
        self._subs.add(sub)
        try:
            yield sub
        finally:
            self._subs.discard(sub)

    async def close(self) -> None:
        # Unsent events are left to the outbox: other processes poll it.
        for task in (self._poller, self._sender, self._heartbeat):
            if task is not None:
                await stop_task(task)
        self._poller = self._sender = self._heartbeat = None
        self.presence.forget_all()
        self._local_presence.clear()
        if self._transport is not None and self._started:
            await self._transport.close()
        self._subs.clear()
        self._started = False


def _to_wire(published: Published) -> dict[str, Any]:
    return {
        "seq": published.seq,
        "event": published.event.model_dump(mode="json"),
        "audience": published.audience.to_json(),
    }


def _from_wire(message: dict[str, Any]) -> Published:
    return Published(
        int(message["seq"]),
        parse_event(message["event"]),
        Audience.from_json(message["audience"]),
    )


def _describe(message: dict[str, Any]) -> str:
    return f"event {message['seq']}" if "seq" in message else "presence"


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("delivering a fanned-out event failed: %s", task.exception())
