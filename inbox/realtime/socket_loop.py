"""The loop both sockets run: replay, then live events and heartbeats, until one side goes.

The JSON stream and the browser socket differ only in what they send for an
event and while idle; subscribing, resuming, noticing a gone client, the
slow-client drop and the deactivation close are the same, and live here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from starlette.websockets import WebSocket, WebSocketDisconnect

from inbox.events import AgentDeactivated, Published
from inbox.realtime.feed import Feed, Overflowed, Resync
from inbox.realtime.hub import Signal
from inbox.realtime.presence import PresenceChange
from inbox.realtime.sockets import CLOSE_DEACTIVATED, CLOSE_TOO_SLOW, CLOSE_UNAUTHENTICATED

SendItem = Callable[[Published | Resync | PresenceChange], Awaitable[None]]
SendIdle = Callable[[int], Awaitable[None]]
OnMessage = Callable[[str], None]


class SocketClosed(Exception):
    """Stop serving this socket: closed by us, or gone on the client's side."""


async def serve_feed(
    ws: WebSocket,
    feed: Feed,
    since: int | None,
    *,
    agent_id: int,
    send_item: SendItem,
    send_idle: SendIdle,
    on_message: OnMessage | None = None,
) -> None:
    """Replay after `since`, mark the catch-up with `send_idle`, then stream live."""
    # Reading is also how a disconnect is noticed while the feed is quiet.
    reader = asyncio.create_task(_read(ws, on_message))
    try:
        async for item in feed.replay(since):
            await send_item(item)
        await send_idle(feed.last_seq)
        await _live(ws, feed, agent_id, reader, send_item, send_idle)
    except (WebSocketDisconnect, SocketClosed):
        pass
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
            await reader


async def _read(ws: WebSocket, on_message: OnMessage | None) -> None:
    """Hand the client's text messages to `on_message` (or drop them) until it goes."""
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if on_message is not None and isinstance(text, str):
            on_message(text)


async def _live(
    ws: WebSocket,
    feed: Feed,
    agent_id: int,
    reader: asyncio.Task[None],
    send_item: SendItem,
    send_idle: SendIdle,
) -> None:
    # One await per event: the reader ending cancels this task, rather than
    # racing a second task against every read (measured at about half the
    # CPU per delivery at a thousand sockets). Nor is there a timer per
    # socket: the hub's heartbeat ticks idle ones and ends revoked ones.
    task = asyncio.current_task()
    assert task is not None
    gone = False

    def client_gone(_: asyncio.Task[None]) -> None:
        nonlocal gone
        gone = True
        task.cancel()

    reader.add_done_callback(client_gone)
    try:
        while True:
            try:
                item = await feed.next()
            except Overflowed:
                # Its queue is bounded and was dropped, so a slow client never
                # holds memory or others up; it resumes with `since`.
                await ws.close(CLOSE_TOO_SLOW, "fell behind; reconnect with since=<last seq>")
                raise SocketClosed from None
            if item is Signal.TICK:
                # The hub's heartbeat, to a socket that heard nothing lately.
                await send_idle(feed.last_seq)
                continue
            if item is Signal.REVOKED:
                # Signed out elsewhere, password changed, or token rotated.
                await ws.close(CLOSE_UNAUTHENTICATED, "signed out; sign in again")
                raise SocketClosed
            await send_item(item)
            if isinstance(item, PresenceChange):
                continue
            event = item.event
            if isinstance(event, AgentDeactivated) and event.agent_id == agent_id:
                await ws.close(CLOSE_DEACTIVATED, "this agent was deactivated")
                raise SocketClosed
    except asyncio.CancelledError:
        if gone:
            task.uncancel()
            raise SocketClosed from None
        raise
    finally:
        reader.remove_done_callback(client_gone)
