"""The rows a batch of inbound messages adds, once each message's place is decided.

inbox.actions.inbound decides where each message goes (`Placed`); this module
writes the lot in a few statements, one per table and stage, as plain table
rows: the ORM's bulk path and unit of work cost more per row than the INSERT.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.channels.base import InboundEmail, InboundMessage
from inbox.models import (
    Attachment,
    Conversation,
    Customer,
    Direction,
    EmailDetails,
    Identity,
    Message,
    Status,
    ThreadRule,
)
from inbox.profiles.identities import SenderResolver
from inbox.sanitize import safe_html

from .media import media_rows
from .transaction import insert_in_order

_CUSTOMERS = cast(Table, Customer.__table__)
_IDENTITIES = cast(Table, Identity.__table__)
_CONVERSATIONS = cast(Table, Conversation.__table__)
_ATTACHMENTS = cast(Table, Attachment.__table__)
_EMAIL_DETAILS = cast(Table, EmailDetails.__table__)
_NEW_CONVERSATION_COLUMNS = (
    "customer_id",
    "inbox_id",
    "subject",
    "status",
    "last_activity_at",
    "last_message_preview",
    "version",
    "created_at",
)
_MOVED_COLUMNS = ("last_activity_at", "last_message_preview", "version", "status")
_MOVE_CONVERSATION = (
    update(_CONVERSATIONS)
    .where(_CONVERSATIONS.c.id == bindparam("b_id"))
    .values({c: bindparam(f"b_{c}") for c in _MOVED_COLUMNS})
)


def _id(row: Message) -> int:
    return row.id


def without_nul(value: str) -> str:
    # PostgreSQL refuses NUL in text, whatever a sender put there.
    return value.replace("\x00", "")


def _email_details(message_id: int, email: InboundEmail, rule: ThreadRule) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "raw_sha256": email.raw_sha256,
        "raw_size": email.raw_size,
        "quoted_text": without_nul(email.quoted_text),
        "threaded_by": rule.value,
        "from_address": email.from_address,
        "headers": {
            "in_reply_to": list(email.in_reply_to),
            "references": list(email.references),
            **email.headers,
        },
        "auto_kind": email.auto_kind,
    }


@dataclass
class Placed:
    """Where one new message of a batch goes, decided before any row is written."""

    inbound: InboundMessage
    conversation: Conversation
    customer: Customer | None  # None: the thread's customer (conversation.customer_id)
    rule: ThreadRule | None  # email only
    opens_conversation: bool
    # The message's text without NULs, and when it counts as written: decided
    # once, so the conversation's last activity is exactly the message's time.
    text: str
    created_at: datetime
    # (previous status, version) when the message reopens its conversation.
    reopened: tuple[Status, int] | None = None
    message: Message | None = None

    @property
    def stored(self) -> Message:
        assert self.message is not None, "written by write_rows"
        return self.message

    @property
    def customer_id(self) -> int:
        return self.customer.id if self.customer is not None else self.conversation.customer_id


async def write_rows(
    session: AsyncSession,
    placed: list[Placed],
    senders: SenderResolver,
    owners: Mapping[int, Customer],
    moved: Iterable[Conversation],
) -> None:
    """The batch's new rows, in stages, each needing the ids of the one before.

    `owners` gives each new conversation's customer (by the conversation's
    id()); `moved` are the stored conversations the batch moved on.
    """
    # New customers and identities in one INSERT each, as the messages below.
    pending = senders.pending_customers
    ids = await insert_in_order(
        session, _CUSTOMERS, _CUSTOMERS.c.id, [{"name": c.name} for c in pending], key=int
    )
    for new, new_id in zip(pending, ids, strict=True):
        new.id = new_id  # the batch refers to its customers by these objects
    if senders.pending_identities:
        await session.execute(
            insert(_IDENTITIES),
            [
                {"customer_id": c.id, "kind": r.kind, "value": r.value, "verified": r.verified}
                for c, r in senders.pending_identities
            ],
        )
    await _write_conversations(session, placed, owners, list(moved))
    # One INSERT for the lot: flushed, the ORM would send one per message.
    messages = await insert_in_order(
        session,
        Message,
        Message,
        [
            {
                "conversation_id": spot.conversation.id,
                "customer_id": spot.customer_id,
                "inbox_id": spot.inbound.inbox_id,
                "direction": Direction.INBOUND,
                "text": spot.text,
                "html": safe_html(spot.inbound.html) if spot.inbound.html else None,
                "external_id": spot.inbound.external_id,
                "created_at": spot.created_at,
                "received_at": spot.inbound.received_at,
            }
            for spot in placed
        ],
        key=_id,
    )
    for spot, message in zip(placed, messages, strict=True):
        spot.message = message
    attachments = [
        {
            "message_id": spot.stored.id,
            "filename": without_nul(a.filename)[:255],
            "content_type": without_nul(a.content_type)[:255],
            "size": a.size,
            "sha256": a.sha256,
        }
        for spot in placed
        for a in spot.inbound.attachments
    ]
    if attachments:
        await session.execute(insert(_ATTACHMENTS), attachments)
    details = [
        _email_details(spot.stored.id, spot.inbound.email, spot.rule)
        for spot in placed
        if spot.inbound.email is not None and spot.rule is not None
    ]
    if details:
        await session.execute(insert(_EMAIL_DETAILS), details)
    for spot in placed:
        # Files the provider holds: fetched by the worker once this commits.
        session.add_all(media_rows(spot.stored, spot.inbound.media))


async def _write_conversations(
    session: AsyncSession,
    placed: list[Placed],
    owners: Mapping[int, Customer],
    moved: list[Conversation],
) -> None:
    """The batch's new conversations in one INSERT, the stored ones it moved in one UPDATE."""
    opened = list(
        {id(s.conversation): s.conversation for s in placed if s.opens_conversation}.values()
    )
    for conv in opened:
        conv.customer_id = owners[id(conv)].id
    ids = await insert_in_order(
        session,
        _CONVERSATIONS,
        _CONVERSATIONS.c.id,
        [{c: getattr(conv, c) for c in _NEW_CONVERSATION_COLUMNS} for conv in opened],
        key=int,
    )
    for conv, new_id in zip(opened, ids, strict=True):
        conv.id = new_id
    if moved:
        await session.execute(
            _MOVE_CONVERSATION,
            [{f"b_{c}": getattr(conv, c) for c in ("id", *_MOVED_COLUMNS)} for conv in moved],
        )
