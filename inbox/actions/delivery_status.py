"""Applying providers' delivery receipts to our outbound messages.

A message's delivery only moves forward: queued < sent < delivered < read.
Failed is final, and only a message not yet delivered can fail (a provider
that said "delivered" or "read" is not contradicted by a late failure).
Receipts arrive out of order and are redelivered, so a receipt that would
move a message back, or that names a message we don't know (not ours, or
arriving before our record of sending it), changes nothing. Each change is
audited and told live (MessageDeliveryChanged).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from inbox.channels.receipts import Receipt, Watermark
from inbox.models import Delivery, Direction, Identity, Message
from inbox.runtime import Runtime

from .delivery import set_delivery
from .transaction import Transaction, transaction

_RANK = {Delivery.QUEUED: 0, Delivery.SENT: 1, Delivery.DELIVERED: 2, Delivery.READ: 3}
# A watermark covers only what had left: a message still queued has not.
_WATERMARKED = (Delivery.SENT, Delivery.DELIVERED)


def moves_forward(current: Delivery | None, new: Delivery) -> bool:
    if current is None or current is Delivery.FAILED:
        return False
    if new is Delivery.FAILED:
        return current in (Delivery.QUEUED, Delivery.SENT)
    return _RANK[new] > _RANK[current]


async def do_apply_receipts(
    rt: Runtime, inbox_id: int, receipts: Sequence[Receipt | Watermark]
) -> int:
    """Apply one webhook's receipts in one transaction; returns how many messages moved."""
    if not receipts:
        return 0
    moved = 0
    async with transaction(rt) as tx:
        for receipt in receipts:
            if isinstance(receipt, Receipt):
                moved += await _apply_one(tx, inbox_id, receipt)
            else:
                moved += await _apply_watermark(tx, inbox_id, receipt)
    return moved


async def _apply_one(tx: Transaction, inbox_id: int, receipt: Receipt) -> int:
    message = await tx.session.scalar(
        select(Message).where(
            Message.inbox_id == inbox_id,
            Message.external_id == receipt.external_id,
            Message.direction == Direction.OUTBOUND,
        )
    )
    if message is None or not moves_forward(message.delivery, receipt.delivery):
        return 0
    error = receipt.error if receipt.delivery is Delivery.FAILED else None
    await set_delivery(tx, message.id, receipt.delivery, error, receipt=receipt.delivery.value)
    return 1


async def _apply_watermark(tx: Transaction, inbox_id: int, mark: Watermark) -> int:
    customer_id = await tx.session.scalar(
        select(Identity.customer_id).where(Identity.kind == mark.kind, Identity.value == mark.value)
    )
    if customer_id is None:
        return 0
    messages = (
        await tx.session.scalars(
            select(Message)
            .where(
                Message.inbox_id == inbox_id,
                Message.customer_id == customer_id,
                Message.direction == Direction.OUTBOUND,
                Message.delivery.in_(_WATERMARKED),
                Message.created_at <= mark.up_to,
            )
            .order_by(Message.id)
        )
    ).all()
    moved = 0
    for message in messages:
        if moves_forward(message.delivery, mark.delivery):
            await set_delivery(tx, message.id, mark.delivery, None, receipt=mark.delivery.value)
            moved += 1
    return moved
