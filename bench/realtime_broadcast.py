"""The fan-out baseline: `websockets.broadcast` on a bare websockets server.

Clients connect to `/ws` and only listen. The benchmark drives it through
`/control`: each text message it sends there is an id, broadcast at once to
every listener as `{"type": "tick", "id": N}`. No HTTP framework, no
database, no per-socket queue of our own: the library's floor.

    python -m bench.realtime_broadcast --port 8200
"""

from __future__ import annotations

import argparse
import asyncio
import json
from http import HTTPStatus

from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.http11 import Request, Response


async def main(port: int) -> None:
    listeners: set[ServerConnection] = set()

    def health(connection: ServerConnection, request: Request) -> Response | None:
        # Lets the benchmark wait for readiness with a plain GET, like the other servers.
        if request.path == "/healthz":
            return connection.respond(HTTPStatus.OK, "ok\n")
        return None

    async def handler(ws: ServerConnection) -> None:
        if ws.request is not None and ws.request.path == "/control":
            async for message in ws:
                broadcast(listeners, json.dumps({"type": "tick", "id": int(message)}))
            return
        listeners.add(ws)
        try:
            await ws.wait_closed()
        finally:
            listeners.discard(ws)

    server: Server
    async with serve(handler, "127.0.0.1", port, process_request=health) as server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(main(parser.parse_args().port))
