"""Live chat presence: whether anyone is there to answer, and the visitor's typing.

Both come from the agents' own presence machinery (inbox.realtime.presence):
an agent who may see the chat inbox and has a page of the app open and in
front of them (online, not away) is someone to answer. The visitor's typing
is reported like an agent's, as a `visitor` report on their conversation,
so agents on it see "… is typing in the chat" where they see colleagues.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

from inbox.access import inbox_audience
from inbox.realtime.hub import Hub
from inbox.realtime.presence import TYPING_TTL, Activity, Availability, PresenceReport
from inbox.realtime.socket_presence import RateLimit
from inbox.runtime import Runtime
from inbox.views.display import channel_label

# The widget says "typing" every few seconds while the visitor has a draft.
_BURST = 10
_PER_SECOND = 2.0


def anyone_online(hub: Hub, audience: frozenset[int]) -> bool:
    return any(a is Availability.ONLINE for a in hub.presence.availability(audience).values())


async def agents_online(rt: Runtime, inbox_id: int) -> bool:
    async with rt.read_sessions() as db:
        audience = await inbox_audience(db, inbox_id)
    return anyone_online(rt.hub, audience)


@dataclass
class Where:
    customer_id: int
    conversation_id: int
    name: str


class VisitorTyping:
    """One visitor socket's typing, as agents on the conversation see it."""

    def __init__(self, hub: Hub, inbox_id: int, audience: frozenset[int]) -> None:
        self._hub = hub
        self._inbox_id = inbox_id
        self.audience = audience
        self._socket = f"visitor-{uuid.uuid4().hex}"
        self._lapse: asyncio.TimerHandle | None = None
        self._shown = False
        self._limit = RateLimit(_BURST, _PER_SECOND)

    def typing(self, where: Where | None) -> None:
        if where is None or not self._limit.take():
            return
        self._cancel()
        self._lapse = asyncio.get_running_loop().call_later(TYPING_TTL, self.idle)
        self._shown = True
        self._hub.report_presence(
            PresenceReport(
                socket=self._socket,
                agent_id=0,
                agent_name=where.name,
                availability=Availability.ONLINE,
                customer_id=where.customer_id,
                conversation_id=where.conversation_id,
                inbox_id=self._inbox_id,
                channel_label=channel_label("live_chat"),
                activity=Activity.TYPING,
                audience=self.audience,
                ttl=TYPING_TTL,
                visitor=True,
            )
        )

    def idle(self) -> None:
        self._cancel()
        if not self._shown:
            return
        self._shown = False
        self._hub.report_presence(
            PresenceReport(socket=self._socket, agent_id=0, agent_name="", availability=None)
        )

    def _cancel(self) -> None:
        if self._lapse is not None:
            self._lapse.cancel()
            self._lapse = None
