"""Raw database access for the SQL baseline: asyncpg or aiosqlite, no SQLAlchemy.

SQL is written once with `?` placeholders; the PostgreSQL side numbers them.
Values read back (timestamps for cursors) are passed back as the driver gave
them, so each backend gets its own native form.
Each backend keeps a pool of `size` connections so the baseline runs at the
same concurrency as the HTTP client.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Any, Protocol

import aiosqlite
import asyncpg  # type: ignore[import-untyped]


class RawDB(Protocol):
    dialect: str

    async def fetch(self, sql: str, params: Sequence[Any]) -> list[Any]: ...

    async def explain(self, sql: str, params: Sequence[Any]) -> str: ...

    async def close(self) -> None: ...


_MARK = re.compile(r"\?")


def _numbered(sql: str) -> str:
    counter = iter(range(1, 10_000))
    return _MARK.sub(lambda _: f"${next(counter)}", sql)


class PostgresDB:
    dialect = "postgresql"

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._numbered: dict[str, str] = {}

    @classmethod
    async def open(cls, dsn: str, size: int) -> PostgresDB:
        pool = await asyncpg.create_pool(dsn, min_size=size, max_size=size)
        return cls(pool)

    def _sql(self, sql: str) -> str:
        if sql not in self._numbered:
            self._numbered[sql] = _numbered(sql)
        return self._numbered[sql]

    async def fetch(self, sql: str, params: Sequence[Any]) -> list[Any]:
        async with self._pool.acquire() as conn:
            return list(await conn.fetch(self._sql(sql), *params))

    async def explain(self, sql: str, params: Sequence[Any]) -> str:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + self._sql(sql), *params)
        return "\n".join(row[0] for row in rows)

    async def close(self) -> None:
        await self._pool.close()


class SqliteDB:
    dialect = "sqlite"

    def __init__(self, conns: list[aiosqlite.Connection]) -> None:
        self._conns = conns
        self._idle: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        for conn in conns:
            self._idle.put_nowait(conn)

    @classmethod
    async def open(cls, path: str, size: int) -> SqliteDB:
        conns = []
        for _ in range(size):
            conn = await aiosqlite.connect(path, timeout=30)
            # The same settings the app applies on connect (inbox/db.py).
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
                await conn.execute(f"PRAGMA {pragma}")
            conns.append(conn)
        return cls(conns)

    async def fetch(self, sql: str, params: Sequence[Any]) -> list[Any]:
        conn = await self._idle.get()
        try:
            async with conn.execute(sql, tuple(params)) as cursor:
                return list(await cursor.fetchall())
        finally:
            self._idle.put_nowait(conn)

    async def explain(self, sql: str, params: Sequence[Any]) -> str:
        rows = await self.fetch("EXPLAIN QUERY PLAN " + sql, params)
        depth: dict[int, int] = {0: 0}
        lines = []
        for node, parent, _, detail in rows:
            depth[node] = depth.get(parent, 0) + 1
            lines.append("  " * (depth[node] - 1) + str(detail))
        return "\n".join(lines)

    async def close(self) -> None:
        for conn in self._conns:
            await conn.close()


async def open_raw(backend: str, dsn: str, size: int) -> RawDB:
    if backend == "sqlite":
        return await SqliteDB.open(dsn, size)
    return await PostgresDB.open(dsn, size)
