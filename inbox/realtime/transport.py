"""Carrying committed events between processes over a channels layer.

Each process makes one layer channel, joins one group, and hands whatever
arrives to its hub; sockets never touch the layer. The embedded default is
channels' in-process layer; with INBOX_REDIS_URL set it is channels-redis.
The layer only wakes processes up: the outbox stays the source of truth, so a
lost or late message costs latency, never an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from channels.layers import InMemoryChannelLayer

from inbox.config import Settings

log = logging.getLogger(__name__)

GROUP = "inbox.events"
Receiver = Callable[[dict[str, Any]], None]

# After a failure the receive loop waits this long, doubling up to the cap.
_BACKOFF_START, _BACKOFF_CAP = 0.2, 5.0


def make_layer(settings: Settings) -> Any:
    """The channels layer this deployment uses."""
    if not settings.redis_url:
        # One message per event reaches the single in-process channel, so
        # capacity only has to cover a burst between two receive() calls.
        return InMemoryChannelLayer(capacity=10_000)
    if settings.channel_layer == "list":
        from channels_redis.core import RedisChannelLayer

        # Capacity counts per sending process (stack-notes): sized for bursts
        # of committed events, which are small, not for one message per socket.
        return RedisChannelLayer(hosts=[settings.redis_url], capacity=10_000, expiry=30)
    from channels_redis.pubsub import RedisPubSubChannelLayer

    return RedisPubSubChannelLayer(hosts=[settings.redis_url])


class LayerTransport:
    """One subscription per process to the events group of a channels layer."""

    def __init__(self, layer: Any, group: str = GROUP) -> None:
        self.layer = layer
        self.group = group
        self._channel: str | None = None
        self._task: asyncio.Task[None] | None = None
        # Called after the subscription is (re)established, so the hub can
        # catch up on what it missed while it was down.
        self.on_reconnect: Callable[[], None] | None = None

    async def start(self, receiver: Receiver) -> None:
        await self._subscribe()
        self._task = asyncio.create_task(self._receive_loop(receiver), name="inbox-transport")

    async def _subscribe(self) -> None:
        self._channel = await self.layer.new_channel()
        await self.layer.group_add(self.group, self._channel)

    async def send(self, message: dict[str, Any]) -> None:
        await self.layer.group_send(self.group, {"type": "inbox.event", **message})

    async def _receive_loop(self, receiver: Receiver) -> None:
        delay = _BACKOFF_START
        while True:
            try:
                if self._channel is None:
                    await self._subscribe()
                    if self.on_reconnect:
                        self.on_reconnect()
                message = await self.layer.receive(self._channel)
                delay = _BACKOFF_START
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("event transport failed (%s); retrying in %.1fs", exc, delay)
                self._channel = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, _BACKOFF_CAP)
                continue
            message.pop("type", None)
            try:
                receiver(message)
            except Exception:
                log.exception("dropping a malformed transport message")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._channel is not None:
            with contextlib.suppress(Exception):
                await self.layer.group_discard(self.group, self._channel)
        await close_layer(self.layer)


async def close_layer(layer: Any) -> None:
    """Release the layer's connections (never its data: other processes share it)."""
    from channels_redis.core import RedisChannelLayer
    from channels_redis.pubsub import RedisPubSubChannelLayer

    with contextlib.suppress(Exception):
        if isinstance(layer, RedisChannelLayer):
            await layer.close_pools()
        elif isinstance(layer, RedisPubSubChannelLayer):
            # Only unsubscribes and closes this process's connections.
            await layer.flush()
