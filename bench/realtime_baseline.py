"""The baseline server: the least any server can do for the same job.

A bare Starlette app on the same uvicorn (websockets-sansio) as the inbox:
`POST /ingest` does one raw INSERT (aiosqlite or asyncpg) and one raw Redis
PUBLISH; every process subscribes to that Redis channel and loops over its
websockets sending the frame. `POST /claim` is one conditional UPDATE and a
PUBLISH. No auth, no ORM, no outbox, no audiences, no per-socket queues:
the floor that the app's figures are compared with.

    python -m bench.realtime_baseline --port 8100 --db PATH_OR_DSN --redis URL
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

import aiosqlite
import asyncpg  # type: ignore[import-untyped]
import redis.asyncio as redis
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

CHANNEL = "rt-bench-baseline"

_SQLITE_SCHEMA = [
    "DROP TABLE IF EXISTS rtb_messages",
    "DROP TABLE IF EXISTS rtb_conversations",
    "CREATE TABLE rtb_messages (id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "external_id TEXT NOT NULL UNIQUE, text TEXT NOT NULL)",
    "CREATE TABLE rtb_conversations (id INTEGER PRIMARY KEY AUTOINCREMENT, assignee INTEGER)",
]
_POSTGRES_SCHEMA = [
    "DROP TABLE IF EXISTS rtb_messages",
    "DROP TABLE IF EXISTS rtb_conversations",
    "CREATE TABLE rtb_messages (id BIGSERIAL PRIMARY KEY, "
    "external_id TEXT NOT NULL UNIQUE, text TEXT NOT NULL)",
    "CREATE TABLE rtb_conversations (id SERIAL PRIMARY KEY, assignee INTEGER)",
]


class Store(Protocol):
    async def insert(self, external_id: str, text: str) -> int: ...
    async def new_conversation(self) -> int: ...
    async def claim(self, conversation_id: int, agent_id: int) -> bool: ...
    async def assignee(self, conversation_id: int) -> int | None: ...
    async def close(self) -> None: ...


def _is_postgres(db: str) -> bool:
    return db.startswith("postgres")


async def prepare(db: str) -> None:
    """Fresh tables; run once by the benchmark before any baseline process starts."""
    if _is_postgres(db):
        conn = await asyncpg.connect(db)
        try:
            for statement in _POSTGRES_SCHEMA:
                await conn.execute(statement)
        finally:
            await conn.close()
        return
    async with aiosqlite.connect(db) as conn:
        await conn.execute("PRAGMA journal_mode=WAL")
        for statement in _SQLITE_SCHEMA:
            await conn.execute(statement)
        await conn.commit()


class SqliteStore:
    """One connection in autocommit: each statement is its own durable transaction."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    @classmethod
    async def open(cls, path: str) -> SqliteStore:
        conn = await aiosqlite.connect(path, isolation_level=None)
        # The app's settings (inbox/db.py), so the comparison is like for like.
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000"):
            await conn.execute(f"PRAGMA {pragma}")
        return cls(conn)

    async def insert(self, external_id: str, text: str) -> int:
        cursor = await self.conn.execute(
            "INSERT INTO rtb_messages (external_id, text) VALUES (?, ?) RETURNING id",
            (external_id, text),
        )
        row = await cursor.fetchone()
        await cursor.close()
        assert row is not None
        return int(row[0])

    async def new_conversation(self) -> int:
        cursor = await self.conn.execute(
            "INSERT INTO rtb_conversations (assignee) VALUES (NULL) RETURNING id"
        )
        row = await cursor.fetchone()
        await cursor.close()
        assert row is not None
        return int(row[0])

    async def claim(self, conversation_id: int, agent_id: int) -> bool:
        cursor = await self.conn.execute(
            "UPDATE rtb_conversations SET assignee = ? WHERE id = ? AND assignee IS NULL "
            "RETURNING id",
            (agent_id, conversation_id),
        )
        row = await cursor.fetchone()
        await cursor.close()
        return row is not None

    async def assignee(self, conversation_id: int) -> int | None:
        cursor = await self.conn.execute(
            "SELECT assignee FROM rtb_conversations WHERE id = ?", (conversation_id,)
        )
        row = await cursor.fetchone()
        await cursor.close()
        return None if row is None or row[0] is None else int(row[0])

    async def close(self) -> None:
        await self.conn.close()


