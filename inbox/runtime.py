"""The process-wide handles an action needs: database sessions and the hub."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from inbox.config import Settings
from inbox.db import make_engine, make_sessionmakers
from inbox.realtime.hub import Hub


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    read_sessions: async_sessionmaker[AsyncSession]
    write_sessions: async_sessionmaker[AsyncSession]
    hub: Hub

    async def close(self) -> None:
        await self.hub.close()
        await self.engine.dispose()


def create_runtime(settings: Settings, hub: Hub | None = None) -> Runtime:
    engine = make_engine(settings.database_url)
    read, write = make_sessionmakers(engine)
    return Runtime(settings, engine, read, write, hub or Hub())
