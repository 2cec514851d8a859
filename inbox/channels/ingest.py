"""The one entry point for every connector's inbound messages."""

from __future__ import annotations

from inbox.actions.inbound import Received, do_receive_message
from inbox.channels.base import InboundMessage
from inbox.runtime import Runtime


async def ingest(rt: Runtime, inbound: InboundMessage) -> Received:
    """Store one normalised message, idempotently; safe to call again on redelivery."""
    return await do_receive_message(rt, inbound)
