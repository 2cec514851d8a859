"""The durable sending queue for email: one row per outbound email until it is sent.

A reply is queued in the same transaction that stores it, so it is never
lost; the worker sends what is due (inbox/channels/email/sender.py) and
reports back here. A transient failure is retried with growing delays; a
permanent one, or too many attempts, marks the message failed with the
reason, which the agent sees on it. Either outcome is told live. So is a
delivery report (bounce) that later returns an email as undeliverable:
`mark_email_bounced` marks it failed from the ingest transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime
from email import policy as email_policy
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.channels.chat.settings import chat_inboxes_following_up_by
from inbox.channels.email.compose import compose_reply
from inbox.channels.email.parse import Bounce
from inbox.channels.email.settings import EmailConfig, email_config
from inbox.channels.email.tokens import message_id_for
from inbox.models import (
    Attachment,
    ChannelKind,
    Conversation,
    Delivery,
    Direction,
    EmailDetails,
    Identity,
    IdentityKind,
    Inbox,
    Message,
    OutboundEmail,
    utcnow,
)
from inbox.runtime import Runtime

from .backoff import count_failure, count_success, still_queued
from .delivery import set_delivery
from .transaction import Transaction, transaction


async def due_emails(
    session: AsyncSession, now: datetime, *, inbox_id: int | None = None, limit: int = 20
) -> list[OutboundEmail]:
    """Emails due for a (first or next) attempt, oldest first; one inbox's when given."""
    stmt = select(OutboundEmail).where(
        OutboundEmail.sent_at.is_(None),
        OutboundEmail.gave_up_at.is_(None),
        OutboundEmail.next_attempt_at <= now,
    )
    if inbox_id is not None:
        stmt = stmt.where(OutboundEmail.inbox_id == inbox_id)
    rows = await session.scalars(stmt.order_by(OutboundEmail.next_attempt_at).limit(limit))
    return list(rows.all())


async def do_mark_email_sent(rt: Runtime, message_id: int) -> None:
    async with transaction(rt) as tx:
        queued = await tx.session.get(OutboundEmail, message_id)
        if queued is None or not still_queued(queued):
            # Sent already (a retry raced a slow success), or a bounce for this
            # very send came in first: nothing changes.
            return
        count_success(queued)
        await set_delivery(tx, message_id, Delivery.SENT, None)


async def do_mark_email_failed(
    rt: Runtime, message_id: int, reason: str, *, permanent: bool
) -> bool:
    """Count a failed attempt; True when the queue gave up and the message is failed."""
    async with transaction(rt) as tx:
        queued = await tx.session.get(OutboundEmail, message_id)
        if queued is None or not still_queued(queued):
            return False
        gave_up = count_failure(queued, reason, permanent=permanent)
        if gave_up:
            await set_delivery(tx, message_id, Delivery.FAILED, reason)
    return gave_up


# The report's words are the sender's server's, of any length: keep what helps.
_MAX_BOUNCE_REASON = 300


async def mark_email_bounced(tx: Transaction, report: Message, bounce: Bounce) -> bool:
    """Mark the email a delivery report returns as failed, in the report's own transaction.

    Only an email this inbox queued under exactly the reported Message-ID is
    marked, so a report arriving in one inbox never touches another's mail,
    and an id we never sent marks nothing. That email is a reply in one of
    this inbox's conversations, or in a live chat's whose email follow-up
    this inbox sends. A delay is no failure; a message already failed keeps
    its first reason. True when a message was marked.
    """
    if not bounce.failed:
        return False
    homes = {report.inbox_id, *await chat_inboxes_following_up_by(tx.session, report.inbox_id)}
    found = (
        await tx.session.execute(
            select(Message, OutboundEmail)
            .join(OutboundEmail, OutboundEmail.message_id == Message.id)
            .where(
                Message.inbox_id.in_(sorted(homes)),
                Message.external_id == bounce.original_message_id,
                OutboundEmail.inbox_id == report.inbox_id,
            )
        )
    ).first()
    if found is None:
        return False
    message, queued = found
    if message.delivery is Delivery.FAILED:
        return False
    reason = _bounce_reason(bounce.reason)
    if queued.sent_at is None and queued.gave_up_at is None:
        # A copy got out though its success was never recorded (the worker
        # died after the server took it): sending again would only bounce again.
        queued.gave_up_at = utcnow()
        queued.last_error = reason
    await set_delivery(tx, message.id, Delivery.FAILED, reason, bounce_message_id=report.id)
    return True


