"""Agent-to-agent direct messages, optionally about a case."""

from __future__ import annotations

from inbox.access import (
    customer_audience,
    get_visible_conversation,
    get_visible_customer,
    inbox_audience,
)
from inbox.errors import BadRequest, NotFound
from inbox.events import Audience, DirectMessageCreated
from inbox.models import Agent, DirectMessage, NotificationKind
from inbox.runtime import Runtime

from .notifications import add_notification
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
    """Write to a colleague, who is notified. A case it points at must be one the sender can see.

    The recipient must be able to see it too: a message about a case carries
    its context. (Should they lose access later, pages and the API show the
    message without the link; see `inbox.queries_direct_messages`.)
    """
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
            if customer_id not in (None, conv.customer_id):
                raise BadRequest("that customer is not this conversation's customer")
            customer_id = conv.customer_id
            # Writing about a case hands over its context; only to someone allowed to see it.
            if recipient_id not in await inbox_audience(tx.session, conv.inbox_id):
                raise BadRequest(f"{recipient.name} can't see this conversation")
        elif customer_id is not None:
            await get_visible_customer(tx.session, actor, customer_id)
            if recipient_id not in await customer_audience(tx.session, customer_id):
                raise BadRequest(f"{recipient.name} can't see this customer")
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
        # The recipient's bell; it commits with the message or not at all.
        await add_notification(
            tx,
            agent_id=recipient_id,
            kind=NotificationKind.DIRECT_MESSAGE,
            actor=actor,
            conversation_id=conversation_id,
            customer_id=customer_id,
            direct_message_id=dm.id,
        )
    return dm
