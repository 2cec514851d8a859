"""Taking in a customer's message from any channel: its customer, its conversation, its row.

Every connector hands its normalised messages to `do_receive_message` (via
inbox.channels.ingest). It is idempotent per (inbox, external id): a
redelivered message is found, not stored twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy import text as sql_text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.access import inbox_audience
from inbox.channels.base import InboundEmail, InboundMessage
from inbox.errors import BadRequest, NotFound
from inbox.events import Audience, ConversationCreated, ConversationStatusChanged, MessageCreated
from inbox.models import (
    Attachment,
    Conversation,
    Customer,
    Direction,
    EmailDetails,
    Inbox,
    Message,
    Status,
    ThreadRule,
)
from inbox.profiles.identities import attach_free_identities, find_customer, identity_holders
from inbox.runtime import Runtime
from inbox.sanitize import clean_html, preview

from .email_threads import find_thread
from .messages import message_time
from .transaction import Transaction, transaction


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


def _text(value: str) -> str:
    # PostgreSQL refuses NUL in text, whatever a sender put there.
    return value.replace("\x00", "")


def _email_details(message_id: int, email: InboundEmail, rule: ThreadRule) -> EmailDetails:
    return EmailDetails(
        message_id=message_id,
        raw_sha256=email.raw_sha256,
        raw_size=email.raw_size,
        quoted_text=_text(email.quoted_text),
        threaded_by=rule.value,
        from_address=email.from_address,
        headers={
            "in_reply_to": list(email.in_reply_to),
            "references": list(email.references),
            **email.headers,
        },
        auto_kind=email.auto_kind,
    )


async def _sender_customer(session: AsyncSession, inbound: InboundMessage) -> Customer:
    """The customer the sender's identities resolve to, created when nobody holds them."""
    holders = await identity_holders(session, inbound.identities)
    customer = await find_customer(session, inbound.identities, holders)
    if customer is None:
        customer = Customer(name=_text(inbound.sender_name).strip()[:200])
        session.add(customer)
        await session.flush()
    elif not customer.name and _text(inbound.sender_name).strip():
        customer.name = _text(inbound.sender_name).strip()[:200]
    await attach_free_identities(session, customer, inbound.identities, holders)
    return customer


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
    conv: Conversation | None = None
    rule = ThreadRule.NEW
    if inbound.email is not None:
        conv, rule = await find_thread(session, inbox.id, inbound.email)
    if conv is not None:
        # A reply in a thread belongs to the thread's customer, whoever sent
        # it: a customer's colleague answering in CC is no new customer.
        customer = await session.get(Customer, conv.customer_id)
        assert customer is not None  # foreign key
    else:
        customer = await _sender_customer(session, inbound)
    audience = await inbox_audience(session, inbox.id)
    if conv is None and inbound.email is None:
        conv = await session.scalar(
            _OPEN_CONVERSATION, {"customer_id": customer.id, "inbox_id": inbox.id}
        )
    # The channel's own timestamp orders the timeline, so backfilled history
    # lands where it happened rather than at import time.
    now = message_time(inbound.received_at)
    text = _text(inbound.text)
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
            filename=_text(a.filename)[:255],
            content_type=_text(a.content_type)[:255],
            size=a.size,
            sha256=a.sha256,
        )
        for a in inbound.attachments
    )
    if now >= conv.last_activity_at:
        conv.last_activity_at = now
        conv.last_message_preview = preview(text)
    conv.version += 1
    if conv.status is not Status.OPEN:
        # The customer answered what we were waiting on (pending), or wrote
        # back in an email thread we had resolved: it needs an agent again.
        previous = conv.status
        conv.status = Status.OPEN
        tx.emit(
            ConversationStatusChanged(
                conversation_id=conv.id,
                inbox_id=inbox.id,
                status="open",
                previous_status=previous.value,
                by_agent_id=None,
                version=conv.version,
            ),
            Audience(audience),
        )
    if inbound.email is not None:
        session.add(_email_details(message.id, inbound.email, rule))
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