class PostgresStore:
    def __init__(self, pool: Any) -> None:
        self.pool = pool

    @classmethod
    async def open(cls, dsn: str) -> PostgresStore:
        return cls(await asyncpg.create_pool(dsn, min_size=2, max_size=10))

    async def insert(self, external_id: str, text: str) -> int:
        return int(
            await self.pool.fetchval(
                "INSERT INTO rtb_messages (external_id, text) VALUES ($1, $2) RETURNING id",
                external_id,
                text,
            )
        )

    async def new_conversation(self) -> int:
        return int(
            await self.pool.fetchval(
                "INSERT INTO rtb_conversations (assignee) VALUES (NULL) RETURNING id"
            )
        )

    async def claim(self, conversation_id: int, agent_id: int) -> bool:
        won = await self.pool.fetchval(
            "UPDATE rtb_conversations SET assignee = $1 WHERE id = $2 AND assignee IS NULL "
            "RETURNING id",
            agent_id,
            conversation_id,
        )
        return won is not None

    async def assignee(self, conversation_id: int) -> int | None:
        value = await self.pool.fetchval(
            "SELECT assignee FROM rtb_conversations WHERE id = $1", conversation_id
        )
        return None if value is None else int(value)

    async def close(self) -> None:
        await self.pool.close()


class Fanout:
    """This process's sockets, and the Redis subscription that feeds them."""

    def __init__(self) -> None:
        self.sockets: set[WebSocket] = set()

    async def run(self, client: redis.Redis) -> None:
        pubsub = client.pubsub()
        await pubsub.subscribe(CHANNEL)
        try:
            async for message in pubsub.listen():
                if message["type"] != "message":
                    continue
                frame = message["data"].decode()
                for ws in list(self.sockets):
                    try:
                        await ws.send_text(frame)
                    except Exception:
                        self.sockets.discard(ws)
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]


def create_app(db: str, redis_url: str) -> Starlette:
    fanout = Fanout()
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store: Store = await (PostgresStore.open(db) if _is_postgres(db) else SqliteStore.open(db))
        client = redis.from_url(redis_url)
        state.update(store=store, redis=client)
        listener = asyncio.create_task(fanout.run(client))
        try:
            yield
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
            await client.aclose()
            await store.close()

    async def publish(frame: dict[str, Any]) -> None:
        await state["redis"].publish(CHANNEL, json.dumps(frame))

    async def ingest(request: Request) -> Response:
        body = json.loads(await request.body())
        message_id = await state["store"].insert(body["message_id"], body["text"])
        await publish({"type": "message.created", "message_id": message_id})
        return JSONResponse({"message_id": message_id})

    async def new_conversation(request: Request) -> Response:
        return JSONResponse({"conversation_id": await state["store"].new_conversation()})

    async def claim(request: Request) -> Response:
        body = json.loads(await request.body())
        conversation_id, agent_id = int(body["conversation_id"]), int(body["agent_id"])
        if not await state["store"].claim(conversation_id, agent_id):
            return JSONResponse({"error": "already claimed"}, 409)
        await publish(
            {
                "type": "conversation.assigned",
                "conversation_id": conversation_id,
                "assignee_id": agent_id,
            }
        )
        return JSONResponse({"conversation_id": conversation_id})

    async def conversation(request: Request) -> Response:
        conversation_id = int(request.path_params["id"])
        return JSONResponse({"assignee_id": await state["store"].assignee(conversation_id)})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def stream(ws: WebSocket) -> None:
        await ws.accept()
        fanout.sockets.add(ws)
        try:
            while (await ws.receive())["type"] != "websocket.disconnect":
                pass
        finally:
            fanout.sockets.discard(ws)

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/ingest", ingest, methods=["POST"]),
            Route("/conversations", new_conversation, methods=["POST"]),
            Route("/conversations/{id:int}", conversation),
            Route("/claim", claim, methods=["POST"]),
            WebSocketRoute("/ws", stream),
        ],
        lifespan=lifespan,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True, help="SQLite path or postgresql:// DSN")
    parser.add_argument("--redis", required=True)
    args = parser.parse_args()
    uvicorn.run(
        create_app(args.db, args.redis),
        host="127.0.0.1",
        port=args.port,
        ws="websockets-sansio",
        log_level="warning",
    )


if __name__ == "__main__":
    main()
