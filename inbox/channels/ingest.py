"""The one entry point for every connector's inbound messages."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError

from inbox.actions.inbound import Received, do_receive_message, do_receive_messages
from inbox.channels.base import InboundMessage
from inbox.errors import InboxError
from inbox.runtime import Runtime


async def ingest(rt: Runtime, inbound: InboundMessage) -> Received:
    """Store one normalised message, idempotently; safe to call again on redelivery."""
    return await do_receive_message(rt, inbound)


async def ingest_batch(
    rt: Runtime, inbounds: Sequence[InboundMessage]
) -> list[Received | InboxError]:
    """Store a connector's fetched batch, in order: one result per message, the
    reason in place of a message that was refused.

    One transaction for the lot; if it can't be taken whole (one message is
    refused, or another process stored one first), each is taken on its own,
    so one bad message never holds back the others.
    """
    try:
        return list(await do_receive_messages(rt, inbounds))
    except (InboxError, IntegrityError):
        if len(inbounds) <= 1:
            raise
    results: list[Received | InboxError] = []
    for inbound in inbounds:
        try:
            results.append(await ingest(rt, inbound))
        except InboxError as exc:
            results.append(exc)
    return results
