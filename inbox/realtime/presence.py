"""Who is online, and who is viewing or typing to which customer: ephemeral, never stored.

Each browser socket has one presence: the agent is online or away, and on a
conversation or customer page they are viewing it, or typing in its composer.
A socket's presence travels as a whole `PresenceReport` (the newest one wins)
to every process, each of which keeps the reports of every socket in a
`PresenceTracker` and renders from it.

Nothing sweeps the tracker. Every report carries a time to live, and a
report that is not renewed in time expires on its own (a timer per socket,
reset by each renewal): a process renews its sockets' reports by heartbeat
while they are open, and says "gone" when one closes; if a process dies, its
sockets' presence expires everywhere within one TTL. Typing is renewed by the
page itself while a draft is under way, so it expires within seconds of the
agent leaving it.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

# A process renews its open sockets' presence at every heartbeat (every 15 s,
# hub.HEARTBEAT_SECONDS); a report lives for three, so two renewals can be
# lost (or late, on a busy process) before a present agent disappears.
VIEWING_TTL = 45.0
# Typing is renewed by the page every few seconds while a draft is open.
TYPING_TTL = 8.0


class Availability(enum.StrEnum):
    ONLINE = "online"
    AWAY = "away"  # the page is open but hidden (another tab, a minimised window)


class Activity(enum.StrEnum):
    VIEWING = "viewing"
    TYPING = "typing"


class PresenceReport(BaseModel):
    """One socket's whole presence, as every process hears it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    socket: str  # random, one per socket
    agent_id: int
    agent_name: str
    # None: the socket closed, forget it.
    availability: Availability | None
    # What the page shows, when it shows a customer.
    customer_id: int | None = None
    conversation_id: int | None = None
    inbox_id: int | None = None
    channel_label: str | None = None
    activity: Activity | None = None
    # Who may see the activity: agents who can see the inbox, never the agent
    # themself. (Availability is for the board, which filters by itself.)
    audience: frozenset[int] = frozenset()
    ttl: float = VIEWING_TTL
    # A website visitor typing in the chat widget (inbox/channels/chat), not
    # an agent: agent_id is then 0 and agent_name the customer's name.
    visitor: bool = False

    def same_state(self, other: PresenceReport) -> bool:
        """Equal but for the time to live: a renewal, which changes nothing on screen."""
        return self.model_copy(update={"ttl": other.ttl}) == other


@dataclass(frozen=True)
class PresenceChange:
    """What a report changed, for the sockets that may show it."""

    agent_id: int
    customer_ids: frozenset[int]
    conversation_ids: frozenset[int]
    # Agents who could see the activity before or after the change.
    audience: frozenset[int]
    availability_changed: bool


@dataclass(frozen=True)
class Marker:
    """One colleague's presence on one customer, as a viewer may see it."""

    agent_id: int
    agent_name: str
    activity: Activity
    conversation_id: int | None
    channel_label: str | None
    visitor: bool = False


OnChange = Callable[[PresenceChange], None]


class PresenceTracker:
    """Every socket's latest report, in this process, each expiring on its own."""

    def __init__(self, on_change: OnChange) -> None:
        self._on_change = on_change
        self._reports: dict[str, PresenceReport] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def apply(self, report: PresenceReport) -> None:
        old = self._reports.get(report.socket)
        timer = self._timers.pop(report.socket, None)
        if timer is not None:
            timer.cancel()
        if report.availability is None:
            self._reports.pop(report.socket, None)
        else:
            self._reports[report.socket] = report
            loop = asyncio.get_running_loop()
            self._timers[report.socket] = loop.call_later(report.ttl, self._expire, report)
        if old is not None and old.same_state(report):
            return  # a renewal
        self._notify(old, report if report.availability is not None else None)

    def _expire(self, report: PresenceReport) -> None:
        # Renewals cancel this timer, so the report here is still the latest.
        if self._reports.get(report.socket) is report:
            del self._reports[report.socket]
            self._timers.pop(report.socket, None)
            self._notify(report, None)

    def _notify(self, old: PresenceReport | None, new: PresenceReport | None) -> None:
        reports = [r for r in (old, new) if r is not None]
        if not reports:
            return
        self._on_change(
            PresenceChange(
                agent_id=reports[0].agent_id,
                customer_ids=frozenset(r.customer_id for r in reports if r.customer_id),
                conversation_ids=frozenset(r.conversation_id for r in reports if r.conversation_id),
                audience=frozenset().union(*(r.audience for r in reports)),
                # A visitor typing is nobody's availability.
                availability_changed=not reports[0].visitor
                and (old and old.availability) != (new and new.availability),
            )
        )

    def forget_all(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._reports.clear()

    # --- reading --------------------------------------------------------

    def availability(self, agent_ids: Collection[int]) -> dict[int, Availability]:
        """Agents with an open page: online if any of their pages is, else away."""
        found: dict[int, Availability] = {}
        for report in self._reports.values():
            if (
                report.agent_id in agent_ids
                and report.availability is not None
                and found.get(report.agent_id) != Availability.ONLINE
            ):
                found[report.agent_id] = report.availability
        return found

    def agents_typing(self, customer_id: int, inbox_id: int) -> bool:
        """Whether an agent is typing on this customer's conversation in this inbox
        (what a chat visitor is shown; never who)."""
        return any(
            r.activity == Activity.TYPING
            and not r.visitor
            and r.customer_id == customer_id
            and r.inbox_id == inbox_id
            for r in self._reports.values()
        )

    def on_customer(
        self, customer_id: int, viewer_id: int, inbox_ids: Collection[int]
    ) -> list[Marker]:
        """Colleagues on this customer's pages, as `viewer_id` may see them."""
        return _markers(
            r for r in self._visible(viewer_id, inbox_ids) if r.customer_id == customer_id
        )

    def on_conversations(
        self, conversation_ids: Collection[int], viewer_id: int, inbox_ids: Collection[int]
    ) -> dict[int, list[Marker]]:
        """Colleagues on each of these conversations (those with nobody are left out)."""
        by_conversation: dict[int, list[PresenceReport]] = {}
        for report in self._visible(viewer_id, inbox_ids):
            conv = report.conversation_id
            if conv is not None and conv in conversation_ids:
                by_conversation.setdefault(conv, []).append(report)
        return {conv: _markers(reports) for conv, reports in by_conversation.items()}

    def _visible(self, viewer_id: int, inbox_ids: Collection[int]) -> Iterable[PresenceReport]:
        # The audience was fixed when the report was made; the viewer's inbox
        # access is checked again, so losing access hides presence at once.
        for report in self._reports.values():
            if report.activity is None or viewer_id not in report.audience:
                continue
            # A customer page names no inbox: its audience alone decides.
            if report.inbox_id is None or report.inbox_id in inbox_ids:
                yield report


def _markers(reports: Iterable[PresenceReport]) -> list[Marker]:
    """One marker per agent and conversation: typing wins over viewing (several tabs)."""
    best: dict[tuple[int, int | None], Marker] = {}
    for report in reports:
        assert report.activity is not None
        key = (report.agent_id, report.conversation_id)
        held = best.get(key)
        if held is None or report.activity == Activity.TYPING:
            best[key] = Marker(
                report.agent_id,
                report.agent_name,
                report.activity,
                report.conversation_id,
                report.channel_label,
                report.visitor,
            )
    return sorted(best.values(), key=lambda m: (m.activity != Activity.TYPING, m.agent_name))
