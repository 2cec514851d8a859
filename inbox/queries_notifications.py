"""Reading an agent's notifications: the unread count and the list, newest first.

A notification outlives the access that justified it: an agent mentioned
on a conversation may later lose the inbox. The list then still says who
did what, but shows no subject, no text and no link, as for any
conversation they can't see.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from inbox.access import visible_inbox_ids
from inbox.errors import BadRequest
from inbox.models import (
    Agent,
    Conversation,
    Customer,
    DirectMessage,
    Message,
    Notification,
    NotificationKind,
)
from inbox.sanitize import preview

MAX_NOTIFICATION_ID = 2**63 - 1
EXCERPT = 200
EXCERPT_SOURCE = 1000  # characters read to make one: whitespace collapses first


async def unread_count(session: AsyncSession, agent: Agent) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.agent_id == agent.id, Notification.read_at.is_(None))
    )
    return int(count or 0)


def encode_cursor(notification_id: int) -> str:
    return str(notification_id)


def decode_cursor(value: str | None) -> int | None:
    """The id to continue below; 400 for anything we did not issue."""
    if value is None:
        return None
    if not value.isascii() or not value.isdigit() or not 0 < int(value) <= MAX_NOTIFICATION_ID:
        raise BadRequest("cursor is not valid; start again without it")
    return int(value)


@dataclass(frozen=True)
class NotificationRow:
    notification: Notification
    actor_name: str
    # Only when the agent may (still) see the conversation, or it is a DM to them.
    subject: str | None
    customer_name: str | None
    excerpt: str | None
    url: str | None

    @property
    def is_unread(self) -> bool:
        return self.notification.read_at is None


@dataclass(frozen=True)
class NotificationPage:
    rows: list[NotificationRow]
    next_cursor: str | None


async def list_notifications(
    session: AsyncSession,
    agent: Agent,
    *,
    unread_only: bool = False,
    before_id: int | None = None,
    limit: int = 25,
) -> NotificationPage:
    actor = aliased(Agent)
    stmt = (
        select(
            Notification,
            actor.name,
            Conversation.subject,
            Conversation.inbox_id,
            Customer.name,
            # Enough for an excerpt; a note may be 100,000 characters.
            func.substr(Message.text, 1, EXCERPT_SOURCE),
            func.substr(DirectMessage.body, 1, EXCERPT_SOURCE),
        )
        .outerjoin(actor, actor.id == Notification.actor_id)
        .outerjoin(Conversation, Conversation.id == Notification.conversation_id)
        .outerjoin(Customer, Customer.id == Notification.customer_id)
        .outerjoin(Message, Message.id == Notification.message_id)
        .outerjoin(DirectMessage, DirectMessage.id == Notification.direct_message_id)
        .where(Notification.agent_id == agent.id)
        .order_by(Notification.id.desc())
        .limit(limit + 1)
    )
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    if before_id is not None:
        stmt = stmt.where(Notification.id < before_id)
    found = (await session.execute(stmt)).all()
    visible = await visible_inbox_ids(session, agent)
    rows = []
    for n, actor_name, subject, inbox_id, customer_name, note_text, dm_body in found[:limit]:
        sees_case = inbox_id is not None and inbox_id in visible
        rows.append(
            NotificationRow(
                notification=n,
                actor_name=actor_name or "A former colleague",
                subject=(subject or "(no subject)") if sees_case else None,
                customer_name=(customer_name or f"Customer #{n.customer_id}")
                if sees_case
                else None,
                excerpt=_excerpt(n.kind, note_text, dm_body, sees_case),
                url=_url(n, sees_case),
            )
        )
    next_cursor = None
    if len(found) > limit:
        next_cursor = encode_cursor(rows[-1].notification.id)
    return NotificationPage(rows, next_cursor)


def _excerpt(
    kind: NotificationKind, note_text: str | None, dm_body: str | None, sees_case: bool
) -> str | None:
    if kind is NotificationKind.DIRECT_MESSAGE:
        # Written to this agent: theirs to read whatever it is about.
        return preview(dm_body, EXCERPT) if dm_body else None
    if kind is NotificationKind.MENTION and sees_case and note_text:
        return preview(note_text, EXCERPT)
    return None


def _url(n: Notification, sees_case: bool) -> str | None:
    if n.kind is NotificationKind.DIRECT_MESSAGE and n.actor_id is not None:
        return f"/messages/{n.actor_id}"
    if sees_case and n.conversation_id is not None:
        anchor = f"#m-{n.message_id}" if n.message_id is not None else ""
        return f"/conversations/{n.conversation_id}{anchor}"
    return None
