"""The read paths: inbox list, timeline, profile. Keyset pagination throughout."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, selectinload

from inbox.access import get_visible_customer, visible_inbox_ids
from inbox.errors import BadRequest
from inbox.models import (
    Agent,
    Conversation,
    Customer,
    CustomerNote,
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

    assignee = aliased(Agent)
    stmt = (
        select(Conversation, Customer.name, Inbox.name, Inbox.channel, assignee.name)
        .join(Customer, Customer.id == Conversation.customer_id)
        .join(Inbox, Inbox.id == Conversation.inbox_id)
        .outerjoin(assignee, assignee.id == Conversation.assignee_id)
        .where(Conversation.inbox_id.in_(inbox_ids))
    )
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
    rows = [
        ConversationRow(conv, cname or f"Customer #{conv.customer_id}", iname, str(chan), aname)
        for conv, cname, iname, chan, aname in result[:limit]
    ]
    next_cursor = None
    if len(result) > limit:
        last = rows[-1].conversation
        next_cursor = Cursor(last.last_activity_at, last.id).encode()
    return ConversationPage(rows, next_cursor)


@dataclass(frozen=True)
class TimelineEntry:
    message: Message
    inbox_name: str
    channel: str
    sender_name: str


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
    """The customer's messages from every channel the agent may see, interleaved by time."""
    customer = await get_visible_customer(session, agent, customer_id)
    visible = await visible_inbox_ids(session, agent)
    stmt = (
        select(Message)
        .where(Message.customer_id == customer_id, Message.inbox_id.in_(sorted(visible)))
        .options(selectinload(Message.attachments))
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(limit + 1)
    )
    if before is not None:
        stmt = stmt.where(tuple_(Message.created_at, Message.id) < tuple_(before.at, before.id))
    messages = list((await session.scalars(stmt)).all())
    earlier = None
    if len(messages) > limit:
        messages = messages[:limit]
        earlier = Cursor(messages[-1].created_at, messages[-1].id).encode()
    messages.reverse()
    inboxes = {i.id: i for i in (await session.scalars(select(Inbox))).all()}
    agent_ids = {m.sender_agent_id for m in messages if m.sender_agent_id is not None}
    names: dict[int, str] = {}
    if agent_ids:
        rows = await session.execute(select(Agent.id, Agent.name).where(Agent.id.in_(agent_ids)))
        names = {agent_id: name for agent_id, name in rows}
    entries = [
        TimelineEntry(
            m,
            inboxes[m.inbox_id].name,
            inboxes[m.inbox_id].channel.value,
            names.get(m.sender_agent_id, "Agent")
            if m.sender_agent_id is not None
            else customer.display_name,
        )
        for m in messages
    ]
    return Timeline(entries, earlier)


@dataclass(frozen=True)
class Profile:
    customer: Customer
    notes: list[CustomerNote]
    purchases: list[Purchase]
    conversations: list[Conversation]


async def customer_profile(session: AsyncSession, agent: Agent, customer_id: int) -> Profile:
    await get_visible_customer(session, agent, customer_id)
    customer = await session.scalar(
        select(Customer)
        .where(Customer.id == customer_id)
        .options(selectinload(Customer.identities), selectinload(Customer.tags))
        .execution_options(populate_existing=True)
    )
    assert customer is not None
    visible = await visible_inbox_ids(session, agent)
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
