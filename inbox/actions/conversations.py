"""Claiming, assigning, releasing and changing the status of conversations."""

from __future__ import annotations

from sqlalchemy import select, update

from inbox.access import get_visible_conversation, inbox_audience
from inbox.errors import BadRequest, Conflict, Forbidden, NotFound
from inbox.events import AssignReason, Audience, ConversationAssigned, ConversationStatusChanged
from inbox.models import Agent, Conversation, Status, Team, TeamMember
from inbox.runtime import Runtime

from .notifications import notify_assignment
from .transaction import Transaction, transaction


async def do_claim_conversation(rt: Runtime, actor: Agent, conversation_id: int) -> Conversation:
    """Take an unassigned conversation. Exactly one of any number of racing claimers wins."""
    async with transaction(rt) as tx:
        conv = await get_visible_conversation(tx.session, actor, conversation_id)
        if not await claim_if_unassigned(tx, actor, conv, reason="claimed"):
            if conv.assignee_id == actor.id:
                return conv  # already ours: claiming twice is harmless
            holder = await tx.session.get(Agent, conv.assignee_id)
            raise Conflict(
                f"already claimed by {holder.name if holder else 'another agent'}",
                assignee_id=conv.assignee_id,
            )
    return conv


async def claim_if_unassigned(
    tx: Transaction, actor: Agent, conv: Conversation, *, reason: AssignReason
) -> bool:
    """One conditional UPDATE of a conversation the actor may see; False when someone
    else got there first. Either way `conv` is refreshed to who holds it now."""
    result = await tx.session.execute(
        update(Conversation)
        .where(Conversation.id == conv.id, Conversation.assignee_id.is_(None))
        .values(assignee_id=actor.id, version=Conversation.version + 1)
        .returning(Conversation.version)
    )
    won = result.scalar_one_or_none() is not None
    await tx.session.refresh(conv)
    if won:
        tx.audit(actor, f"conversation.{reason}", "conversation", conv.id)
        audience = await inbox_audience(tx.session, conv.inbox_id)
        _emit_assigned(tx, conv, actor, None, reason, audience)
    return won


def _emit_assigned(
    tx: Transaction,
    conv: Conversation,
    actor: Agent,
    previous_assignee_id: int | None,
    reason: AssignReason,
    audience: frozenset[int],
) -> None:
    """Tell everyone who can see the inbox who holds the conversation now."""
    tx.emit(
        ConversationAssigned(
            conversation_id=conv.id,
            inbox_id=conv.inbox_id,
            assignee_id=conv.assignee_id,
            team_id=conv.team_id,
            previous_assignee_id=previous_assignee_id,
            by_agent_id=actor.id,
            reason=reason,
            version=conv.version,
        ),
        Audience(audience),
    )


async def do_assign_conversation(
    rt: Runtime,
    actor: Agent,
    conversation_id: int,
    *,
    assignee_id: int | None,
    team_id: int | None = None,
) -> Conversation:
    """A lead or admin hands the conversation to an agent, a team, or both."""
    if not actor.can_assign_others and assignee_id != actor.id:
        raise Forbidden("only a lead or admin may assign to someone else")
    if assignee_id is None and team_id is None:
        raise BadRequest("give an agent or a team to assign to")
    async with transaction(rt) as tx:
        conv = await get_visible_conversation(tx.session, actor, conversation_id, for_update=True)
        audience = await inbox_audience(tx.session, conv.inbox_id)
        if assignee_id is not None:
            assignee = await tx.session.get(Agent, assignee_id)
            if assignee is None or assignee_id not in audience:
                raise BadRequest("that agent can't see this conversation's inbox")
        if team_id is not None:
            if await tx.session.get(Team, team_id) is None:
                raise NotFound(f"no team with id {team_id}")
            if assignee_id is not None:
                member = await tx.session.get(TeamMember, (team_id, assignee_id))
                if member is None:
                    raise BadRequest("that agent is not in that team")
        previous = conv.assignee_id
        conv.assignee_id = assignee_id
        if team_id is not None:
            conv.team_id = team_id
        conv.version += 1
        await tx.session.flush()
        tx.audit(
            actor,
            "conversation.assigned",
            "conversation",
            conv.id,
            assignee_id=assignee_id,
            team_id=conv.team_id,
            previous_assignee_id=previous,
        )
        _emit_assigned(tx, conv, actor, previous, "assigned", audience)
        # The new assignee hears it personally too (not when they took it themselves).
        await notify_assignment(tx, actor, conv, previous)
    return conv


async def do_release_conversation(rt: Runtime, actor: Agent, conversation_id: int) -> Conversation:
    """Give a conversation back to the queue. Agents release their own; leads any."""
    async with transaction(rt) as tx:
        conv = await get_visible_conversation(tx.session, actor, conversation_id, for_update=True)
        if conv.assignee_id is None:
            return conv
        if conv.assignee_id != actor.id and not actor.can_assign_others:
            raise Forbidden("only the assignee or a lead may release this conversation")
        previous = conv.assignee_id
        conv.assignee_id = None
        conv.version += 1
        await tx.session.flush()
        tx.audit(actor, "conversation.released", "conversation", conv.id, previous=previous)
        audience = await inbox_audience(tx.session, conv.inbox_id)
        _emit_assigned(tx, conv, actor, previous, "released", audience)
    return conv


async def do_set_status(
    rt: Runtime, actor: Agent, conversation_id: int, status: Status
) -> Conversation:
    """Resolve, reopen or park a conversation."""
    async with transaction(rt) as tx:
        conv = await get_visible_conversation(tx.session, actor, conversation_id, for_update=True)
        if conv.assignee_id not in (None, actor.id) and not actor.can_assign_others:
            holder = await tx.session.scalar(select(Agent.name).where(Agent.id == conv.assignee_id))
            raise Conflict(f"assigned to {holder}; only they or a lead may change its status")
        previous = conv.status
        if previous is status:
            return conv
        conv.status = status
        conv.version += 1
        await tx.session.flush()
        tx.audit(
            actor,
            "conversation.status_changed",
            "conversation",
            conv.id,
            status=status.value,
            previous=previous.value,
        )
        tx.emit(
            ConversationStatusChanged(
                conversation_id=conv.id,
                inbox_id=conv.inbox_id,
                status=status.value,
                previous_status=previous.value,
                by_agent_id=actor.id,
                version=conv.version,
            ),
            Audience(await inbox_audience(tx.session, conv.inbox_id)),
        )
    return conv
