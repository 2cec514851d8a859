"""Taking in customers' messages from any channel: their customer, their conversation, their rows.

Every connector hands its normalised messages to inbox.channels.ingest, which
stores them here: one at a time (`do_receive_message`), or a fetched batch in
one transaction (`do_receive_messages`). Both are idempotent per (inbox,
external id): a redelivered message is found, not stored twice.

A batch is stored set-wise, because per-message statements were most of an
email sync's cost: everything the batch needs is read up front in a few
queries, each message is then resolved in memory, in order (a reply to a
message earlier in the batch joins its conversation), and the new rows go in
a few multi-row INSERTs, one per table and stage (inbox.actions.inbound_rows).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from inbox.access import inbox_audience
from inbox.channels.base import InboundMessage, inbox_state
from inbox.errors import BadRequest, NotFound, StaleInbox
from inbox.events import Audience, ConversationCreated, ConversationStatusChanged, MessageCreated
from inbox.models import (
    Conversation,
    Customer,
    Inbox,
    Message,
    Status,
    ThreadRule,
)
from inbox.profiles.identities import SenderResolver
from inbox.runtime import Runtime
from inbox.sanitize import preview

from .auto_reply import acknowledge_new_emails
from .email_threads import Threads
from .inbound_rows import Placed, without_nul, write_rows
from .messages import message_time
from .outbound_mail import mark_email_bounced
from .transaction import LockSpace, Transaction, lock_keys, transaction


@dataclass(frozen=True)
class Received:
    message: Message
    created: bool  # False when this external id was already stored


async def do_receive_message(rt: Runtime, inbound: InboundMessage) -> Received:
    """Store a customer's message: find or create the customer and the conversation."""
    try:
        return (await do_receive_messages(rt, [inbound]))[0]
    except IntegrityError:
        # A concurrent delivery of the same message won the unique constraint.
        async with rt.read_sessions() as session:
            existing = await _find_existing(session, inbound)
        if existing is None:
            raise
        return Received(existing, created=False)


async def do_receive_messages(rt: Runtime, inbounds: Sequence[InboundMessage]) -> list[Received]:
    """Store messages in one transaction, in order; one result per message.

    All or nothing: when one is refused (BadRequest, NotFound) or a concurrent
    writer stored one first (IntegrityError), nothing is stored and the error
    is raised; `inbox.channels.ingest.ingest_batch` then takes them one by one.
    """
    for inbound in inbounds:
        if not inbound.identities:
            raise BadRequest("an inbound message needs the sender's identity")
        if not inbound.external_id:
            raise BadRequest("an inbound message needs the provider's message id")
    if not inbounds:
        return []
    async with transaction(rt) as tx:
        # A batch of redeliveries writes nothing: the transaction commits empty.
        received = await _Batch(tx).store(inbounds)
        # An email that opened a conversation may be acknowledged, in this transaction.
        await acknowledge_new_emails(
            tx,
            rt,
            [r.message for i, r in zip(inbounds, received, strict=True) if r.created and i.email],
        )
        return received


# The ingest path's statements, built once: building a statement costs more
# than SQLite takes to run it.
_EXISTING = select(Message).where(
    Message.inbox_id == bindparam("inbox_id"),
    Message.external_id.in_(bindparam("external_ids", expanding=True)),
)
# The customers' open (or pending) conversations, newest first. Not narrowed
# to the batch's inboxes here (the caller does that): with a term on inbox_id,
# SQLite (which has no statistics for its planner) walks the inbox's index,
# every conversation the inbox ever had, instead of the customers'.
_OPEN_CONVERSATIONS = (
    select(Conversation)
    .where(
        Conversation.customer_id.in_(bindparam("customer_ids", expanding=True)),
        Conversation.status != Status.RESOLVED,
    )
    .order_by(Conversation.last_activity_at.desc())
)


async def _find_existing(session: AsyncSession, inbound: InboundMessage) -> Message | None:
    return await session.scalar(
        _EXISTING, {"inbox_id": inbound.inbox_id, "external_ids": [inbound.external_id]}
    )


def _check_unchanged(inbox: Inbox, inbounds: Sequence[InboundMessage]) -> None:
    """Webhooks may check a delivery against the inbox as remembered: the inbox
    as stored now must be that one, or the delivery is checked again."""
    checked = {i.checked_against for i in inbounds if i.checked_against is not None}
    if checked and checked != {inbox_state(inbox.channel.value, inbox.is_active, inbox.secrets)}:
        raise StaleInbox("the inbox changed while the webhook was checked; retry")


