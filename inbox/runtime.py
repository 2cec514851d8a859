"""The process-wide handles an action needs: database sessions and the hub."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from inbox.blobs import BlobStore
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

    @property
    def blobs(self) -> BlobStore:
        """Raw emails and attachments, stored once per content hash under the data dir."""
        return BlobStore(self.settings.data_dir / "blobs")

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