def _bounce_reason(report_reason: str) -> str:
    # Already cleaned by the parser; this is where outside text is stored, so
    # control and format characters (bidi overrides too) are dropped again.
    text = " ".join("".join(c if c.isprintable() else " " for c in report_reason).split())
    if len(text) > _MAX_BOUNCE_REASON:
        cut = text[: _MAX_BOUNCE_REASON - 1]
        text = (cut.rsplit(" ", 1)[0] if " " in cut[_MAX_BOUNCE_REASON // 2 :] else cut) + "\u2026"
    return f"the email came back undelivered: {text or 'no reason given'}"


_NOT_SET_UP = "this email inbox has no server settings yet; an admin sets them up under Inboxes"


async def queue_email_reply(
    tx: Transaction,
    rt: Runtime,
    conv: Conversation,
    message: Message,
    attachments: Sequence[Attachment] = (),
    *,
    answering: int | None = None,
    automatic: bool = False,
) -> None:
    """Compose an agent's reply as an email and queue it, in the reply's transaction.

    It answers the newest email in the conversation (its Reply-To, else its
    From), carrying its Message-ID in In-Reply-To and References, and our own
    Message-ID with the conversation's reply token, which is also kept as the
    reply's `external_id` so the customer's answer threads back here. A reply
    that can't be composed is kept and marked failed with the reason; so is
    one whose attachment is missing from the blob store: it never goes out
    without it.

    `answering` names the inbound email to answer instead of the newest, and
    `automatic` marks the email as no person's (inbox/actions/auto_reply.py).
    """
    inbox = await tx.session.get(Inbox, conv.inbox_id)
    if inbox is None or inbox.channel is not ChannelKind.EMAIL:
        return
    config = email_config(inbox.config)
    if config is None:
        _fail_now(message, _NOT_SET_UP)
        return
    to, in_reply_to, references = _answer_to(
        await _newest_email(tx.session, conv.id, only=answering)
    )
    if to is None:
        to = await _customer_address(tx.session, conv.customer_id)
    if to is None:
        _fail_now(message, "the customer has no email address to reply to")
        return
    files: list[tuple[str, str, bytes]] = []
    for attachment in attachments:
        data = await asyncio.to_thread(rt.blobs.read, attachment.sha256)
        if data is None:
            _fail_now(message, f"the attachment {attachment.filename} is missing from storage")
            return
        files.append((attachment.filename, attachment.content_type, data))
    await queue_email(
        tx,
        rt,
        inbox,
        config,
        conv,
        message,
        to=to,
        in_reply_to=in_reply_to,
        references=references,
        files=files,
        automatic=automatic,
    )


async def queue_email(
    tx: Transaction,
    rt: Runtime,
    inbox: Inbox,
    config: EmailConfig,
    conv: Conversation,
    message: Message,
    *,
    to: str,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    files: Sequence[tuple[str, str, bytes]] = (),
    automatic: bool = False,
) -> None:
    """Compose `message` as an email from `inbox` to `to` and queue it, with the
    conversation's reply token in its Message-ID (kept as the message's
    `external_id`), so an answer threads back to `conv`."""
    domain = config.address.rsplit("@", 1)[1]
    message_id = message_id_for(conv.id, domain, rt.settings.secret_key)
    try:
        composed = compose_reply(
            from_address=config.address,
            from_name=config.display_name or inbox.name,
            to=to,
            subject=conv.subject or "Your message",
            text=message.text,
            html=None,
            message_id=message_id,
            in_reply_to=in_reply_to,
            references=references,
            attachments=files,
            automatic=automatic,
        )
    except ValueError as exc:
        _fail_now(message, f"could not be composed: {exc}")
        return
    # Off the event loop: with attachments this is tens of megabytes of base64.
    raw = await asyncio.to_thread(composed.as_bytes, policy=email_policy.SMTP)
    sha256 = await asyncio.to_thread(rt.blobs.put, raw)
    message.external_id = message_id
    tx.session.add(
        OutboundEmail(
            message_id=message.id,
            inbox_id=inbox.id,
            raw_sha256=sha256,
            recipients={"from": config.address, "to": [to]},
        )
    )
    tx.session.add(
        EmailDetails(
            message_id=message.id,
            raw_sha256=sha256,
            raw_size=len(raw),
            from_address=config.address,
            headers={
                "to": [to],
                "in_reply_to": [in_reply_to] if in_reply_to else [],
                "references": list(references),
            },
        )
    )


def _fail_now(message: Message, reason: str) -> None:
    # The reply itself is kept (the agent's words are never lost); its
    # MessageCreated event already shows it, failed, with the reason.
    message.delivery = Delivery.FAILED
    message.delivery_error = reason


async def _newest_email(
    session: AsyncSession, conversation_id: int, *, only: int | None = None
) -> tuple[EmailDetails, str | None] | None:
    """The conversation's newest inbound email (or message `only` if it is one),
    with its Message-ID (None if it had none)."""
    stmt = (
        select(EmailDetails, Message.external_id)
        .join(Message, Message.id == EmailDetails.message_id)
        .where(
            Message.conversation_id == conversation_id,
            Message.direction == Direction.INBOUND,
        )
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(1)
    )
    if only is not None:
        stmt = stmt.where(Message.id == only)
    row = (await session.execute(stmt)).first()
    if row is None:
        return None
    details, external_id = row
    # Without a Message-ID it was stored under the hash of its bytes.
    message_id = external_id if external_id and external_id.startswith("<") else None
    return details, message_id


def _answer_to(
    answering: tuple[EmailDetails, str | None] | None,
) -> tuple[str | None, str | None, list[str]]:
    """(to, In-Reply-To, References) for answering an inbound email."""
    if answering is None:
        return None, None, []
    email, message_id = answering
    references = [r for r in email.headers.get("references", []) if isinstance(r, str)]
    return reply_address(email.headers, email.from_address), message_id, references


def reply_address(headers: Mapping[str, Any], from_address: str | None) -> str | None:
    """Where an answer to an inbound email goes: its Reply-To, else its From."""
    reply_to = [a for a in headers.get("reply_to", []) if isinstance(a, str)]
    return reply_to[0] if reply_to else from_address


async def _customer_address(session: AsyncSession, customer_id: int) -> str | None:
    return await session.scalar(
        select(Identity.value)
        .where(Identity.customer_id == customer_id, Identity.kind == IdentityKind.EMAIL)
        .order_by(Identity.id)
        .limit(1)
    )
