"""Correcting threading by hand: move a customer's message to another conversation, or split it off.

Threading rules guess; an agent who sees a message in the wrong conversation
fixes it here. A move stays within the message's inbox and customer (a
conversation is one customer on one channel), and an email's details then
say it was moved by an agent.
"""

from __future__ import annotations

from sqlalchemy import func, select, update

from inbox.access import get_visible_conversation, inbox_audience
from inbox.errors import BadRequest, NotFound
from inbox.events import Audience, ConversationCreated, MessageMoved
from inbox.models import (
    Agent,
    Conversation,
    Direction,
    EmailDetails,
    Message,
    Status,
    ThreadRule,
)
from inbox.runtime import Runtime
from inbox.sanitize import preview

from .transaction import transaction


async def do_move_message(
    rt: Runtime, actor: Agent, message_id: int, to_conversation_id: int | None
) -> Conversation:
    """Move the message to `to_conversation_id`, or (None) into a new conversation of its own."""
    async with transaction(rt) as tx:
        message = await tx.session.get(Message, message_id)
        if message is None:
            raise NotFound("message not found")
        source = await get_visible_conversation(tx.session, actor, message.conversation_id)
        if message.direction is not Direction.INBOUND:
            raise BadRequest("only a customer's message can be moved; replies and notes stay")
        audience = await inbox_audience(tx.session, source.inbox_id)
        if to_conversation_id is None:
            others = await tx.session.scalar(
                select(func.count())
                .select_from(Message)
                .where(Message.conversation_id == source.id, Message.id != message.id)
            )
            if not others:
                raise BadRequest("it is the conversation's only message: nothing to split from")
            target = Conversation(
                customer_id=message.customer_id,
                inbox_id=source.inbox_id,
                subject=preview(message.text, 500) or source.subject,
                status=Status.OPEN,
                last_activity_at=message.created_at,
                last_message_preview=preview(message.text),
                created_at=message.created_at,
            )
            tx.session.add(target)
            await tx.session.flush()
            tx.audit(actor, "conversation.created", "conversation", target.id, split_from=source.id)
            tx.emit(
                ConversationCreated(
                    conversation_id=target.id,
                    inbox_id=target.inbox_id,
                    customer_id=target.customer_id,
                ),
                Audience(audience),
            )
        else:
            if to_conversation_id == source.id:
                raise BadRequest("the message is in that conversation already")
            target = await get_visible_conversation(tx.session, actor, to_conversation_id)
            if target.inbox_id != source.inbox_id or target.customer_id != message.customer_id:
                raise BadRequest(
                    "a message moves only between conversations of the same customer and inbox"
                )
            if message.created_at > target.last_activity_at:
                target.last_activity_at = message.created_at
                target.last_message_preview = preview(message.text)
            target.version += 1
        message.conversation_id = target.id
        source.version += 1
        await tx.session.execute(
            update(EmailDetails)
            .where(EmailDetails.message_id == message.id)
            .values(threaded_by=ThreadRule.MOVED.value)
        )
        tx.audit(actor, "message.moved", "message", message.id, source=source.id, target=target.id)
        tx.emit(
            MessageMoved(
                message_id=message.id,
                from_conversation_id=source.id,
                to_conversation_id=target.id,
                inbox_id=source.inbox_id,
                customer_id=message.customer_id,
            ),
            Audience(audience),
        )
    return target
