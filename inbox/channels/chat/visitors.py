"""Reading what a visitor may see: who they are, and their chat's own messages.

A visitor sees the chat inbox's conversations of their customer, and in them
only what passed between them and the team: the customer's messages and
agents' replies, never notes, never anything about other customers, and of
an agent no more than the display name on their reply.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.models import (
    Agent,
    ChatVisitor,
    Conversation,
    Direction,
    Identity,
    IdentityKind,
    Message,
)

# How many stored messages a (re)connecting widget is sent at most.
REPLAY_LIMIT = 200


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def visitor_by_token(session: AsyncSession, token: str) -> ChatVisitor | None:
    if not token or len(token) > 200:
        return None
    return await session.scalar(
        select(ChatVisitor).where(ChatVisitor.token_hash == token_hash(token))
    )


def site_user_value(inbox_id: int, user_id: str) -> str:
    """The embedding site's user as a live chat identity: per inbox, since each
    inbox's secret vouches only for its own site's user ids."""
    return f"site:{inbox_id}:{user_id}"


async def visitor_customer_id(session: AsyncSession, visitor: ChatVisitor) -> int | None:
    """The visitor's customer: through their own id once their first message made
    one (merges carry it along), else, when verified, the site user's customer."""
    values = [visitor.public_id]
    if visitor.verified_user_id is not None:
        values.append(site_user_value(visitor.inbox_id, visitor.verified_user_id))
    rows = await session.execute(
        select(Identity.value, Identity.customer_id).where(
            Identity.kind == IdentityKind.LIVE_CHAT, Identity.value.in_(values)
        )
    )
    found: dict[str, int] = {value: customer_id for value, customer_id in rows}
    return next((found[v] for v in values if v in found), None)


@dataclass(frozen=True)
class ChatLine:
    """One message as the widget shows it."""

    id: int
    conversation_id: int
    mine: bool  # the visitor's own (True), or the team's reply
    text: str
    author: str  # the replying agent's display name; "" for the visitor's own
    at: datetime
    client_id: str | None  # the widget's own id for a message it sent

    def to_json(self) -> dict[str, object]:
        return {
            "type": "message",
            "id": self.id,
            "mine": self.mine,
            "text": self.text,
            "author": self.author,
            "at": self.at.isoformat(),
            "client_id": self.client_id,
        }


def external_id(visitor: ChatVisitor, client_id: str) -> str:
    """A visitor's message is stored once per widget-made id, however often it is resent."""
    return f"chat:{visitor.public_id}:{client_id}"


def _line(message: Message, author: str, visitor: ChatVisitor) -> ChatLine:
    prefix = f"chat:{visitor.public_id}:"
    ext = message.external_id or ""
    return ChatLine(
        id=message.id,
        conversation_id=message.conversation_id,
        mine=message.direction is Direction.INBOUND,
        text=message.text,
        author=author if message.direction is Direction.OUTBOUND else "",
        at=message.created_at,
        client_id=ext[len(prefix) :] if ext.startswith(prefix) else None,
    )


def _visible(customer_id: int, inbox_id: int):  # type: ignore[no-untyped-def]
    return (
        select(Message, Agent.name)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .outerjoin(Agent, Agent.id == Message.sender_agent_id)
        .where(
            Conversation.customer_id == customer_id,
            Conversation.inbox_id == inbox_id,
            Message.direction.in_((Direction.INBOUND, Direction.OUTBOUND)),
        )
    )


async def chat_lines(
    session: AsyncSession, visitor: ChatVisitor, customer_id: int, *, after: int = 0
) -> list[ChatLine]:
    """The visitor's chat after message id `after`, oldest first (the newest REPLAY_LIMIT)."""
    rows = await session.execute(
        _visible(customer_id, visitor.inbox_id)
        .where(Message.id > after)
        .order_by(Message.id.desc())
        .limit(REPLAY_LIMIT)
    )
    return [_line(m, name or "", visitor) for m, name in reversed(rows.all())]


async def chat_line(
    session: AsyncSession, visitor: ChatVisitor, customer_id: int, message_id: int
) -> ChatLine | None:
    """One message, if it is one the visitor may see (else None)."""
    row = (
        await session.execute(
            _visible(customer_id, visitor.inbox_id).where(Message.id == message_id)
        )
    ).first()
    return None if row is None else _line(row[0], row[1] or "", visitor)


async def follow_up_address(
    session: AsyncSession, inbox_id: int, customer_ids: Sequence[int]
) -> str | None:
    """The address a visitor of these customers left for replies by email, newest first."""
    return await session.scalar(
        select(ChatVisitor.follow_up_email)
        .join(
            Identity,
            (Identity.kind == IdentityKind.LIVE_CHAT) & (Identity.value == ChatVisitor.public_id),
        )
        .where(
            ChatVisitor.inbox_id == inbox_id,
            Identity.customer_id.in_(customer_ids),
            ChatVisitor.follow_up_email.is_not(None),
        )
        .order_by(ChatVisitor.id.desc())
        .limit(1)
    )
