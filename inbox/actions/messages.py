"""Messages on a conversation: inbound from customers, replies, private notes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy import text as sql_text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.access import get_visible_conversation, inbox_audience
from inbox.channels.base import InboundMessage
from inbox.errors import BadRequest, Conflict, NotFound
from inbox.events import Audience, ConversationCreated, ConversationStatusChanged, MessageCreated
from inbox.mentions import MentionOutcome
from inbox.models import (
    Agent,
    Attachment,
    Conversation,
    Customer,
    Delivery,
    Direction,
    Inbox,
    Message,
    Status,
    utcnow,
)
from inbox.profiles.identities import attach_free_identities, find_customer, identity_holders
from inbox.runtime import Runtime
from inbox.sanitize import clean_html, preview

from .conversations import claim_if_unassigned
from .notifications import notify_mentions
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
        return await _add_agent_message(tx, actor, conv, Direction.OUTBOUND, text, at)


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


def _message_time(at: datetime | None) -> datetime:
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
    now = _message_time(at)
    message = Message(
        conversation_id=conv.id,
        customer_id=conv.customer_id,
        inbox_id=conv.inbox_id,
        direction=direction,
        sender_agent_id=actor.id,
        text=text,
        delivery=Delivery.QUEUED if direction is Direction.OUTBOUND else None,
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


@dataclass(frozen=True)
class Received:
    message: Message
    created: bool  # False when this external id was already stored


async def do_receive_message(rt: Runtime, inbound: InboundMessage) -> Received:
    """Store a customer's message: find or create the customer and the conversation."""
    if not inbound.identities:
        raise BadRequest("an inbound message needs the sender's identity")
    if not inbound.external_id:
        raise BadRequest("an inbound message needs the provider's message id")
    try:
        async with transaction(rt) as tx:
            # A redelivery writes nothing: the transaction commits empty.
            existing = await _find_existing(tx.session, inbound)
            message = existing or await _store_inbound(tx, inbound)
    except IntegrityError:
        # A concurrent delivery of the same message won the unique constraint.
        async with rt.read_sessions() as session:
            existing = await _find_existing(session, inbound)
        if existing is None:
            raise
        return Received(existing, created=False)
    return Received(message, created=existing is None)


# The ingest path's statements, built once: it runs for every inbound
# message, and building a statement costs more than SQLite takes to run it.
_EXISTING = select(Message).where(
    Message.inbox_id == bindparam("inbox_id"), Message.external_id == bindparam("external_id")
)
# The customer's open (or pending) conversation in this inbox, newest first.
_OPEN_CONVERSATION = (
    select(Conversation)
    .where(
        Conversation.customer_id == bindparam("customer_id"),
        Conversation.inbox_id == bindparam("inbox_id"),
        Conversation.status != Status.RESOLVED,
    )
    .order_by(Conversation.last_activity_at.desc())
    .limit(1)
)


async def _find_existing(session: AsyncSession, inbound: InboundMessage) -> Message | None:
    return await session.scalar(
        _EXISTING, {"inbox_id": inbound.inbox_id, "external_id": inbound.external_id}
    )


async def _store_inbound(tx: Transaction, inbound: InboundMessage) -> Message:
    session = tx.session
    if session.get_bind().dialect.name == "postgresql":
        # Serialise first contacts per arrival identity: under READ COMMITTED two
        # deliveries can both miss the customer, and the later one then makes a
        # second, identity-less customer once the first commits. (SQLite's
        # writers are serialised already.) The two-key form keeps clear of the
        # outbox's single-key lock.
        first = inbound.identities[0]
        await session.execute(
            sql_text("SELECT pg_advisory_xact_lock(1, hashtext(:k))"),
            {"k": f"{first.kind.value}:{first.value}"},
        )
    inbox = await session.get(Inbox, inbound.inbox_id)
    if inbox is None:
        raise NotFound("inbox not found")
    holders = await identity_holders(session, inbound.identities)
    customer = await find_customer(session, inbound.identities, holders)
    if customer is None:
        customer = Customer(name=inbound.sender_name.strip()[:200])
        session.add(customer)
        await session.flush()
    elif not customer.name and inbound.sender_name.strip():
        customer.name = inbound.sender_name.strip()[:200]
    await attach_free_identities(session, customer, inbound.identities, holders)
    audience = await inbox_audience(session, inbox.id)

    conv = await session.scalar(
        _OPEN_CONVERSATION, {"customer_id": customer.id, "inbox_id": inbox.id}
    )
    # The channel's own timestamp orders the timeline, so backfilled history
    # lands where it happened rather than at import time.
    now = _message_time(inbound.received_at)
    text = inbound.text.replace("\x00", "")
    if conv is None:
        conv = Conversation(
            customer_id=customer.id,
            inbox_id=inbox.id,
            subject=preview(inbound.subject or text, 500),
            status=Status.OPEN,
            last_activity_at=now,
            created_at=now,
        )
        session.add(conv)
        await session.flush()
        tx.audit(None, "conversation.created", "conversation", conv.id)
        tx.emit(
            ConversationCreated(
                conversation_id=conv.id, inbox_id=inbox.id, customer_id=customer.id
            ),
            Audience(audience),
        )
    message = Message(
        conversation_id=conv.id,
        customer_id=customer.id,
        inbox_id=inbox.id,
        direction=Direction.INBOUND,
        text=text,
        html=clean_html(inbound.html) if inbound.html else None,
        external_id=inbound.external_id,
        created_at=now,
        received_at=inbound.received_at,
    )
    session.add(message)
    await session.flush()
    session.add_all(
        Attachment(
            message_id=message.id,
            filename=a.filename[:255],
            content_type=a.content_type[:255],
            size=a.size,
            sha256=a.sha256,
        )
        for a in inbound.attachments
    )
    if now >= conv.last_activity_at:
        conv.last_activity_at = now
        conv.last_message_preview = preview(text)
    conv.version += 1
    if conv.status is Status.PENDING:
        # The customer answered what we were waiting on: it needs an agent again.
        conv.status = Status.OPEN
        tx.emit(
            ConversationStatusChanged(
                conversation_id=conv.id,
                inbox_id=inbox.id,
                status="open",
                previous_status="pending",
                by_agent_id=None,
                version=conv.version,
            ),
            Audience(audience),
        )
    await session.flush()
    tx.audit(None, "message.inbound", "conversation", conv.id, message_id=message.id)
    tx.emit(
        MessageCreated(
            message_id=message.id,
            conversation_id=conv.id,
            inbox_id=inbox.id,
            customer_id=customer.id,
            direction="inbound",
            sender_agent_id=None,
        ),
        Audience(audience),
    )
    return message
