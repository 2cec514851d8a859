"""The floor for webhook ingest: the least a server can do for a delivery.

A bare Starlette app under the same uvicorn settings as `inbox serve`:
`POST /ingest` parses the JSON body, does one raw INSERT (aiosqlite, the
app's driver, with the app's pragmas, committed: see realtime_baseline's
SqliteStore), then one `group_send` on channels' in-process layer, the one
the embedded app publishes on. A receive loop takes each message off the
layer and sends it to every socket on `/ws`. No signature check, no ORM, no
customer, conversation, audit or outbox: the figure the app is compared with.

    python -m bench.webhook_floor --port 8100 --db PATH
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from channels.layers import InMemoryChannelLayer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from bench.realtime_baseline import SqliteStore

GROUP = "webhook-floor"


def create_app(db: str) -> Starlette:
    sockets: set[WebSocket] = set()
    state: dict[str, Any] = {}
    # The app's embedded layer, with its capacity (inbox.realtime.transport.make_layer).
    layer = InMemoryChannelLayer(capacity=10_000)

    async def fan_out(channel: str) -> None:
        while True:
            message = await layer.receive(channel)
            frame = json.dumps(message["event"])
            for ws in list(sockets):
                try:
                    await ws.send_text(frame)
                except Exception:
                    sockets.discard(ws)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state["store"] = await SqliteStore.open(db)
        channel = await layer.new_channel()
        await layer.group_add(GROUP, channel)
        listener = asyncio.create_task(fan_out(channel))
        try:
            yield
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
            await state["store"].close()

    async def ingest(request: Request) -> Response:
        body = json.loads(await request.body())
        # Either shape the generator sends: a Telegram update or an API message.
        message = body.get("message") or body
        external_id = str(body.get("update_id", body.get("message_id")))
        message_id = await state["store"].insert(external_id, message["text"])
        event = {"type": "message.created", "message_id": message_id}
        await layer.group_send(GROUP, {"type": "floor.event", "event": event})
        return JSONResponse({"message_id": message_id})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def stream(ws: WebSocket) -> None:
        await ws.accept()
        sockets.add(ws)
        try:
            while (await ws.receive())["type"] != "websocket.disconnect":
                pass
        finally:
            sockets.discard(ws)

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/ingest", ingest, methods=["POST"]),
            WebSocketRoute("/ws", stream),
        ],
        lifespan=lifespan,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True, help="SQLite path (realtime_baseline.prepare)")
    args = parser.parse_args()
    # `inbox serve`'s settings (inbox/cli.py), access log included.
    uvicorn.run(
        create_app(args.db),
        host="127.0.0.1",
        port=args.port,
        proxy_headers=True,
        log_level="info",
        ws="websockets-sansio",
    )


if __name__ == "__main__":
    main()
