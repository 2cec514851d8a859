"""Recording how satisfied the customer was with a conversation (1 to 5)."""

from __future__ import annotations

from inbox.access import get_visible_conversation, inbox_audience
from inbox.errors import BadRequest
from inbox.events import Audience, ConversationRated
from inbox.models import Agent, Conversation
from inbox.runtime import Runtime

from .transaction import transaction

SCORES = range(1, 6)


async def do_rate_conversation(
    rt: Runtime, actor: Agent, conversation_id: int, score: int
) -> Conversation:
    """Set the conversation's satisfaction score; a later rating replaces an earlier one."""
    if isinstance(score, bool) or score not in SCORES:
        raise BadRequest("satisfaction is a whole number from 1 to 5")
    async with transaction(rt) as tx:
        conv = await get_visible_conversation(tx.session, actor, conversation_id, for_update=True)
        previous = conv.satisfaction
        conv.satisfaction = score
        await tx.session.flush()
        tx.audit(
            actor, "conversation.rated", "conversation", conv.id, score=score, previous=previous
        )
        tx.emit(
            ConversationRated(
                conversation_id=conv.id,
                inbox_id=conv.inbox_id,
                customer_id=conv.customer_id,
                satisfaction=score,
            ),
            Audience(await inbox_audience(tx.session, conv.inbox_id)),
        )
    return conv
