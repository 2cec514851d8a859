"""Reading direct messages: threads per colleague, one thread, and those about a case.

Every read here is filtered to messages the agent sent or received, so a
third agent finds nothing. The case a message points at is shown only to
someone who may see that case: the sender could, the recipient may not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.access import visible_inbox_ids
from inbox.errors import BadRequest, NotFound
from inbox.models import Agent, Conversation, Customer, DirectMessage
from inbox.queries_notifications import decode_cursor, encode_cursor
from inbox.sanitize import preview


@dataclass(frozen=True)
class Anchor:
    """The case a message is about, as a link the viewer may follow."""

    label: str
    url: str
    conversation_id: int | None
    customer_id: int


@dataclass(frozen=True)
class DirectMessageRow:
    dm: DirectMessage
    sender_name: str
    recipient_name: str
    is_mine: bool  # the viewer wrote it
    anchor: Anchor | None


@dataclass(frozen=True)
class Thread:
    colleague: Agent
    rows: list[DirectMessageRow]  # oldest first
    earlier_cursor: str | None


@dataclass(frozen=True)
class ThreadSummary:
    colleague_id: int
    colleague_name: str
    last: DirectMessage
    last_preview: str
    unread: int


def _between(a: int, b: int) -> ColumnElement[bool]:
    return or_(
        (DirectMessage.sender_id == a) & (DirectMessage.recipient_id == b),
        (DirectMessage.sender_id == b) & (DirectMessage.recipient_id == a),
    )


def _involving(agent_id: int) -> ColumnElement[bool]:
    return or_(DirectMessage.sender_id == agent_id, DirectMessage.recipient_id == agent_id)


async def colleagues(session: AsyncSession, agent: Agent) -> list[Agent]:
    """Everyone the agent may write to: every other active agent."""
    rows = await session.scalars(
        select(Agent)
        .where(Agent.is_active.is_(True), Agent.id != agent.id)
        .order_by(Agent.name, Agent.id)
    )
    return list(rows.all())


async def get_colleague(session: AsyncSession, agent: Agent, colleague_id: int) -> Agent:
    """Another agent (active or not: old threads stay readable); 404 if there is none."""
    if colleague_id == agent.id:
        raise BadRequest("direct messages are between you and a colleague, not yourself")
    colleague = await session.get(Agent, colleague_id)
    if colleague is None:
        raise NotFound("no such colleague")
    return colleague


async def thread(
    session: AsyncSession,
    agent: Agent,
    colleague_id: int,
    *,
    before: str | None = None,
    limit: int = 50,
) -> Thread:
    """The newest messages between the agent and one colleague, oldest first."""
    colleague = await get_colleague(session, agent, colleague_id)
    before_id = decode_cursor(before)
    stmt = (
        select(DirectMessage)
        .where(_between(agent.id, colleague.id))
        .order_by(DirectMessage.id.desc())
        .limit(limit + 1)
    )
    if before_id is not None:
        stmt = stmt.where(DirectMessage.id < before_id)
    found = list((await session.scalars(stmt)).all())
    earlier = encode_cursor(found[limit - 1].id) if len(found) > limit else None
    dms = list(reversed(found[:limit]))
    return Thread(colleague, await _rows(session, agent, dms), earlier)


async def one_direct_message(
    session: AsyncSession, agent: Agent, direct_message_id: int
) -> DirectMessageRow:
    """One message the agent sent or received; anyone else's is not found."""
    dm = await session.scalar(
        select(DirectMessage).where(DirectMessage.id == direct_message_id, _involving(agent.id))
    )
    if dm is None:
        raise NotFound("direct message not found")
    return (await _rows(session, agent, [dm]))[0]


async def about_conversation(
    session: AsyncSession, agent: Agent, conv: Conversation, *, limit: int = 30
) -> list[DirectMessageRow]:
    """The agent's messages with any colleague about this conversation or its customer.

    The caller has checked the agent may see the conversation.
    """
    found = await session.scalars(
        select(DirectMessage)
        .where(
            _involving(agent.id),
            or_(
                DirectMessage.conversation_id == conv.id,
                DirectMessage.customer_id == conv.customer_id,
            ),
        )
        .order_by(DirectMessage.id.desc())
        .limit(limit)
    )
    return await _rows(session, agent, list(reversed(found.all())))


