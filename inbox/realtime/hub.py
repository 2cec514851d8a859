"""The hub: hands committed events to this process's subscribers.

Each subscriber gets a bounded queue. A subscriber that falls behind is
marked overflowed instead of growing memory; it resyncs from the outbox,
which stays the source of truth.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from inbox.events import Published

log = logging.getLogger(__name__)


class Subscription:
    def __init__(self, agent_id: int | None, maxsize: int) -> None:
        # None receives everything (used by tests and server-side consumers).
        self.agent_id = agent_id
        self.queue: asyncio.Queue[Published] = asyncio.Queue(maxsize)
        self.overflowed = False

    def offer(self, published: Published) -> None:
        if self.overflowed:
            return
        if self.agent_id is not None and self.agent_id not in published.audience.agent_ids:
            return
        try:
            self.queue.put_nowait(published)
        except asyncio.QueueFull:
            self.overflowed = True
            log.warning("subscriber for agent %s fell behind; it must resync", self.agent_id)


class Hub:
    """In-process fan-out. A cross-process transport feeds `deliver_local`."""

    def __init__(self, queue_size: int = 1000) -> None:
        self._subs: set[Subscription] = set()
        self._queue_size = queue_size

    async def publish(self, published: Published) -> None:
        self.deliver_local(published)

    def deliver_local(self, published: Published) -> None:
        for sub in list(self._subs):
            sub.offer(published)

    @contextmanager
    def subscribe(self, agent_id: int | None = None) -> Iterator[Subscription]:
        sub = Subscription(agent_id, self._queue_size)
        self._subs.add(sub)
        try:
            yield sub
        finally:
            self._subs.discard(sub)

    async def close(self) -> None:
        self._subs.clear()
