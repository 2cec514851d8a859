"""Which conversation an inbound email belongs to.

Rules, in order (the one that matched is kept on the message and shown to
the agent):
1. our own reply token, verified by the connector, naming a conversation of
   this inbox (or of a live chat inbox whose email follow-up this inbox
   sends): the customer answered something we sent;
2. `In-Reply-To` naming a message of this inbox (received or sent: both keep
   their Message-ID as `external_id`);
3. `References`, newest first: some clients rewrite or drop `In-Reply-To`
   but keep the chain;
4. otherwise a new conversation. Unlike chat, a new email thread from a
   customer with an open conversation starts its own: it is a new subject.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.channels.base import InboundEmail
from inbox.channels.chat.settings import chat_inboxes_following_up_by
from inbox.models import Conversation, Message, ThreadRule

_BY_MESSAGE_IDS = select(Message.external_id, Message.conversation_id).where(
    Message.inbox_id == bindparam("inbox_id"),
    Message.external_id.in_(bindparam("ids", expanding=True)),
)
_CONVERSATIONS = select(Conversation).where(Conversation.id.in_(bindparam("ids", expanding=True)))


class Threads:
    """The threads a batch of one inbox's emails can join: read in two queries up front,
    then grown with each message of the batch as it is stored, so a reply to a
    message earlier in the same batch finds it."""

    def __init__(self, inbox_id: int) -> None:
        self.inbox_id = inbox_id
        self._by_message_id: dict[str, Conversation] = {}
        self._tokens: dict[int, Conversation] = {}

    @classmethod
    async def load(
        cls, session: AsyncSession, inbox_id: int, emails: Sequence[InboundEmail]
    ) -> Threads:
        threads = cls(inbox_id)
        wanted = list(dict.fromkeys(i for e in emails for i in (*e.in_reply_to, *e.references)))
        found: dict[str, int] = {}
        if wanted:
            rows = await session.execute(_BY_MESSAGE_IDS, {"inbox_id": inbox_id, "ids": wanted})
            found = {external_id: conv_id for external_id, conv_id in rows if external_id}
        tokens = {e.token_conversation_id for e in emails if e.token_conversation_id is not None}
        conv_ids = sorted({*found.values(), *tokens})
        if conv_ids:
            convs = {c.id: c for c in await session.scalars(_CONVERSATIONS, {"ids": conv_ids})}
            threads._by_message_id = {m: convs[c] for m, c in found.items() if c in convs}
            # A live chat's email follow-up goes out from this inbox for the
            # chat's conversation: answers to it thread back into the chat.
            homes = {inbox_id}
            if any(c.inbox_id != inbox_id for i, c in convs.items() if i in tokens):
                homes |= await chat_inboxes_following_up_by(session, inbox_id)
            threads._tokens = {
                i: c for i, c in convs.items() if i in tokens and c.inbox_id in homes
            }
        return threads

    def find(self, email: InboundEmail) -> tuple[Conversation | None, ThreadRule]:
        if email.token_conversation_id is not None:
            conv = self._tokens.get(email.token_conversation_id)
            if conv is not None:
                return conv, ThreadRule.REPLY_TOKEN
        for rule, ids in (
            (ThreadRule.IN_REPLY_TO, email.in_reply_to),
            (ThreadRule.REFERENCES, tuple(reversed(email.references))),
        ):
            for message_id in ids:
                if (conv := self._by_message_id.get(message_id)) is not None:
                    return conv, rule
        return None, ThreadRule.NEW

    def add(self, message_id: str, conv: Conversation) -> None:
        """A message of this batch, stored: later ones may answer it."""
        self._by_message_id.setdefault(message_id, conv)
