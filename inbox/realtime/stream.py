"""`/api/v1/stream`: the JSON event stream for integrations.

Frames are JSON objects with `seq` and `type`. Domain events are those of
inbox.events; the stream adds two of its own: `resync` (the requested
`since` is gone from the outbox: refetch state, then continue from `seq`)
and `heartbeat` (sent when idle, with the latest `seq`, so a client knows
where it stands).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from inbox.events import AgentDeactivated, Published
from inbox.realtime.feed import Feed, Overflowed, Resync, open_feed
from inbox.realtime.sockets import (
    CLOSE_BAD_REQUEST,
    CLOSE_DEACTIVATED,
    CLOSE_TOO_SLOW,
    authenticate,
)
from inbox.views.requests import runtime

HEARTBEAT_SECONDS = 25.0


def parse_since(ws: WebSocket) -> int | str | None:
    raw = ws.query_params.get("since")
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 18:
        return "since must be a non-negative integer sequence number"
    return int(raw)


def frame(item: Published | Resync) -> dict[str, Any]:
    if isinstance(item, Resync):
        return {"seq": item.seq, "type": "resync"}
    return item.to_json()


async def stream(ws: WebSocket) -> None:
    agent = await authenticate(ws)
    if agent is None:
        return
    since = parse_since(ws)
    if isinstance(since, str):
        await ws.close(CLOSE_BAD_REQUEST, since)
        return
    rt = runtime(ws)
    async with open_feed(rt, agent.id) as feed:
        # Anything the client sends is ignored, but reading is how a
        # disconnect is noticed while the feed is quiet.
        reader = asyncio.create_task(_drain(ws))
        try:
            async for item in feed.replay(since):
                await ws.send_text(json.dumps(frame(item)))
            await _live(ws, feed, agent.id, reader)
        except (WebSocketDisconnect, _ClientGone):
            pass
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
                await reader


class _ClientGone(Exception):
    pass


async def _drain(ws: WebSocket) -> None:
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return


async def _live(ws: WebSocket, feed: Feed, agent_id: int, reader: asyncio.Task[None]) -> None:
    # One pending read of the feed survives heartbeats: cancelling it could
    # drop an event it had already taken off the queue.
    pending: asyncio.Future[Published] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(feed.next())
            waiting: set[asyncio.Future[Any]] = {pending, reader}
            done, _ = await asyncio.wait(
                waiting, timeout=HEARTBEAT_SECONDS, return_when=asyncio.FIRST_COMPLETED
            )
            if reader in done:
                raise _ClientGone
            if pending not in done:
                await ws.send_text(json.dumps({"seq": feed.last_seq, "type": "heartbeat"}))
                continue
            try:
                published = pending.result()
            except Overflowed:
                await ws.close(CLOSE_TOO_SLOW, "fell behind; reconnect with since=<last seq>")
                raise _ClientGone from None
            pending = None
            await ws.send_text(json.dumps(published.to_json()))
            event = published.event
            if isinstance(event, AgentDeactivated) and event.agent_id == agent_id:
                await ws.close(CLOSE_DEACTIVATED, "this agent was deactivated")
                raise _ClientGone
    finally:
        if pending is not None:
            pending.cancel()
