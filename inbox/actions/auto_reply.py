"""Automatic acknowledgements: "we got your message" for each new email conversation.

Ingest calls `acknowledge_new_emails` in the transaction that stores the
emails, so an acknowledgement is queued with the email it answers or not at
all. It is a real outbound message on the conversation (sent by the durable
queue, with our reply token in its Message-ID so the customer's answer
threads back), marked ``Auto-Submitted: auto-replied`` and
``X-Auto-Response-Suppress: All``. It claims the conversation for nobody and
leaves its status, last activity and preview alone: an agent still has it
to answer.

An email is acknowledged only when all of these hold, because answering a
robot, a stranger's old mail or the same address twice is how mail loops
and angry customers start:

1. The inbox's acknowledgement is on (off by default).
2. The email opened a new conversation: a reply in a thread already has us
   talking to the customer.
3. It is not automatic mail: no auto-reply, bounce or bulk mail
   (`auto.should_auto_answer`).
4. It arrived (the IMAP arrival time) no earlier than the moment the
   acknowledgement was turned on and within the last day, so importing
   history (a first sync, `inbox backfill-email`, a new folder) never mails
   old customers, while a worker that was down for hours still catches up.
5. Neither its sender nor the address we would answer is our own inbox, one
   of our agents, or an address no person reads (no-reply, mailer-daemon,
   list software: `auto.unattended_address`).
6. No automatic reply went to that address, from any of our inboxes, in the
   last hour. Counted in the database, the queued and sent ones alike, under
   a per-address lock on PostgreSQL, so the limit holds across worker
   processes and restarts. It is what stops a loop with an auto-responder
   that sends no auto-reply headers and starts a new thread every time.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.access import inbox_audience
from inbox.channels.email.auto import AutoKind, should_auto_answer, unattended_address
from inbox.channels.email.settings import EmailConfig, email_config
from inbox.events import Audience, MessageCreated
from inbox.models import (
    Agent,
    ChannelKind,
    Conversation,
    Delivery,
    Direction,
    EmailDetails,
    Inbox,
    Message,
    ThreadRule,
    utcnow,
)
from inbox.runtime import Runtime

from .outbound_mail import queue_email_reply, reply_address
from .transaction import LockSpace, Transaction, lock_keys

log = logging.getLogger(__name__)

# What the timeline and the API show in place of an agent's name.
ACKNOWLEDGEMENT_SENDER = "Automatic acknowledgement"
# At most this many automatic replies to one address per window.
MAX_PER_WINDOW = 1
WINDOW = timedelta(hours=1)
# Older mail is history, whenever the acknowledgement was turned on.
RECENT = timedelta(days=1)


async def acknowledge_new_emails(tx: Transaction, rt: Runtime, stored: Sequence[Message]) -> int:
    """Queue an acknowledgement for each just-stored email that qualifies; returns how many.

    `stored` are the messages ingest just wrote (in order); those that are
    not emails, or joined an existing conversation, are passed over.
    """
    now = utcnow()
    wanted: list[tuple[Message, EmailConfig, str]] = []
    settings: dict[int, EmailConfig | None] = {}  # per inbox: a batch is mostly one
    for message in stored:
        found = await _qualifies(tx.session, message, settings, now)
        if found is not None:
            wanted.append((message, *found))
    if not wanted:
        return 0
    # One writer at a time counts and queues replies to each address.
    await lock_keys(tx.session, LockSpace.AUTO_REPLY_ADDRESS, (a for _, _, a in wanted))
    sent = 0
    for message, config, address in wanted:
        if await _recent_automatic_replies(tx.session, address, now) >= MAX_PER_WINDOW:
            # Logged: it is what a loop with an auto-responder looks like.
            log.info("message %s: not acknowledged, its address had one lately", message.id)
            continue
        await _acknowledge(tx, rt, message, config, address, now)
        sent += 1
    return sent


async def _qualifies(
    session: AsyncSession,
    message: Message,
    settings: dict[int, EmailConfig | None],
    now: datetime,
) -> tuple[EmailConfig, str] | None:
    """(the inbox's settings, the address to answer) when rules 1 to 5 allow an
    acknowledgement; the rate limit (6) is checked under the lock."""
    if message.direction is not Direction.INBOUND:
        return None
    if message.inbox_id not in settings:
        # Ingest loaded the inbox in this transaction: no query.
        inbox = await session.get(Inbox, message.inbox_id)
        settings[message.inbox_id] = (
            email_config(inbox.config)
            if inbox is not None and inbox.channel is ChannelKind.EMAIL
            else None
        )
    config = settings[message.inbox_id]
    if config is None or not config.acknowledgement.enabled:
        return None
    # Written by ingest in this transaction, so the session has it too.
    details = await session.get(EmailDetails, message.id)
    if details is None or details.threaded_by != ThreadRule.NEW.value:
        return None
    if not should_auto_answer(_auto_kind(details.auto_kind)):
        return None
    since = config.acknowledgement.enabled_at
    arrived = message.received_at
    if since is None or arrived is None or arrived < since or arrived < now - RECENT:
        return None
    address = (reply_address(details.headers, details.from_address) or "").strip().lower()
    if not address:
        return None
    people = {a for a in (address, (details.from_address or "").strip().lower()) if a}
    if config.address in people or any(unattended_address(a) for a in people):
        return None
    if await session.scalar(select(Agent.id).where(func.lower(Agent.email).in_(people))):
        return None
    return config, address


def _auto_kind(value: str | None) -> AutoKind | None:
    if value is None:
        return None
    try:
        return AutoKind(value)
    except ValueError:
        # Written by a later version: some kind of automatic mail all the same.
        return AutoKind.AUTO_REPLY


async def _recent_automatic_replies(session: AsyncSession, address: str, now: datetime) -> int:
    """Our automatic replies to this address in the window, queued, sent or failed."""
    count = await session.scalar(
        select(func.count())
        .select_from(Message)
        .where(Message.auto_reply_to == address, Message.created_at > now - WINDOW)
    )
    return int(count or 0)


async def _acknowledge(
    tx: Transaction,
    rt: Runtime,
    answering: Message,
    config: EmailConfig,
    address: str,
    now: datetime,
) -> None:
    conv = await tx.session.get(Conversation, answering.conversation_id)
    assert conv is not None  # a foreign key
    ack = Message(
        conversation_id=conv.id,
        customer_id=conv.customer_id,
        inbox_id=conv.inbox_id,
        direction=Direction.OUTBOUND,
        sender_agent_id=None,
        text=config.acknowledgement.text,
        delivery=Delivery.QUEUED,
        # After the email it answers, whose time is its arrival (never later than now).
        created_at=max(now, answering.created_at),
        auto_reply_to=address,
    )
    tx.session.add(ack)
    await tx.session.flush()
    tx.audit(
        None,
        "message.outbound",
        "conversation",
        conv.id,
        message_id=ack.id,
        automatic="acknowledgement",
    )
    tx.emit(
        MessageCreated(
            message_id=ack.id,
            conversation_id=conv.id,
            inbox_id=conv.inbox_id,
            customer_id=conv.customer_id,
            direction=Direction.OUTBOUND.value,
            sender_agent_id=None,
        ),
        # Like an agent's reply: it reaches the customer too.
        Audience(await inbox_audience(tx.session, conv.inbox_id), customer_id=conv.customer_id),
    )
    await queue_email_reply(tx, rt, conv, ack, answering=answering.id, automatic=True)
