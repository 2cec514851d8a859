"""Which conversation an inbound email belongs to.

Rules, in order (the one that matched is kept on the message and shown to
the agent):
1. our own reply token, verified by the connector, naming a conversation of
   this inbox: the customer answered something we sent;
2. `In-Reply-To` naming a message of this inbox (received or sent: both keep
   their Message-ID as `external_id`);
3. `References`, newest first: some clients rewrite or drop `In-Reply-To`
   but keep the chain;
4. otherwise a new conversation. Unlike chat, a new email thread from a
   customer with an open conversation starts its own: it is a new subject.
"""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.channels.base import InboundEmail
from inbox.models import Conversation, Message, ThreadRule

_BY_MESSAGE_IDS = (
    select(Message.external_id, Message.conversation_id)
    .where(
        Message.inbox_id == bindparam("inbox_id"),
        Message.external_id.in_(bindparam("ids", expanding=True)),
    )
    .limit(200)
)


async def find_thread(
    session: AsyncSession, inbox_id: int, email: InboundEmail
) -> tuple[Conversation | None, ThreadRule]:
    if email.token_conversation_id is not None:
        conv = await session.get(Conversation, email.token_conversation_id)
        if conv is not None and conv.inbox_id == inbox_id:
            return conv, ThreadRule.REPLY_TOKEN
    wanted = [*email.in_reply_to, *reversed(email.references)]
    if not wanted:
        return None, ThreadRule.NEW
    rows = await session.execute(_BY_MESSAGE_IDS, {"inbox_id": inbox_id, "ids": wanted})
    found = {external_id: conv_id for external_id, conv_id in rows}
    for rule, ids in (
        (ThreadRule.IN_REPLY_TO, email.in_reply_to),
        (ThreadRule.REFERENCES, tuple(reversed(email.references))),
    ):
        for message_id in ids:
            if message_id in found:
                return await session.get(Conversation, found[message_id]), rule
    return None, ThreadRule.NEW
