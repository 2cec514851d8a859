"""`/api/v1/stream`: the JSON event stream for integrations.

Frames are JSON objects with `seq` and `type`. Domain events are those of
inbox.events; the stream adds two of its own: `resync` (the requested
`since` is gone from the outbox: refetch state, then continue from `seq`)
and `heartbeat` (sent when idle, with the latest `seq`, so a client knows
where it stands).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.websockets import WebSocket

from inbox.events import Published
from inbox.realtime.feed import Resync, open_feed
from inbox.realtime.presence import PresenceChange
from inbox.realtime.socket_loop import serve_feed
from inbox.realtime.sockets import CLOSE_BAD_REQUEST, authenticate, credential_of, parse_since
from inbox.views.requests import runtime


def frame(item: Published | Resync) -> dict[str, Any]:
    if isinstance(item, Resync):
        return {"seq": item.seq, "type": "resync"}
    return item.to_json()


def frame_text(item: Published | Resync) -> str:
    # An event's text is made once for every socket it goes to.
    return item.json_text if isinstance(item, Published) else json.dumps(frame(item))


async def stream(ws: WebSocket) -> None:
    agent = await authenticate(ws)
    if agent is None:
        return
    since = parse_since(ws)
    if isinstance(since, str):
        await ws.close(CLOSE_BAD_REQUEST, since)
        return

    async def send_item(item: Published | Resync | PresenceChange) -> None:
        if not isinstance(item, PresenceChange):  # the stream doesn't ask for presence
            await ws.send_text(frame_text(item))

    async def send_idle(seq: int) -> None:
        await ws.send_text(json.dumps({"seq": seq, "type": "heartbeat"}))

    async with open_feed(runtime(ws), agent.id, credential=credential_of(ws, agent)) as feed:
        await serve_feed(
            ws, feed, since, agent_id=agent.id, send_item=send_item, send_idle=send_idle
        )
