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
# Group membership is renewed this often (at most). A layer forgets members:
# channels-redis and the in-process layer after `group_expiry` (counted from
# the join, not from the last message: 24 h by default), and Redis
# whenever it loses the group's key (a restart without persistence, FLUSHALL,
# eviction) while our receive connection never noticed. Until the renewal the
# outbox poll carries events, so this bounds how long latency stays degraded.
_REFRESH_CAP = 15.0
# Leaving the group and closing connections at shutdown must not wait on a
# Redis that has stopped answering: the membership expires by itself.
_CLOSE_SECONDS = 2.0
# A Redis that accepts connections but never answers (hung, partitioned) must
# fail a command rather than block it. redis-py 8 defaults to 5 s for both;
# older versions wait forever. The list layer's blocking receive (BZPOPMIN
# for `brpop_timeout`, also 5 s) gets its wait on top, or every idle receive
# would race the socket timeout and fail.
_CONNECT_TIMEOUT = 2.0
_REPLY_TIMEOUT = 5.0
# With membership renewed every 15 s, the list layer can forget a member
# after a minute instead of channels-redis's default day: a process that died
# without leaving (SIGKILL, OOM, a lost host) stops costing every group_send
# a write to its dead key within a minute.
_GROUP_EXPIRY = 60


def make_layer(settings: Settings) -> Any:
    """The channels layer this deployment uses."""
    if not settings.redis_url:
        # One message per event reaches the single in-process channel, so
        # capacity only has to cover a burst between two receive() calls.
        return InMemoryChannelLayer(capacity=10_000)
    if settings.channel_layer == "list":
        from channels_redis.core import RedisChannelLayer

        host = _redis_host(settings.redis_url, RedisChannelLayer.brpop_timeout + _REPLY_TIMEOUT)
        # Capacity counts per sending process (stack-notes): sized for bursts
        # of committed events, which are small, not for one message per socket.
        return RedisChannelLayer(
            hosts=[host], capacity=10_000, expiry=30, group_expiry=_GROUP_EXPIRY
        )
    from channels_redis.pubsub import RedisPubSubChannelLayer

    # The pub/sub reader polls with its own short timeout; this one bounds
    # publishing and (un)subscribing.
    return RedisPubSubChannelLayer(hosts=[_redis_host(settings.redis_url, _REPLY_TIMEOUT)])


def _redis_host(url: str, read_timeout: float) -> dict[str, Any]:
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError

    # channels-redis passes a host dict's other keys to redis-py's pool.
    return {
        "address": url,
        "socket_connect_timeout": _CONNECT_TIMEOUT,
        "socket_timeout": read_timeout,
        # After Redis restarts, every pooled connection is dead, and without a
        # retry the first command on each fails: the first event each process
        # sends afterwards would wait for the poll. One immediate reconnect
        # fixes that. A repeat is harmless (receivers drop a seq they have
        # seen); timeouts are not retried, so a hung Redis costs no more.
        "retry": Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
    }


