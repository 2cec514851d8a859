"""One agent's event feed: subscribe, replay from the outbox, then go live.

Both sockets (the JSON stream and the browser's) read events through this,
so resuming works the same for both: subscribe first (buffering), replay
everything after `since` from the outbox, then hand over to the buffer,
skipping what the replay already covered. Nothing is missed or doubled.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from inbox.auth import Credential
from inbox.events import Published
from inbox.realtime.hub import Signal, Subscription
from inbox.realtime.outbox import events_after, latest_seq, oldest_seq
from inbox.realtime.presence import PresenceChange
from inbox.runtime import Runtime

REPLAY_BATCH = 500


class Overflowed(Exception):
    """The client fell too far behind; it must reconnect with `since`."""


@dataclass(frozen=True)
class Resync:
    """`since` is older than the outbox keeps: the client must refetch its state."""

    seq: int


class Feed:
    def __init__(self, rt: Runtime, sub: Subscription, agent_id: int) -> None:
        self._rt = rt
        self._sub = sub
        self._agent_id = agent_id
        self.last_seq = 0

    async def replay(self, since: int | None) -> AsyncIterator[Published | Resync]:
        """What to send first: the events after `since`, or a resync marker.

        Streamed in batches, so a long absence costs no more memory than a batch.
        """
        async with self._rt.read_sessions() as session:
            newest = await latest_seq(session)
            oldest = await oldest_seq(session)
        if since is None:
            self.last_seq = newest
            return
        # Newer than anything here: a seq from another database or a reset.
        # Older than the outbox keeps: pruned. Either way the client refetches.
        if since > newest or (oldest is not None and since < oldest - 1):
            self.last_seq = newest
            yield Resync(newest)
            return
        self.last_seq = since
        while True:
            async with self._rt.read_sessions() as session:
                batch = await events_after(session, self.last_seq, limit=REPLAY_BATCH)
            for published in batch:
                self.last_seq = published.seq
                if self._agent_id in published.audience.agent_ids:
                    yield published
            if len(batch) < REPLAY_BATCH:
                return

    async def next(self) -> Published | PresenceChange | Signal:
        """The next live event for this agent, never one already replayed.

        Presence changes (only on feeds opened with `presence=True`) and the
        heartbeat's signals come in between, as they happen; they have no
        place in the sequence.

        Safe to cancel: Queue.get takes an item only when it returns, and
        nothing here awaits after that.
        """
        while True:
            item = await self._sub.queue.get()
            if item is None:
                raise Overflowed
            if not isinstance(item, Published):
                return item
            if item.seq <= self.last_seq:
                continue
            self.last_seq = item.seq
            return item


@asynccontextmanager
async def open_feed(
    rt: Runtime,
    agent_id: int,
    *,
    credential: Credential | None = None,
    presence: bool = False,
    availability: bool = False,
) -> AsyncIterator[Feed]:
    with rt.hub.subscribe(agent_id, presence=presence, credential=credential) as sub:
        sub.availability = availability
        yield Feed(rt, sub, agent_id)