@dataclass
class _Batch:
    tx: Transaction
    # New conversations of this batch, by their customer (chat joins them).
    _opened: dict[tuple[int, int], Conversation] = field(default_factory=dict)
    # The customers new conversations of this batch belong to.
    _owners: dict[int, Customer] = field(default_factory=dict)
    # Chat: stored customers' open conversations, by (customer id, inbox id).
    _open: dict[tuple[int, int], Conversation] = field(default_factory=dict)
    # Stored conversations this batch's messages move on (activity, version, status).
    _moved: dict[int, Conversation] = field(default_factory=dict)

    async def store(self, inbounds: Sequence[InboundMessage]) -> list[Received]:
        session = self.tx.session
        await self._lock_first_contacts(inbounds)
        for inbox_id in dict.fromkeys(i.inbox_id for i in inbounds):
            inbox = await session.get(Inbox, inbox_id)
            if inbox is None:
                raise NotFound("inbox not found")
            _check_unchanged(inbox, [i for i in inbounds if i.inbox_id == inbox_id])
        stored = await self._stored(inbounds)
        threads = {
            inbox_id: await Threads.load(
                session, inbox_id, [i.email for i in inbounds if i.inbox_id == inbox_id and i.email]
            )
            for inbox_id in dict.fromkeys(i.inbox_id for i in inbounds if i.email)
        }
        senders = await SenderResolver.load(session, [r for i in inbounds for r in i.identities])
        await self._load_open_conversations(inbounds, senders)
        outcomes: list[tuple[Message | Placed, bool]] = []
        placed: dict[tuple[int, str], Placed] = {}
        for inbound in inbounds:
            key = (inbound.inbox_id, inbound.external_id)
            if key in stored:
                outcomes.append((stored[key], False))
            elif key in placed:  # the same message twice in one batch
                outcomes.append((placed[key], False))
            else:
                placed[key] = await self._place(inbound, threads.get(inbound.inbox_id), senders)
                outcomes.append((placed[key], True))
        await write_rows(
            self.tx.session, list(placed.values()), senders, self._owners, self._moved.values()
        )
        await self._announce(list(placed.values()))
        return [
            Received(outcome if isinstance(outcome, Message) else outcome.stored, created)
            for outcome, created in outcomes
        ]

    async def _lock_first_contacts(self, inbounds: Sequence[InboundMessage]) -> None:
        # Serialise first contacts per arrival identity: under READ COMMITTED two
        # deliveries can both miss the customer, and the later one then makes a
        # second, identity-less customer once the first commits.
        await lock_keys(
            self.tx.session,
            LockSpace.FIRST_CONTACT,
            (f"{i.identities[0].kind.value}:{i.identities[0].value}" for i in inbounds),
        )

    async def _stored(self, inbounds: Sequence[InboundMessage]) -> dict[tuple[int, str], Message]:
        """The batch's messages stored already (redeliveries), in one query per inbox."""
        found: dict[tuple[int, str], Message] = {}
        for inbox_id in dict.fromkeys(i.inbox_id for i in inbounds):
            ids = [i.external_id for i in inbounds if i.inbox_id == inbox_id]
            for message in await self.tx.session.scalars(
                _EXISTING, {"inbox_id": inbox_id, "external_ids": ids}
            ):
                found[(inbox_id, message.external_id or "")] = message
        return found

    async def _place(
        self, inbound: InboundMessage, threads: Threads | None, senders: SenderResolver
    ) -> Placed:
        """Decide the message's conversation and customer, and update the conversation."""
        conv: Conversation | None = None
        rule: ThreadRule | None = None
        customer: Customer | None = None
        if inbound.email is not None and threads is not None:
            conv, rule = threads.find(inbound.email)
        if conv is not None:
            # A reply in a thread belongs to the thread's customer, whoever sent
            # it: a customer's colleague answering in CC is no new customer.
            customer = self._owners.get(id(conv))
        else:
            customer = senders.customer(
                inbound.identities, without_nul(inbound.sender_name).strip()[:200]
            )
            if inbound.email is None:
                conv = self._open_conversation(customer, inbound.inbox_id)
        # The channel's own timestamp orders the timeline, so backfilled history
        # lands where it happened rather than at import time.
        now = message_time(inbound.received_at)
        text = without_nul(inbound.text)
        opens = conv is None
        if conv is None:
            assert customer is not None
            # Never added to the session: `write_rows` inserts it (one INSERT for the batch's
            # new conversations) and sets its id.
            conv = Conversation(
                inbox_id=inbound.inbox_id,
                subject=preview(inbound.subject or text, 500),
                status=Status.OPEN,
                last_activity_at=now,
                last_message_preview="",
                created_at=now,
                version=1,
            )
            self._owners[id(conv)] = customer
            self._opened[(id(customer), inbound.inbox_id)] = conv
        spot = Placed(inbound, conv, customer, rule, opens, text, now)
        # Set as stored values, not as changes: `write_rows` writes every moved
        # conversation in one UPDATE, so the ORM has nothing to flush for them.
        if now >= conv.last_activity_at:
            set_committed_value(conv, "last_activity_at", now)
            set_committed_value(conv, "last_message_preview", preview(text))
        set_committed_value(conv, "version", conv.version + 1)
        if conv.status is not Status.OPEN:
            # The customer answered what we were waiting on (pending), or wrote
            # back in an email thread we had resolved: it needs an agent again.
            spot.reopened = (conv.status, conv.version)
            set_committed_value(conv, "status", Status.OPEN)
        if not opens:
            self._moved[id(conv)] = conv
        if threads is not None and inbound.email is not None:
            threads.add(inbound.external_id, conv)
        return spot

    async def _load_open_conversations(
        self, inbounds: Sequence[InboundMessage], senders: SenderResolver
    ) -> None:
        """Chat: every open conversation the batch's senders may join, in one query."""
        inbox_ids = {i.inbox_id for i in inbounds if i.email is None}
        customer_ids = sorted(senders.known_customer_ids)
        if not inbox_ids or not customer_ids:
            return
        rows = await self.tx.session.scalars(_OPEN_CONVERSATIONS, {"customer_ids": customer_ids})
        for conv in rows:  # newest first: the first of each customer's is theirs
            if conv.inbox_id in inbox_ids:
                self._open.setdefault((conv.customer_id, conv.inbox_id), conv)

    def _open_conversation(self, customer: Customer, inbox_id: int) -> Conversation | None:
        """Chat: the customer's open conversation in this inbox (made earlier in the batch, or
        stored)."""
        opened = self._opened.get((id(customer), inbox_id))
        if opened is not None or customer.id is None:
            return opened
        return self._open.get((customer.id, inbox_id))

    async def _announce(self, placed: list[Placed]) -> None:
        """Audit and events, in the batch's order, once every row has its id."""
        tx = self.tx
        audiences: dict[int, Audience] = {}
        for spot in placed:
            message, conv = spot.stored, spot.conversation
            inbox_id = conv.inbox_id
            if inbox_id not in audiences:
                audiences[inbox_id] = Audience(await inbox_audience(tx.session, inbox_id))
            audience = audiences[inbox_id]
            if spot.opens_conversation:
                tx.audit(None, "conversation.created", "conversation", conv.id)
                tx.emit(
                    ConversationCreated(
                        conversation_id=conv.id, inbox_id=inbox_id, customer_id=spot.customer_id
                    ),
                    audience,
                )
            if spot.reopened is not None:
                previous, version = spot.reopened
                tx.emit(
                    ConversationStatusChanged(
                        conversation_id=conv.id,
                        inbox_id=inbox_id,
                        status="open",
                        previous_status=previous.value,
                        by_agent_id=None,
                        version=version,
                    ),
                    audience,
                )
            tx.audit(None, "message.inbound", "conversation", conv.id, message_id=message.id)
            tx.emit(
                MessageCreated(
                    message_id=message.id,
                    conversation_id=conv.id,
                    inbox_id=inbox_id,
                    customer_id=spot.customer_id,
                    direction="inbound",
                    sender_agent_id=None,
                ),
                audience,
            )
            bounce = spot.inbound.email.bounce if spot.inbound.email else None
            if bounce is not None:
                # A delivery report: the email of ours it returns now shows as not delivered.
                await mark_email_bounced(tx, message, bounce)
