"""One browser socket's presence: what its page shows, and what the agent does there.

The page tells the socket when it is hidden or shown and when the agent
types in the composer, as small JSON messages:

    {"presence": "visible"} | {"presence": "hidden"}
    {"presence": "typing"}   (repeated every few seconds while a draft is open)
    {"presence": "idle"}     (the draft was sent or emptied)

Anything else is ignored, as are messages beyond a small rate: presence is a
hint, and a noisy page must not flood every other process with it. Typing
lapses on its own TYPING_TTL after the last "typing", so a page that
vanishes mid-draft never leaves a colleague's marker behind.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from inbox.access import customer_audience, inbox_audience
from inbox.models import Agent, Conversation, Inbox
from inbox.realtime.hub import Hub
from inbox.realtime.page_context import ConversationContext, CustomerContext, PageContext
from inbox.realtime.presence import (
    TYPING_TTL,
    VIEWING_TTL,
    Activity,
    Availability,
    PresenceReport,
)
from inbox.views.display import channel_label

# The page sends a message on a state change and one per few seconds while
# typing; this allows bursts of that, and drops the rest.
_BURST = 10
_PER_SECOND = 2.0
_MAX_MESSAGE = 200


class RateLimit:
    """A token bucket: bursts of `burst`, refilled at `per_second`; the rest is dropped."""

    def __init__(self, burst: int, per_second: float) -> None:
        self._burst = float(burst)
        self._per_second = per_second
        self._tokens = float(burst)
        self._refilled = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._refilled) * self._per_second)
        self._refilled = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


@dataclass(frozen=True)
class Whereabouts:
    """The customer a page shows, and who may know an agent is on it."""

    customer_id: int
    conversation_id: int | None
    inbox_id: int | None
    channel_label: str | None
    audience: frozenset[int]


async def whereabouts(db: AsyncSession, agent: Agent, page: PageContext) -> Whereabouts | None:
    """None for pages that show no one customer (lists, the board)."""
    if isinstance(page, ConversationContext):
        conv = await db.get(Conversation, page.conversation_id)
        inbox = await db.get(Inbox, conv.inbox_id) if conv is not None else None
        if conv is None or inbox is None:
            return None
        # Only agents who can see the conversation's inbox learn someone is
        # on it (and never the agent themself).
        audience = await inbox_audience(db, inbox.id)
        return Whereabouts(
            conv.customer_id,
            conv.id,
            inbox.id,
            channel_label(inbox.channel.value),
            audience - {agent.id},
        )
    if isinstance(page, CustomerContext):
        audience = await customer_audience(db, page.customer_id)
        return Whereabouts(page.customer_id, None, None, None, audience - {agent.id})
    return None


class SocketPresence:
    def __init__(self, hub: Hub, agent: Agent, where: Whereabouts | None) -> None:
        self._hub = hub
        self._agent_id = agent.id
        self._agent_name = agent.name
        self._where = where
        self._socket = uuid.uuid4().hex
        self._availability = Availability.ONLINE
        self._typing = False
        self._lapse: asyncio.TimerHandle | None = None
        self._limit = RateLimit(_BURST, _PER_SECOND)

    def start(self) -> None:
        self._report()

    def stop(self) -> None:
        self._cancel_lapse()
        self._hub.report_presence(
            PresenceReport(
                socket=self._socket,
                agent_id=self._agent_id,
                agent_name=self._agent_name,
                availability=None,
            )
        )

    def moved(self, where: Whereabouts | None) -> None:
        """The audience may have changed (inbox access did): report anew."""
        self._where = where
        self._report()

    def handle(self, text: str) -> None:
        """A message from the page (see the module docstring)."""
        if len(text) > _MAX_MESSAGE or not self._take_token():
            return
        try:
            message = json.loads(text)
        except ValueError:
            return
        what = message.get("presence") if isinstance(message, dict) else None
        if what == "visible":
            self._availability = Availability.ONLINE
        elif what == "hidden":
            # A hidden page is open, not looked at: no longer "viewing".
            self._availability = Availability.AWAY
            self._typing = False
            self._cancel_lapse()
        elif what == "typing" and self._where is not None:
            self._typing = True
            self._cancel_lapse()
            loop = asyncio.get_running_loop()
            self._lapse = loop.call_later(TYPING_TTL, self._typing_lapsed)
        elif what == "idle":
            self._typing = False
            self._cancel_lapse()
        else:
            return
        self._report()

    def _typing_lapsed(self) -> None:
        self._lapse = None
        self._typing = False
        self._report()

    def _cancel_lapse(self) -> None:
        if self._lapse is not None:
            self._lapse.cancel()
            self._lapse = None

    def _take_token(self) -> bool:
        return self._limit.take()

    def _report(self) -> None:
        where = self._where
        activity = None
        if where is not None and self._availability == Availability.ONLINE:
            activity = Activity.TYPING if self._typing else Activity.VIEWING
        self._hub.report_presence(
            PresenceReport(
                socket=self._socket,
                agent_id=self._agent_id,
                agent_name=self._agent_name,
                availability=self._availability,
                customer_id=where.customer_id if where else None,
                conversation_id=where.conversation_id if where else None,
                inbox_id=where.inbox_id if where else None,
                channel_label=where.channel_label if where else None,
                activity=activity,
                audience=where.audience if where else frozenset(),
                ttl=TYPING_TTL if self._typing else VIEWING_TTL,
            )
        )
