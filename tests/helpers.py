"""Small builders shared by tests: inbound messages and event capture."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from inbox.channels.base import InboundMessage
from inbox.events import Published
from inbox.profiles.identities import ref
from inbox.runtime import Runtime

_ids = itertools.count(1)


def inbound(
    inbox_id: int,
    *,
    email: str | None = None,
    phone: str | None = None,
    chat_id: str | None = None,
    text: str = "Hello, my order has not arrived.",
    name: str = "Maria Lopez",
    external_id: str | None = None,
    html: str | None = None,
    at: datetime | None = None,
) -> InboundMessage:
    identities = []
    if chat_id:
        identities.append(ref("live_chat", chat_id))
    if email:
        identities.append(ref("email", email))
    if phone:
        identities.append(ref("phone", phone))
    return InboundMessage(
        inbox_id=inbox_id,
        external_id=external_id or f"ext-{next(_ids)}",
        identities=tuple(identities),
        text=text,
        sender_name=name,
        html=html,
        received_at=at,
    )


@contextmanager
def captured_events(rt: Runtime) -> Iterator[list[Published]]:
    """Every event the hub publishes while the block runs, in order."""
    seen: list[Published] = []
    with rt.hub.subscribe() as sub:
        yield seen
        while not sub.queue.empty():
            published = sub.queue.get_nowait()
            if published is not None:  # None marks an overflow, not an event
                seen.append(published)
