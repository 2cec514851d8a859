"""Who may see what. Every read and every event audience goes through here.

An agent sees an inbox when they are an admin, were granted it directly, or
belong to a team that was granted it. Conversations and messages follow
their inbox; a customer is visible through any visible conversation.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, Select, bindparam, exists, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.errors import NotFound
from inbox.models import (
    Agent,
    Conversation,
    Customer,
    Inbox,
    InboxAgentAccess,
    InboxTeamAccess,
    Role,
    TeamMember,
)


async def visible_inbox_ids(session: AsyncSession, agent: Agent) -> set[int]:
    if agent.is_admin:
        return set((await session.scalars(select(Inbox.id))).all())
    direct = select(InboxAgentAccess.inbox_id).where(InboxAgentAccess.agent_id == agent.id)
    via_team = (
        select(InboxTeamAccess.inbox_id)
        .join(TeamMember, TeamMember.team_id == InboxTeamAccess.team_id)
        .where(TeamMember.agent_id == agent.id)
    )
    return set((await session.scalars(union(direct, via_team))).all())


def _audience_statement(inbox_ids: Select[Any]) -> Select[Any]:
    """Active agents who may see any of `inbox_ids` (a subquery with bound parameters)."""
    direct = select(InboxAgentAccess.agent_id).where(InboxAgentAccess.inbox_id.in_(inbox_ids))
    via_team = (
        select(TeamMember.agent_id)
        .join(InboxTeamAccess, InboxTeamAccess.team_id == TeamMember.team_id)
        .where(InboxTeamAccess.inbox_id.in_(inbox_ids))
    )
    admins = select(Agent.id).where(Agent.role == Role.ADMIN)
    ids = union(direct, via_team, admins).subquery()
    return select(Agent.id).where(Agent.id.in_(select(ids.c[0])), Agent.is_active.is_(True))


# Built once: every inbound message asks for its inbox's audience, and
# building this union anew cost about a third of storing the message.
_INBOX_AUDIENCE = _audience_statement(select(bindparam("inbox_id", type_=Integer)))
_CUSTOMER_AUDIENCE = _audience_statement(
    select(Conversation.inbox_id).where(Conversation.customer_id == bindparam("customer_id"))
)


async def inbox_audience(session: AsyncSession, inbox_id: int) -> frozenset[int]:
    """Active agents who may see this inbox."""
    rows = await session.scalars(_INBOX_AUDIENCE, {"inbox_id": inbox_id})
    return frozenset(rows.all())


async def customer_audience(session: AsyncSession, customer_id: int) -> frozenset[int]:
    """Active agents who may see this customer: via any of their conversations' inboxes."""
    rows = await session.scalars(_CUSTOMER_AUDIENCE, {"customer_id": customer_id})
    return frozenset(rows.all())


async def admin_audience(session: AsyncSession) -> frozenset[int]:
    """Active admins: who hears of what only admins may act on."""
    rows = await session.scalars(
        select(Agent.id).where(Agent.role == Role.ADMIN, Agent.is_active.is_(True))
    )
    return frozenset(rows.all())


async def can_see_inbox(session: AsyncSession, agent: Agent, inbox_id: int) -> bool:
    return inbox_id in await visible_inbox_ids(session, agent)


async def get_visible_conversation(
    session: AsyncSession, agent: Agent, conversation_id: int, *, for_update: bool = False
) -> Conversation:
    """The conversation, or NotFound if it is absent or not the agent's to see.

    Both cases answer the same, so ids can't be probed.
    """
    stmt = select(Conversation).where(Conversation.id == conversation_id)
    if for_update:
        stmt = stmt.with_for_update()
    conv = await session.scalar(stmt)
    if conv is None or not await can_see_inbox(session, agent, conv.inbox_id):
        raise NotFound("conversation not found")
    return conv


async def get_visible_customer(
    session: AsyncSession,
    agent: Agent,
    customer_id: int,
    *,
    visible: set[int] | None = None,
) -> Customer:
    """The customer, or NotFound if absent or seen through no conversation the agent may see.

    Pass `visible` (the agent's inbox ids) when the caller has it already.
    """
    stmt = select(Customer).where(Customer.id == customer_id)
    if not agent.is_admin:
        inbox_ids = visible if visible is not None else await visible_inbox_ids(session, agent)
        stmt = stmt.where(
            exists().where(
                Conversation.customer_id == Customer.id,
                Conversation.inbox_id.in_(sorted(inbox_ids)),
            )
        )
    customer = await session.scalar(stmt)
    if customer is None:
        # A merged customer keeps no conversations of its own: it is seen
        # through the customer it was merged into, so whoever sees where its
        # conversations went can find it and undo the merge.
        merged_into = await session.scalar(
            select(Customer.merged_into_id).where(Customer.id == customer_id)
        )
        if merged_into is not None and merged_into != customer_id:
            await get_visible_customer(session, agent, merged_into, visible=visible)
            customer = await session.get(Customer, customer_id)
    if customer is None:
        raise NotFound("customer not found")
    return customer
