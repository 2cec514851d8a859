"""Setting an outbound message's delivery state, audited and told live.

Shared by every sending queue (outbound_mail.py, outbound_sends.py) and by
the providers' delivery receipts (delivery_status.py).
"""

from __future__ import annotations

from typing import Any

from inbox.access import inbox_audience
from inbox.events import Audience, MessageDeliveryChanged
from inbox.models import Delivery, Message

from .transaction import Transaction


async def set_delivery(
    tx: Transaction, message_id: int, delivery: Delivery, error: str | None, **audit: Any
) -> Message | None:
    """The message's new state and reason; None when the message is gone."""
    message = await tx.session.get(Message, message_id)
    if message is None:
        return None
    message.delivery = delivery
    message.delivery_error = error
    tx.audit(None, f"message.{delivery.value}", "message", message_id, **audit)
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
    return message


def fail_unsent(message: Message, reason: str) -> None:
    """Mark a reply that can't be queued as failed, in its own transaction.

    The reply itself is kept (the agent's words are never lost); its
    MessageCreated event already shows it, failed, with the reason.
    """
    message.delivery = Delivery.FAILED
    message.delivery_error = reason