async def threads(session: AsyncSession, agent: Agent, *, limit: int = 100) -> list[ThreadSummary]:
    """One line per colleague the agent has written with, latest conversation first."""
    other = case(
        (DirectMessage.sender_id == agent.id, DirectMessage.recipient_id),
        else_=DirectMessage.sender_id,
    )
    latest = select(func.max(DirectMessage.id)).where(_involving(agent.id)).group_by(other)
    last_rows = (
        await session.execute(
            select(DirectMessage, Agent.name)
            .join(Agent, Agent.id == other)
            .where(DirectMessage.id.in_(latest))
            .order_by(DirectMessage.id.desc())
            .limit(limit)
        )
    ).all()
    counted = await session.execute(
        select(DirectMessage.sender_id, func.count())
        .where(DirectMessage.recipient_id == agent.id, DirectMessage.read_at.is_(None))
        .group_by(DirectMessage.sender_id)
    )
    unread = {sender_id: n for sender_id, n in counted}
    summaries = []
    for dm, name in last_rows:
        colleague_id = dm.recipient_id if dm.sender_id == agent.id else dm.sender_id
        summaries.append(
            ThreadSummary(colleague_id, name, dm, preview(dm.body, 90), unread.get(colleague_id, 0))
        )
    return summaries


async def _rows(
    session: AsyncSession, agent: Agent, dms: Sequence[DirectMessage]
) -> list[DirectMessageRow]:
    ids = {dm.sender_id for dm in dms} | {dm.recipient_id for dm in dms}
    names: dict[int, str] = {}
    if ids:
        result = await session.execute(select(Agent.id, Agent.name).where(Agent.id.in_(ids)))
        names = {agent_id: name for agent_id, name in result}
    anchors = await _anchors(session, agent, dms)
    return [
        DirectMessageRow(
            dm,
            names.get(dm.sender_id, "A former colleague"),
            names.get(dm.recipient_id, "A former colleague"),
            dm.sender_id == agent.id,
            anchors.get(dm.id),
        )
        for dm in dms
    ]


async def _anchors(
    session: AsyncSession, agent: Agent, dms: Sequence[DirectMessage]
) -> dict[int, Anchor]:
    """Links to the cases these messages are about, for those the agent may see."""
    conv_ids = {dm.conversation_id for dm in dms if dm.conversation_id is not None}
    customer_ids = {dm.customer_id for dm in dms if dm.customer_id is not None}
    if not conv_ids and not customer_ids:
        return {}
    visible = await visible_inbox_ids(session, agent)
    subjects: dict[int, str] = {}
    if conv_ids:
        result = await session.execute(
            select(Conversation.id, Conversation.subject).where(
                Conversation.id.in_(conv_ids), Conversation.inbox_id.in_(visible)
            )
        )
        subjects = {cid: subject or "(no subject)" for cid, subject in result}
    customers: dict[int, str] = {}
    if customer_ids:
        # A customer is visible through any conversation in a visible inbox.
        seen = select(Conversation.customer_id).where(
            Conversation.customer_id.in_(customer_ids), Conversation.inbox_id.in_(visible)
        )
        result = await session.execute(
            select(Customer.id, Customer.name).where(Customer.id.in_(seen))
        )
        customers = {cid: name or f"Customer #{cid}" for cid, name in result}
    anchors = {}
    for dm in dms:
        if dm.customer_id is None:
            continue
        if dm.conversation_id is not None and dm.conversation_id in subjects:
            anchors[dm.id] = Anchor(
                f"About: {subjects[dm.conversation_id]}",
                f"/conversations/{dm.conversation_id}",
                dm.conversation_id,
                dm.customer_id,
            )
        elif dm.conversation_id is None and dm.customer_id in customers:
            anchors[dm.id] = Anchor(
                f"About: {customers[dm.customer_id]}",
                f"/customers/{dm.customer_id}",
                None,
                dm.customer_id,
            )
    return anchors
