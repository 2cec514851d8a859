"""Reads the API needs that `inbox.queries` does not offer (yet).

Read-only, and every one goes through `inbox.access` first, so an id the
agent may not see answers exactly like a missing one.
"""

from __future__ import annotations

from datetime import UTC

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from inbox.access import get_visible_conversation
from inbox.errors import BadRequest, NotFound
from inbox.models import Agent, Message
from inbox.queries import ConversationRow, Cursor, conversation_row


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
    row = await conversation_row(session, conversation_id)
    if row is None:
        raise NotFound("conversation not found")
    return row


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
