"""Notifications: telling one agent about a mention, a direct message or an assignment.

The `notify_*` helpers run inside another action's transaction, so the
notification commits (or not) with the note, message or assignment that
caused it. The `do_mark_*` actions are the agent's own: marking read.

Every notification event goes to exactly the agent it is for.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, select, update

from inbox.access import inbox_audience
from inbox.errors import NotFound
from inbox.events import Audience, NotificationCreated, NotificationRead
from inbox.mentions import Colleague, MentionOutcome, find_handles, resolve
from inbox.models import (
    Agent,
    Conversation,
    DirectMessage,
    Message,
    Notification,
    NotificationKind,
    utcnow,
)
from inbox.runtime import Runtime

from .transaction import Transaction, transaction


async def add_notification(
    tx: Transaction,
    *,
    agent_id: int,
    kind: NotificationKind,
    actor: Agent,
    conversation_id: int | None = None,
    customer_id: int | None = None,
    message_id: int | None = None,
    direct_message_id: int | None = None,
) -> Notification:
    notification = Notification(
        agent_id=agent_id,
        kind=kind,
        actor_id=actor.id,
        conversation_id=conversation_id,
        customer_id=customer_id,
        message_id=message_id,
        direct_message_id=direct_message_id,
        created_at=utcnow(),
    )
    tx.session.add(notification)
    await tx.session.flush()
    tx.emit(
        NotificationCreated(
            notification_id=notification.id,
            agent_id=agent_id,
            kind=kind.value,
            actor_id=actor.id,
            conversation_id=conversation_id,
            customer_id=customer_id,
            message_id=message_id,
            direct_message_id=direct_message_id,
        ),
        # Personal: not the inbox, not the actor, never the customer.
        Audience(frozenset({agent_id})),
    )
    return notification


async def notify_mentions(
    tx: Transaction, actor: Agent, conv: Conversation, note: Message
) -> MentionOutcome:
    """Notify everyone the note @mentions who may see its inbox (see `inbox.mentions`)."""
    handles = find_handles(note.text)
    if not handles:
        return MentionOutcome()
    rows = await tx.session.execute(
        select(Agent.id, Agent.name, Agent.email).where(Agent.is_active.is_(True))
    )
    colleagues = [Colleague(agent_id, name, email) for agent_id, name, email in rows]
    outcome = resolve(
        handles,
        colleagues,
        can_see=await inbox_audience(tx.session, conv.inbox_id),
        author_id=actor.id,
    )
    for colleague in outcome.notified:
        await add_notification(
            tx,
            agent_id=colleague.id,
            kind=NotificationKind.MENTION,
            actor=actor,
            conversation_id=conv.id,
            customer_id=conv.customer_id,
            message_id=note.id,
        )
    if outcome.notified or outcome.no_access:
        tx.audit(
            actor,
            "note.mentioned",
            "conversation",
            conv.id,
            message_id=note.id,
            notified=[c.id for c in outcome.notified],
            not_notified=[c.id for c in outcome.no_access],
        )
    return outcome


async def notify_assignment(
    tx: Transaction, actor: Agent, conv: Conversation, previous_assignee_id: int | None
) -> Notification | None:
    """Tell the new assignee, unless they took it themselves or already had it."""
    assignee_id = conv.assignee_id
    if assignee_id is None or assignee_id in (actor.id, previous_assignee_id):
        return None
    return await add_notification(
        tx,
        agent_id=assignee_id,
        kind=NotificationKind.ASSIGNMENT,
        actor=actor,
        conversation_id=conv.id,
        customer_id=conv.customer_id,
    )


async def do_mark_notification_read(rt: Runtime, actor: Agent, notification_id: int) -> list[int]:
    """Mark one of the agent's own notifications read. Someone else's is not found.

    Returns the ids it marked: empty when it was read already.
    """
    async with transaction(rt) as tx:
        owner = await tx.session.scalar(
            select(Notification.agent_id).where(Notification.id == notification_id)
        )
        if owner != actor.id:
            raise NotFound("notification not found")
        return await _mark_read(tx, actor, Notification.id == notification_id)


async def do_mark_all_notifications_read(
    rt: Runtime, actor: Agent, *, up_to_id: int | None = None
) -> list[int]:
    """Mark every unread notification read, or only those up to `up_to_id`.

    A page passes the newest id it showed, so one that arrived after the
    agent looked stays unread.
    """
    async with transaction(rt) as tx:
        condition = Notification.id <= up_to_id if up_to_id is not None else None
        return await _mark_read(tx, actor, condition)


async def do_mark_thread_read(rt: Runtime, actor: Agent, colleague_id: int) -> list[int]:
    """Everything a colleague wrote to the agent directly is now read."""
    async with transaction(rt) as tx:
        if colleague_id == actor.id or await tx.session.get(Agent, colleague_id) is None:
            raise NotFound("no such colleague")
        await tx.session.execute(
            update(DirectMessage)
            .where(
                DirectMessage.sender_id == colleague_id,
                DirectMessage.recipient_id == actor.id,
                DirectMessage.read_at.is_(None),
            )
            .values(read_at=utcnow())
        )
        return await _mark_read(
            tx,
            actor,
            (Notification.kind == NotificationKind.DIRECT_MESSAGE)
            & (Notification.actor_id == colleague_id),
        )


async def _mark_read(
    tx: Transaction, actor: Agent, condition: ColumnElement[bool] | None
) -> list[int]:
    """Stamp the matching unread notifications; tell the agent which ones changed.

    One conditional UPDATE, so two tabs marking at once can't both report the
    same notification as newly read.
    """
    now = utcnow()
    stmt = (
        update(Notification)
        .where(Notification.agent_id == actor.id, Notification.read_at.is_(None))
        .values(read_at=now)
        .returning(Notification.id, Notification.direct_message_id)
    )
    if condition is not None:
        stmt = stmt.where(condition)
    changed = (await tx.session.execute(stmt)).all()
    if not changed:
        return []
    ids = sorted(row[0] for row in changed)
    # A direct message counts as read once its notification is.
    dm_ids = [row[1] for row in changed if row[1] is not None]
    if dm_ids:
        await tx.session.execute(
            update(DirectMessage)
            .where(DirectMessage.id.in_(dm_ids), DirectMessage.read_at.is_(None))
            .values(read_at=now)
        )
    tx.audit(actor, "notifications.read", "agent", actor.id, count=len(ids))
    tx.emit(
        NotificationRead(agent_id=actor.id, notification_ids=ids),
        Audience(frozenset({actor.id})),
    )
    return ids
