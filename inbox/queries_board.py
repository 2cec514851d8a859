"""The team lead's board: who holds how much, who is around, and what waits unassigned.

Only leads and admins may read it. A lead sees the agents who share at least
one inbox with them, and counts only conversations in inboxes the lead can
see, so the board never reveals work in an inbox that is not theirs. Admins
see every agent and inbox.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.access import inbox_audience, visible_inbox_ids
from inbox.errors import Forbidden
from inbox.models import Agent, AuditEntry, Conversation, Inbox, Status
from inbox.runtime import Runtime

# "Last active" looks at this many of the newest audit entries. The audit log
# has no index on its actor yet, so an unbounded look-up would scan it whole;
# an agent idle for longer than the window shows as "not recently".
ACTIVITY_WINDOW = 50_000


class Presence(enum.StrEnum):
    ONLINE = "online"  # a page of theirs is open and in front of them
    AWAY = "away"  # pages open, all hidden (another tab, a minimised window)
    OFFLINE = "offline"  # no page open


async def presence_for(rt: Runtime, agent_ids: Collection[int]) -> dict[int, Presence]:
    """Whether each agent is online now, from the live presence every process shares.

    Async and given the runtime so that a presence kept elsewhere (a shared
    store) could answer here without changing the board or the API.
    """
    known = rt.hub.presence.availability(agent_ids)
    return {
        agent_id: Presence(known[agent_id].value) if agent_id in known else Presence.OFFLINE
        for agent_id in agent_ids
    }


@dataclass(frozen=True)
class AgentLoad:
    agent: Agent
    open: int
    pending: int
    last_active_at: datetime | None  # None: nothing in the recent audit window
    presence: Presence


@dataclass(frozen=True)
class Queue:
    """One inbox's unassigned open conversations."""

    inbox: Inbox
    unassigned: int
    oldest_at: datetime | None  # when the longest-waiting one was opened


@dataclass(frozen=True)
class Board:
    agents: list[AgentLoad]
    queues: list[Queue]
    # Who each visible inbox's conversations may be handed to, for the reassign control.
    assignable: dict[int, list[Agent]]


def require_lead(agent: Agent) -> None:
    if not agent.can_assign_others:
        raise Forbidden("the board is for team leads and admins")


async def load_board(rt: Runtime, session: AsyncSession, lead: Agent) -> Board:
    require_lead(lead)
    inbox_ids = sorted(await visible_inbox_ids(session, lead))
    inboxes = list(
        await session.scalars(select(Inbox).where(Inbox.id.in_(inbox_ids)).order_by(Inbox.name))
    )
    audiences = {i.id: await inbox_audience(session, i.id) for i in inboxes}
    agent_ids: set[int] = set().union(*audiences.values()) if audiences else set()
    if lead.is_admin:
        agent_ids |= set(
            (await session.scalars(select(Agent.id).where(Agent.is_active.is_(True)))).all()
        )
    agents = list(
        (
            await session.scalars(
                select(Agent).where(Agent.id.in_(agent_ids)).order_by(Agent.name, Agent.id)
            )
        ).all()
    )
    by_id = {a.id: a for a in agents}
    loads = await _loads(session, agent_ids, inbox_ids)
    active = await _last_active(session, agent_ids)
    presence = await presence_for(rt, agent_ids)
    return Board(
        agents=[
            AgentLoad(
                a,
                loads.get((a.id, Status.OPEN), 0),
                loads.get((a.id, Status.PENDING), 0),
                active.get(a.id),
                presence[a.id],
            )
            for a in agents
        ],
        queues=await _queues(session, inboxes),
        assignable={
            inbox_id: [by_id[i] for i in sorted(ids, key=lambda i: by_id[i].name) if i in by_id]
            for inbox_id, ids in audiences.items()
        },
    )


async def _loads(
    session: AsyncSession, agent_ids: Collection[int], inbox_ids: Collection[int]
) -> dict[tuple[int, Status], int]:
    if not agent_ids or not inbox_ids:
        return {}
    result = await session.execute(
        select(Conversation.assignee_id, Conversation.status, func.count())
        .where(
            Conversation.assignee_id.in_(agent_ids),
            Conversation.status.in_((Status.OPEN, Status.PENDING)),
            Conversation.inbox_id.in_(inbox_ids),
        )
        .group_by(Conversation.assignee_id, Conversation.status)
    )
    return {(agent_id, status): n for agent_id, status, n in result if agent_id}


async def _last_active(session: AsyncSession, agent_ids: Collection[int]) -> dict[int, datetime]:
    """The newest audit entry each agent made, within the recent window.

    Every note, reply, claim and assignment writes one, so this also covers
    the messages an agent wrote (their own created_at may be backdated by an
    import; the audit time is when the agent actually acted).
    """
    if not agent_ids:
        return {}
    newest = await session.scalar(select(func.max(AuditEntry.id)))
    if newest is None:
        return {}
    result = await session.execute(
        select(AuditEntry.actor_agent_id, func.max(AuditEntry.created_at))
        .where(
            AuditEntry.id > newest - ACTIVITY_WINDOW,
            AuditEntry.actor_agent_id.in_(agent_ids),
        )
        .group_by(AuditEntry.actor_agent_id)
    )
    found: dict[int, datetime] = {}
    for agent_id, at in result:
        if agent_id is not None and at is not None:
            found[agent_id] = at
    return found


async def _queues(session: AsyncSession, inboxes: list[Inbox]) -> list[Queue]:
    if not inboxes:
        return []
    result = await session.execute(
        select(Conversation.inbox_id, func.count(), func.min(Conversation.created_at))
        .where(
            Conversation.inbox_id.in_([i.id for i in inboxes]),
            Conversation.status == Status.OPEN,
            Conversation.assignee_id.is_(None),
        )
        .group_by(Conversation.inbox_id)
    )
    waiting = {inbox_id: (n, oldest) for inbox_id, n, oldest in result}
    return [Queue(i, *waiting.get(i.id, (0, None))) for i in inboxes]
