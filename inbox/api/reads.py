"""Reads the API needs that `inbox.queries` does not offer (yet).

Read-only, and every one goes through `inbox.access` first, so an id the
agent may not see answers exactly like a missing one.
"""

from __future__ import annotations

from datetime import UTC

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, selectinload

from inbox.access import get_visible_conversation
from inbox.errors import BadRequest, NotFound
from inbox.models import Agent, Conversation, Customer, Inbox, Message
from inbox.queries import ConversationRow, Cursor


def decode_cursor(value: str | None, max_id: int) -> Cursor | None:
    """A cursor from the query string, or None; 400 for anything we did not issue.

    Beyond `Cursor.decode`, the values must be storable: a forged id too large
    for its column, or a time at the edge of the calendar that can't be moved
    to UTC, would otherwise fail in the database layer with a 500.
    """
    if value is None:
        return None
    cursor = Cursor.decode(value)
    try:
        at = cursor.at.astimezone(UTC)
    except OverflowError:
        at = None
    if at is None or not 0 <= cursor.id <= max_id:
        raise BadRequest("cursor is not valid; start again without it")
    return Cursor(at, cursor.id)


async def visible_conversation_row(
    session: AsyncSession, agent: Agent, conversation_id: int
) -> ConversationRow:
    """One conversation with the names the list shows beside it."""
    await get_visible_conversation(session, agent, conversation_id)
    assignee = aliased(Agent)
    found = (
        await session.execute(
            select(Conversation, Customer.name, Inbox.name, Inbox.channel, assignee.name)
            .join(Customer, Customer.id == Conversation.customer_id)
            .join(Inbox, Inbox.id == Conversation.inbox_id)
            .outerjoin(assignee, assignee.id == Conversation.assignee_id)
            .where(Conversation.id == conversation_id)
            # The session may hold this row from the access check; take it fresh.
            .execution_options(populate_existing=True)
        )
    ).one_or_none()
    if found is None:
        raise NotFound("conversation not found")
    conv, customer_name, inbox_name, channel, assignee_name = found
    return ConversationRow(
        conv,
        customer_name or f"Customer #{conv.customer_id}",
        inbox_name,
        str(channel),
        assignee_name,
    )


async def conversation_messages(session: AsyncSession, conversation_id: int) -> list[Message]:
    """Every message of a conversation, oldest first, attachments loaded.

    The caller has already checked the agent may see the conversation.
    """
    rows = await session.scalars(
        select(Message)
        .where(Message.conversation_id == conversation_id)
        .options(selectinload(Message.attachments))
        .order_by(Message.created_at, Message.id)
    )
    return list(rows.all())
