"""Messages agents write on a conversation: replies and private notes (inbound: inbound.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.access import get_visible_conversation, inbox_audience
from inbox.errors import BadRequest, Conflict
from inbox.events import Audience, MessageCreated
from inbox.mentions import MentionOutcome
from inbox.models import (
    Agent,
    Conversation,
    Delivery,
    Direction,
    Message,
    utcnow,
)
from inbox.runtime import Runtime
from inbox.sanitize import preview

from .conversations import claim_if_unassigned
from .notifications import notify_mentions
from .outbound_mail import queue_email_reply
from .transaction import Transaction, transaction

MAX_TEXT = 100_000


def _check_text(text: str) -> str:
    text = text.replace("\x00", "").strip()
    if not text:
        raise BadRequest("the message is empty")
    if len(text) > MAX_TEXT:
        raise BadRequest(f"the message is longer than {MAX_TEXT} characters")
    return text


async def do_post_note(
    rt: Runtime, actor: Agent, conversation_id: int, text: str, *, at: datetime | None = None
) -> Message:
    """A private note: seen by agents of the inbox, never sent to the customer.

    Colleagues it @mentions are notified (see `inbox.mentions`). `at`
    backdates it when importing history; it defaults to now.
    """
    posted = await do_post_note_with_mentions(rt, actor, conversation_id, text, at=at)
    return posted.message


@dataclass(frozen=True)
class NotePosted:
    message: Message
    mentions: MentionOutcome  # whom the note notified, and whom it could not


async def do_post_note_with_mentions(
    rt: Runtime, actor: Agent, conversation_id: int, text: str, *, at: datetime | None = None
) -> NotePosted:
    """`do_post_note`, also saying what became of each @mention, so the author can be told."""
    text = _check_text(text)
    async with transaction(rt) as tx:
        conv = await get_visible_conversation(tx.session, actor, conversation_id)
        message = await _add_agent_message(tx, actor, conv, Direction.NOTE, text, at)
        # Same transaction: a note and its notifications commit together or not at all.
        mentions = await notify_mentions(tx, actor, conv, message)
    return NotePosted(message, mentions)


async def do_post_reply(
    rt: Runtime,
    actor: Agent,
    conversation_id: int,
    text: str,
    *,
    at: datetime | None = None,
    based_on: int | None = None,
) -> Message:
    """A reply to the customer, stored as outbound and queued for its channel.

    Replying to an unassigned conversation claims it. An agent can't reply to
    a conversation someone else holds; a lead or admin can step in. `at`
    backdates it when importing history.

    `based_on` is the newest message id the author had seen when they began
    the draft. If the customer wrote, or a colleague replied, on this
    conversation since then, the reply is refused (409, "new activity since
    you started", with `new_message_ids`) so the author can review and resend.
    Notes and the author's own replies don't count. None skips the check.
    """
    text = _check_text(text)
    async with transaction(rt) as tx:
        # With a draft to check, lock the conversation row (PostgreSQL): two
        # replies based on the same message then can't both go out.
        conv = await get_visible_conversation(
            tx.session, actor, conversation_id, for_update=based_on is not None
        )
        if conv.assignee_id is None:
            await claim_if_unassigned(tx, actor, conv, reason="replied")
        if conv.assignee_id not in (None, actor.id) and not actor.can_assign_others:
            holder = await tx.session.scalar(select(Agent.name).where(Agent.id == conv.assignee_id))
            raise Conflict(f"{holder} is handling this conversation", assignee_id=conv.assignee_id)
        # In the same transaction as the insert, so it commits only if still true.
        if based_on is not None:
            newer = await new_activity_since(tx.session, actor, conv.id, based_on)
            if newer:
                raise Conflict("new activity since you started", new_message_ids=newer)
        message = await _add_agent_message(tx, actor, conv, Direction.OUTBOUND, text, at)
        if at is None:
            await queue_email_reply(tx, rt, conv, message)
        return message


async def new_activity_since(
    session: AsyncSession, actor: Agent, conversation_id: int, based_on: int
) -> list[int]:
    """Ids, oldest first, of this conversation's messages after `based_on` that a
    reply should not talk over: the customer's, and replies not by `actor`."""
    rows = await session.scalars(
        select(Message.id)
        .where(
            Message.conversation_id == conversation_id,
            Message.id > based_on,
            or_(
                Message.direction == Direction.INBOUND,
                and_(
                    Message.direction == Direction.OUTBOUND,
                    Message.sender_agent_id.is_distinct_from(actor.id),
                ),
            ),
        )
        .order_by(Message.id)
    )
    return list(rows.all())


def message_time(at: datetime | None) -> datetime:
    """When a message counts as written: now, or an imported time never in the future."""
    now = utcnow()
    return now if at is None else min(at, now)


async def _add_agent_message(
    tx: Transaction,
    actor: Agent,
    conv: Conversation,
    direction: Direction,
    text: str,
    at: datetime | None,
) -> Message:
    now = message_time(at)
    message = Message(
        conversation_id=conv.id,
        customer_id=conv.customer_id,
        inbox_id=conv.inbox_id,
        direction=direction,
        sender_agent_id=actor.id,
        text=text,
        # Imported history went out long ago; a live reply waits for its channel.
        delivery=(
            None
            if direction is not Direction.OUTBOUND
            else Delivery.SENT
            if at is not None
            else Delivery.QUEUED
        ),
        created_at=now,
    )
    tx.session.add(message)
    conv.last_activity_at = max(conv.last_activity_at, now)
    if direction is Direction.OUTBOUND:
        conv.last_message_preview = preview(text)
    conv.version += 1
    await tx.session.flush()
    tx.audit(actor, f"message.{direction.value}", "conversation", conv.id, message_id=message.id)
    tx.emit(
        MessageCreated(
            message_id=message.id,
            conversation_id=conv.id,
            inbox_id=conv.inbox_id,
            customer_id=conv.customer_id,
            direction=direction.value,
            sender_agent_id=actor.id,
        ),
        # A note never goes to the customer; a reply reaches them via the channel.
        Audience(
            await inbox_audience(tx.session, conv.inbox_id),
            customer_id=conv.customer_id if direction is Direction.OUTBOUND else None,
        ),
    )
    return message
