"""Reading what an event is about, as the live fragments show it.

One row at a time, by id, with the same names the pages' list queries join
in. Access is not checked here: the event's audience already says who may
see its subject, and only sockets in that audience ask.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from inbox.models import Agent, Customer, Direction, EmailDetails, Inbox, Message
from inbox.queries import TimelineEntry


async def timeline_entry(db: AsyncSession, message_id: int) -> TimelineEntry | None:
    """The message as a timeline entry (sender named as customer_timeline does)."""
    message = await db.scalar(
        select(Message).where(Message.id == message_id).options(selectinload(Message.attachments))
    )
    if message is None:
        return None
    inbox = await db.get(Inbox, message.inbox_id)
    assert inbox is not None  # a foreign key
    if message.sender_agent_id is not None:
        sender = await db.scalar(select(Agent.name).where(Agent.id == message.sender_agent_id))
        sender_name = sender or "Agent"
    else:
        customer = await db.get(Customer, message.customer_id)
        sender_name = customer.display_name if customer else f"Customer #{message.customer_id}"
    threaded_by = None
    if message.direction is Direction.INBOUND:
        threaded_by = await db.scalar(
            select(EmailDetails.threaded_by).where(EmailDetails.message_id == message.id)
        )
    return TimelineEntry(message, inbox.name, inbox.channel.value, sender_name, threaded_by)