class LayerTransport:
    """One subscription per process to the events group of a channels layer."""

    def __init__(self, layer: Any, group: str = GROUP) -> None:
        self.layer = layer
        self.group = group
        self._channel: str | None = None
        # False after a receive failed: the group may have lost us, so the
        # receive loop joins again (with the same channel) before receiving.
        self._joined = False
        self._task: asyncio.Task[None] | None = None
        self._refresher: asyncio.Task[None] | None = None
        # Called after the subscription is (re)established, so the hub can
        # catch up on what it missed while it was down.
        self.on_reconnect: Callable[[], None] | None = None

    @property
    def refresh_interval(self) -> float:
        """How often membership is renewed: well inside the layer's expiry."""
        expiry = getattr(self.layer, "group_expiry", None)
        if isinstance(expiry, int | float) and expiry > 0:
            return min(_REFRESH_CAP, expiry / 4)
        return _REFRESH_CAP

    async def start(self, receiver: Receiver) -> None:
        await self._join()
        self._task = asyncio.create_task(self._receive_loop(receiver), name="inbox-transport")
        self._refresher = asyncio.create_task(self._refresh_loop(), name="inbox-transport-refresh")

    async def _join(self) -> None:
        # One channel for the life of the process. A new one per reconnect
        # would leave the old name in the list layer's group (until
        # group_expiry): every message would then also be buffered, unread,
        # under each stale name, all of which share this process's Redis key.
        if self._channel is None:
            self._channel = await self.layer.new_channel()
        await self.layer.group_add(self.group, self._channel)
        self._joined = True

    def has_peers(self) -> bool:
        """Whether a send may reach another process's hub.

        The embedded default's in-process layer is this process's alone: its
        group holds only our channel (unless something in this process joined
        it too, as tests do), so a send would only come back to us as an echo
        the hub drops, after a deep copy and a trip through the layer. A Redis
        layer can't tell who listens, so it always may.
        """
        if isinstance(self.layer, InMemoryChannelLayer):
            return len(self.layer.groups.get(self.group, ())) > 1
        return True

    async def send(self, message: dict[str, Any]) -> None:
        await self.layer.group_send(self.group, {"type": "inbox.event", **message})

    async def _receive_loop(self, receiver: Receiver) -> None:
        delay = _BACKOFF_START
        while True:
            try:
                if not self._joined:
                    await self._join()
                    # Back to full speed once joined: the next failure is a
                    # new outage, not more of this one.
                    delay = _BACKOFF_START
                    if self.on_reconnect:
                        self.on_reconnect()
                message = await self.layer.receive(self._channel)
                delay = _BACKOFF_START
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("event transport failed (%s); retrying in %.1fs", exc, delay)
                self._joined = False
                await asyncio.sleep(delay)
                delay = min(delay * 2, _BACKOFF_CAP)
                continue
            message.pop("type", None)
            try:
                receiver(message)
            except Exception:
                log.exception("dropping a malformed transport message")

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_interval)
            if not self._joined or self._channel is None:
                continue  # the receive loop is joining again anyway
            try:
                # Idempotent: re-adding renews the member's timestamp (list
                # layer) or re-subscribes nothing (pub/sub, already subscribed).
                await self.layer.group_add(self.group, self._channel)
            except Exception as exc:
                # The receive loop reports outages; this only renews.
                log.debug("renewing the events group membership failed: %s", exc)

    async def close(self) -> None:
        for task in (self._refresher, self._task):
            if task is not None:
                await stop_task(task)
        self._task = self._refresher = None
        try:
            # Mostly bounds a hung Redis. Should the deadline's cancellation
            # be swallowed (see stop_task), the client's socket timeout
            # still ends the wait.
            async with asyncio.timeout(_CLOSE_SECONDS):
                if self._channel is not None:
                    with contextlib.suppress(Exception):
                        await self.layer.group_discard(self.group, self._channel)
                await close_layer(self.layer)
        except TimeoutError:
            log.warning("Redis did not answer within %.0fs at shutdown", _CLOSE_SECONDS)
        self._channel = None
        self._joined = False


async def stop_task(task: asyncio.Task[Any], within: float = _CLOSE_SECONDS) -> None:
    """Cancel a task and wait for it, cancelling again if a cancellation was lost.

    One cancel() is not enough for a task that talks to Redis: redis-py (with
    a socket timeout, which redis-py 8 sets by default and make_layer sets
    always) sends each command inside asyncio.wait_for, and on Python 3.11
    wait_for swallows a cancellation that arrives as the send completes. The
    task then carries on, and awaiting it would hang shutdown.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not task.done():
        task.cancel()
        # Soon again: in a task that is busy sending, most cancellations can
        # be lost this way, and each retry is only a cancel() call.
        await asyncio.wait({task}, timeout=min(0.01, max(deadline - loop.time(), 0.0)))
        if not task.done() and loop.time() >= deadline:
            log.warning("task %s did not stop within %.0fs; leaving it", task.get_name(), within)
            return
    if not task.cancelled() and task.exception() is not None:
        log.warning("task %s had failed: %s", task.get_name(), task.exception())


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
