"""The process-wide handles an action needs: database sessions and the hub."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from inbox.config import Settings
from inbox.db import make_engine, make_sessionmakers
from inbox.realtime.hub import Hub
from inbox.realtime.transport import LayerTransport, make_layer


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    read_sessions: async_sessionmaker[AsyncSession]
    write_sessions: async_sessionmaker[AsyncSession]
    hub: Hub

    async def start(self) -> None:
        """Join live fan-out; only long-running processes (web, worker) need it."""
        await self.hub.start()

    async def close(self) -> None:
        await self.hub.close()
        await self.engine.dispose()


def create_runtime(settings: Settings) -> Runtime:
    engine = make_engine(settings.database_url)
    read, write = make_sessionmakers(engine)
    hub = Hub(read, LayerTransport(make_layer(settings)))
    return Runtime(settings, engine, read, write, hub)
