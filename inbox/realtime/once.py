"""A small LRU that computes each key once, however many callers ask at once.

Every socket of a process that needs the same fragment asks for it at about
the same moment (they were all woken by the same event); the first caller
starts the work and the others await the same future. The work runs as a
task of its own and callers await it shielded, so a caller that goes away
(its socket closed) can't cancel it for the rest.

The cache is bounded by entries and, optionally, by the total weight of the
results (bytes of HTML): a message may be 100 kB of text, and a cache sized
only by count could then hold far more memory than intended.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class OnceCache(Generic[K, V]):
    def __init__(
        self,
        size: int,
        *,
        max_weight: int | None = None,
        weigh: Callable[[V], int] | None = None,
    ) -> None:
        self._size = size
        self._max_weight = max_weight
        self._weigh = weigh
        self._entries: OrderedDict[K, asyncio.Future[V]] = OrderedDict()
        self._weights: dict[K, int] = {}
        self.weight = 0

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: K, compute: Callable[[], Awaitable[V]]) -> V:
        future = self._entries.get(key)
        if future is None:
            future = asyncio.ensure_future(compute())
            self._entries[key] = future
            future.add_done_callback(lambda done: self._settle(key, done))
            self._trim()
        else:
            self._entries.move_to_end(key)
        return await asyncio.shield(future)

    def _settle(self, key: K, future: asyncio.Future[V]) -> None:
        # Reading the exception keeps asyncio from logging it as never retrieved.
        failed = future.cancelled() or future.exception() is not None
        if self._entries.get(key) is not future:
            return  # evicted while it ran
        if failed:
            del self._entries[key]  # not cached: the next caller tries again
            return
        if self._weigh is not None:
            self._weights[key] = self._weigh(future.result())
            self.weight += self._weights[key]
            self._trim()

    def _trim(self) -> None:
        def too_heavy() -> bool:
            return self._max_weight is not None and self.weight > self._max_weight

        # The newest entry stays, however heavy: its callers are waiting on it.
        while len(self._entries) > 1 and (len(self._entries) > self._size or too_heavy()):
            oldest, _ = self._entries.popitem(last=False)
            self.weight -= self._weights.pop(oldest, 0)
