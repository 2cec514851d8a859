"""The durable sending queue for email: one row per outbound email until it is sent.

A reply is queued in the same transaction that stores it, so it is never
lost; the worker sends what is due (inbox/channels/email/sender.py) and
reports back here. A transient failure is retried with growing delays; a
permanent one, or too many attempts, marks the message failed with the
reason, which the agent sees on it. Either outcome is told live.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.access import inbox_audience
from inbox.events import Audience, MessageDeliveryChanged
from inbox.models import Delivery, Message, OutboundEmail, utcnow
from inbox.runtime import Runtime

from .transaction import Transaction, transaction

# 30 s, 1 min, 2 min, ... capped at an hour: about a day of trying in all.
MAX_ATTEMPTS = 12
_FIRST_RETRY = timedelta(seconds=30)
_LONGEST_RETRY = timedelta(hours=1)


def retry_delay(attempts: int) -> timedelta:
    doublings = min(max(attempts - 1, 0), 16)
    return min(_FIRST_RETRY * (1 << doublings), _LONGEST_RETRY)


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
        if queued is None or queued.sent_at is not None:
            return  # sent already (a retry raced a slow success): nothing changes
        queued.sent_at = utcnow()
        queued.attempts += 1
        queued.last_error = None
        await _set_delivery(tx, message_id, Delivery.SENT, None)


async def do_mark_email_failed(
    rt: Runtime, message_id: int, reason: str, *, permanent: bool
) -> bool:
    """Count a failed attempt; True when the queue gave up and the message is failed."""
    async with transaction(rt) as tx:
        queued = await tx.session.get(OutboundEmail, message_id)
        if queued is None or queued.sent_at is not None or queued.gave_up_at is not None:
            return False
        queued.attempts += 1
        queued.last_error = reason
        gave_up = permanent or queued.attempts >= MAX_ATTEMPTS
        if gave_up:
            # Out of the queue: an agent decides what to do (resend, other channel).
            queued.gave_up_at = utcnow()
            await _set_delivery(tx, message_id, Delivery.FAILED, reason)
        else:
            queued.next_attempt_at = utcnow() + retry_delay(queued.attempts)
    return gave_up


async def _set_delivery(
    tx: Transaction, message_id: int, delivery: Delivery, error: str | None
) -> None:
    message = await tx.session.get(Message, message_id)
    if message is None:
        return
    message.delivery = delivery
    message.delivery_error = error
    tx.audit(None, f"message.{delivery.value}", "message", message_id)
    tx.emit(
        MessageDeliveryChanged(
            message_id=message.id,
            conversation_id=message.conversation_id,
            inbox_id=message.inbox_id,
            customer_id=message.customer_id,
            delivery=delivery.value,
        ),
        Audience(await inbox_audience(tx.session, message.inbox_id)),
    )
