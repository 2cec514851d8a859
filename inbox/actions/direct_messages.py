"""Agent-to-agent direct messages, optionally about a case."""

from __future__ import annotations

from inbox.access import get_visible_conversation, get_visible_customer
from inbox.errors import BadRequest, NotFound
from inbox.events import Audience, DirectMessageCreated
from inbox.models import Agent, DirectMessage
from inbox.runtime import Runtime

from .transaction import transaction

MAX_BODY = 10_000


async def do_send_direct_message(
    rt: Runtime,
    actor: Agent,
    recipient_id: int,
    body: str,
    *,
    conversation_id: int | None = None,
    customer_id: int | None = None,
) -> DirectMessage:
    """Write to a colleague. A case it points at must be one the sender can see."""
    body = body.strip()
    if not body:
        raise BadRequest("the message is empty")
    if len(body) > MAX_BODY:
        raise BadRequest(f"the message is longer than {MAX_BODY} characters")
    if recipient_id == actor.id:
        raise BadRequest("write to a colleague, not to yourself")
    async with transaction(rt) as tx:
        recipient = await tx.session.get(Agent, recipient_id)
        if recipient is None or not recipient.is_active:
            raise NotFound("no such colleague")
        if conversation_id is not None:
            conv = await get_visible_conversation(tx.session, actor, conversation_id)
            customer_id = customer_id or conv.customer_id
        if customer_id is not None:
            await get_visible_customer(tx.session, actor, customer_id)
        dm = DirectMessage(
            sender_id=actor.id,
            recipient_id=recipient_id,
            body=body,
            conversation_id=conversation_id,
            customer_id=customer_id,
        )
        tx.session.add(dm)
        await tx.session.flush()
        tx.audit(actor, "direct_message.sent", "agent", recipient_id, direct_message_id=dm.id)
        tx.emit(
            DirectMessageCreated(
                direct_message_id=dm.id,
                sender_id=actor.id,
                recipient_id=recipient_id,
                conversation_id=conversation_id,
                customer_id=customer_id,
            ),
            # Only the two colleagues: not the inbox, never the customer.
            Audience(frozenset({actor.id, recipient_id})),
        )
    return dm
