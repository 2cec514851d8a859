"""A customer's service metrics, computed in the database over the inboxes an agent sees.

- conversations: how many; open: how many are open now; first contact: when
  the first of them began.
- average first response: per conversation, from its first inbound message to
  the first reply an agent wrote after it (automatic acknowledgements and
  notes don't count); averaged over the conversations that have both.
- satisfaction: the average recorded score (1 to 5) and how many there are,
  or None when no conversation was rated.

Two aggregate statements, whatever the history's length.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Float, case, cast, extract, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.models import Conversation, Direction, Message, Status


@dataclass(frozen=True)
class CustomerMetrics:
    conversations: int
    open: int
    first_contact: datetime | None
    # Seconds; None when no conversation has been answered yet.
    avg_first_response: float | None
    answered: int
    avg_satisfaction: float | None
    rated: int


def _seconds_between(session: AsyncSession, start: Any, end: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return extract("epoch", end - start)
    # SQLite keeps times as text; julianday reads them as fractional days.
    return (func.julianday(end) - func.julianday(start)) * 86400.0


async def customer_metrics(
    session: AsyncSession, customer_id: int, inbox_ids: Collection[int]
) -> CustomerMetrics:
    visible = sorted(inbox_ids)
    totals = (
        await session.execute(
            select(
                func.count(Conversation.id),
                func.count(case((Conversation.status == Status.OPEN, 1))),
                func.min(Conversation.created_at),
                func.avg(cast(Conversation.satisfaction, Float)),
                func.count(Conversation.satisfaction),
            ).where(Conversation.customer_id == customer_id, Conversation.inbox_id.in_(visible))
        )
    ).one()
    first_in = (
        select(Message.conversation_id, func.min(Message.created_at).label("at"))
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            Message.customer_id == customer_id,
            Conversation.inbox_id.in_(visible),
            Message.direction == Direction.INBOUND,
        )
        .group_by(Message.conversation_id)
        .subquery()
    )
    first_reply = (
        select(
            Message.conversation_id,
            func.min(first_in.c.at).label("asked"),
            func.min(Message.created_at).label("answered"),
        )
        .join(first_in, first_in.c.conversation_id == Message.conversation_id)
        .where(
            Message.direction == Direction.OUTBOUND,
            Message.sender_agent_id.is_not(None),
            Message.created_at >= first_in.c.at,
        )
        .group_by(Message.conversation_id)
        .subquery()
    )
    waits = (
        await session.execute(
            select(
                func.avg(_seconds_between(session, first_reply.c.asked, first_reply.c.answered)),
                func.count(),
            ).select_from(first_reply)
        )
    ).one()
    return CustomerMetrics(
        conversations=totals[0],
        open=totals[1],
        first_contact=totals[2],
        # To the millisecond: SQLite's julianday arithmetic is no finer.
        avg_first_response=None if waits[0] is None else round(float(waits[0]), 3),
        answered=waits[1],
        avg_satisfaction=None if totals[3] is None else float(totals[3]),
        rated=totals[4],
    )


def duration_text(seconds: float) -> str:
    """A wait as a person says it: 45 s, 12 min, 3 h 20 min, 2 d 4 h."""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    minutes = s // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"
