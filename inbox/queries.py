"""The read paths: inbox list, timeline, profile. Keyset pagination throughout."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import Row, Select, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.orm.attributes import set_committed_value

from inbox.access import get_visible_customer, visible_inbox_ids
from inbox.errors import BadRequest
from inbox.models import (
    Agent,
    Attachment,
    ChannelKind,
    Conversation,
    Customer,
    CustomerNote,
    Direction,
    EmailDetails,
    Inbox,
    Message,
    Purchase,
    Status,
)

View = Literal["mine", "unassigned", "all"]
VIEWS: tuple[View, ...] = ("mine", "unassigned", "all")


@dataclass(frozen=True)
class Cursor:
    """A position in a list ordered by (time, id), newest first."""

    at: datetime
    id: int

    def encode(self) -> str:
        raw = f"{self.at.isoformat()}|{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
            at, _, ident = raw.partition("|")
            parsed = datetime.fromisoformat(at)
            if parsed.tzinfo is None:
                raise ValueError("cursor time has no zone")
            return cls(parsed, int(ident))
        except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
            raise BadRequest("cursor is not valid; start again without it") from exc


@dataclass(frozen=True)
class ConversationRow:
    conversation: Conversation
    customer_name: str
    inbox_name: str
    inbox_channel: str
    assignee_name: str | None


@dataclass(frozen=True)
class ConversationPage:
    rows: list[ConversationRow]
    next_cursor: str | None


async def list_conversations(
    session: AsyncSession,
    agent: Agent,
    *,
    view: View = "all",
    status: Status | None = Status.OPEN,
    inbox_id: int | None = None,
    cursor: Cursor | None = None,
    limit: int = 25,
) -> ConversationPage:
    visible = await visible_inbox_ids(session, agent)
    if inbox_id is not None:
        if inbox_id not in visible:
            return ConversationPage([], None)
        inbox_ids: Sequence[int] = [inbox_id]
    else:
        inbox_ids = sorted(visible)
    if not inbox_ids:
        return ConversationPage([], None)

    stmt = _row_select().where(Conversation.inbox_id.in_(inbox_ids))
    if status is not None:
        stmt = stmt.where(Conversation.status == status)
    if view == "mine":
        stmt = stmt.where(Conversation.assignee_id == agent.id)
    elif view == "unassigned":
        stmt = stmt.where(Conversation.assignee_id.is_(None))
    if cursor is not None:
        stmt = stmt.where(
            tuple_(Conversation.last_activity_at, Conversation.id) < tuple_(cursor.at, cursor.id)
        )
    stmt = stmt.order_by(Conversation.last_activity_at.desc(), Conversation.id.desc()).limit(
        limit + 1
    )
    result = (await session.execute(stmt)).all()
    rows = [_to_row(found) for found in result[:limit]]
    next_cursor = None
    if len(result) > limit:
        last = rows[-1].conversation
        next_cursor = Cursor(last.last_activity_at, last.id).encode()
    return ConversationPage(rows, next_cursor)


def _row_select() -> Select[Conversation, str, str, ChannelKind, str]:
    """Conversations with the names an inbox-list row shows beside them."""
    assignee = aliased(Agent)
    return (
        select(Conversation, Customer.name, Inbox.name, Inbox.channel, assignee.name)
        .join(Customer, Customer.id == Conversation.customer_id)
        .join(Inbox, Inbox.id == Conversation.inbox_id)
        .outerjoin(assignee, assignee.id == Conversation.assignee_id)
    )


def _to_row(found: Row[Conversation, str, str, ChannelKind, str]) -> ConversationRow:
    conv, customer_name, inbox_name, channel, assignee_name = found
    name = customer_name or f"Customer #{conv.customer_id}"
    # The assignee is outer-joined: its name is None when nobody holds it.
    return ConversationRow(conv, name, inbox_name, str(channel), assignee_name)


async def conversation_row(session: AsyncSession, conversation_id: int) -> ConversationRow | None:
    """One conversation as an inbox-list row (no access check); None when it is gone."""
    found = (
        await session.execute(
            _row_select()
            .where(Conversation.id == conversation_id)
            # The session may already hold this row from an access check: take it fresh.
            .execution_options(populate_existing=True)
        )
    ).first()
    return None if found is None else _to_row(found)


@dataclass(frozen=True)
class TimelineEntry:
    message: Message
    inbox_name: str
    channel: str
    sender_name: str
    # For an inbound email: which rule put it in its conversation (ThreadRule).
    threaded_by: str | None = None


@dataclass(frozen=True)
class Timeline:
    """Oldest first; `earlier_cursor` fetches the page before the first entry."""

    entries: list[TimelineEntry]
    earlier_cursor: str | None


async def customer_timeline(
    session: AsyncSession,
    agent: Agent,
    customer_id: int,
    *,
    before: Cursor | None = None,
    limit: int = 50,
) -> Timeline:
    """The customer's messages from every channel the agent may see, interleaved by time.

    Three statements: the agent's inboxes, the customer (with the access
    check folded in), the page with its inbox and sender names joined, plus
    one for attachments only when the page has messages.
    """
    visible = sorted(await visible_inbox_ids(session, agent))
    customer = await get_visible_customer(session, agent, customer_id, visible=set(visible))
    sender = aliased(Agent)
    stmt = (
        select(Message, Inbox.name, Inbox.channel, sender.name, EmailDetails.threaded_by)
        .join(Inbox, Inbox.id == Message.inbox_id)
        # Seen through its conversation's inbox, as the conversation is: a chat's
        # answer that came by email belongs to whoever sees the chat.
        .join(Conversation, Conversation.id == Message.conversation_id)
        .outerjoin(sender, sender.id == Message.sender_agent_id)
        .outerjoin(EmailDetails, EmailDetails.message_id == Message.id)
        .where(Message.customer_id == customer_id, Conversation.inbox_id.in_(visible))
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(limit + 1)
    )
    if before is not None:
        stmt = stmt.where(tuple_(Message.created_at, Message.id) < tuple_(before.at, before.id))
    rows = list((await session.execute(stmt)).all())
    earlier = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1][0]
        earlier = Cursor(last.created_at, last.id).encode()
    rows.reverse()
    await _load_attachments(session, [message for message, *_ in rows])
    entries = [
        TimelineEntry(
            message,
            inbox_name,
            channel.value,
            (sender_name or "Agent")
            if message.sender_agent_id is not None
            else customer.display_name,
            threaded_by if message.direction is Direction.INBOUND else None,
        )
        for message, inbox_name, channel, sender_name, threaded_by in rows
    ]
    return Timeline(entries, earlier)


async def _load_attachments(session: AsyncSession, messages: list[Message]) -> None:
    """Fill `message.attachments` for a page of messages in one statement."""
    if not messages:
        return
    by_message: dict[int, list[Attachment]] = {m.id: [] for m in messages}
    found = await session.scalars(
        select(Attachment)
        .where(Attachment.message_id.in_(list(by_message)))
        .order_by(Attachment.id)
    )
    for attachment in found:
        by_message[attachment.message_id].append(attachment)
    for message in messages:
        set_committed_value(message, "attachments", by_message[message.id])


@dataclass(frozen=True)
class Profile:
    customer: Customer
    notes: list[CustomerNote]
    purchases: list[Purchase]
    conversations: list[Conversation]


async def customer_profile(session: AsyncSession, agent: Agent, customer_id: int) -> Profile:
    visible = await visible_inbox_ids(session, agent)
    customer = await get_visible_customer(session, agent, customer_id, visible=visible)
    # Identities and tags are loaded eagerly: their relationships refuse lazy loads.
    await session.refresh(customer, ["identities", "tags"])
    notes = (
        await session.scalars(
            select(CustomerNote)
            .where(CustomerNote.customer_id == customer_id)
            .order_by(CustomerNote.created_at.desc())
            .limit(20)
        )
    ).all()
    purchases = (
        await session.scalars(
            select(Purchase)
            .where(Purchase.customer_id == customer_id)
            .order_by(Purchase.purchased_at.desc())
            .limit(20)
        )
    ).all()
    conversations = (
        await session.scalars(
            select(Conversation)
            .where(
                Conversation.customer_id == customer_id, Conversation.inbox_id.in_(sorted(visible))
            )
            .order_by(Conversation.last_activity_at.desc())
            .limit(50)
        )
    ).all()
    return Profile(customer, list(notes), list(purchases), list(conversations))
