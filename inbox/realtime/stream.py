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
from inbox.realtime.sockets import open_socket
from inbox.views.requests import runtime


def frame(item: Published | Resync) -> dict[str, Any]:
    if isinstance(item, Resync):
        return {"seq": item.seq, "type": "resync"}
    return item.to_json()


def frame_text(item: Published | Resync) -> str:
    # An event's text is made once for every socket it goes to.
    return item.json_text if isinstance(item, Published) else json.dumps(frame(item))


async def stream(ws: WebSocket) -> None:
    opened = await open_socket(ws)
    if opened is None:
        return

    async def send_item(item: Published | Resync | PresenceChange) -> None:
        if not isinstance(item, PresenceChange):  # the stream doesn't ask for presence
            await ws.send_text(frame_text(item))

    async def send_idle(seq: int) -> None:
        await ws.send_text(json.dumps({"seq": seq, "type": "heartbeat"}))

    agent = opened.agent
    async with open_feed(runtime(ws), agent.id, credential=opened.credential) as feed:
        await serve_feed(
            ws, feed, opened.since, agent_id=agent.id, send_item=send_item, send_idle=send_idle
        )
