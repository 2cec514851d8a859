"""Reading committed events back from the outbox, the source of truth."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.events import Audience, Published, parse_event
from inbox.models import OutboxEvent


def published_from_row(row: OutboxEvent) -> Published:
    return Published(row.seq, parse_event(row.payload), Audience.from_json(row.audience))


async def events_after(
    session: AsyncSession, after: int, *, before: int | None = None, limit: int = 1000
) -> list[Published]:
    """Events with after < seq (< before), in sequence order."""
    stmt = select(OutboxEvent).where(OutboxEvent.seq > after).order_by(OutboxEvent.seq).limit(limit)
    if before is not None:
        stmt = stmt.where(OutboxEvent.seq < before)
    return [published_from_row(row) for row in (await session.scalars(stmt)).all()]


async def latest_seq(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.max(OutboxEvent.seq))) or 0)


async def oldest_seq(session: AsyncSession) -> int | None:
    value = await session.scalar(select(func.min(OutboxEvent.seq)))
    return None if value is None else int(value)
