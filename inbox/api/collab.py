"""Working together: notifications, direct messages between agents, and the lead's board."""

from __future__ import annotations

from inbox.actions.direct_messages import do_send_direct_message
from inbox.actions.notifications import (
    do_mark_all_notifications_read,
    do_mark_notification_read,
)
from inbox.errors import NotFound
from inbox.queries_board import load_board
from inbox.queries_direct_messages import DirectMessageRow, one_direct_message, thread
from inbox.queries_notifications import NotificationRow, decode_cursor, unread_count
from inbox.queries_notifications import list_notifications as query_notifications

from .collab_schemas import (
    AgentLoadOut,
    BoardOut,
    DirectMessageListOut,
    DirectMessageListQuery,
    DirectMessageOut,
    DirectMessageResultOut,
    NotificationListOut,
    NotificationListQuery,
    NotificationOut,
    NotificationsReadOut,
    QueueOut,
    ReadAllIn,
    SendDirectMessageIn,
)
from .registry import Call, Endpoint
from .schemas import MAX_BIG_ID, EmptyIn
from .serialise import agent_out, inbox_out


def _notification_out(row: NotificationRow) -> NotificationOut:
    n = row.notification
    return NotificationOut(
        id=n.id,
        kind=n.kind,
        actor_id=n.actor_id,
        actor_name=row.actor_name,
        conversation_id=n.conversation_id,
        customer_id=n.customer_id,
        message_id=n.message_id,
        direct_message_id=n.direct_message_id,
        subject=row.subject,
        excerpt=row.excerpt,
        created_at=n.created_at,
        read_at=n.read_at,
    )


def _direct_message_out(row: DirectMessageRow) -> DirectMessageOut:
    dm = row.dm
    return DirectMessageOut(
        id=dm.id,
        sender_id=dm.sender_id,
        sender_name=row.sender_name,
        recipient_id=dm.recipient_id,
        recipient_name=row.recipient_name,
        body=dm.body,
        conversation_id=row.anchor.conversation_id if row.anchor else None,
        customer_id=row.anchor.customer_id if row.anchor else None,
        created_at=dm.created_at,
        read_at=dm.read_at,
    )


async def list_notifications(call: Call) -> NotificationListOut:
    """Your notifications, newest first, a page at a time (`?unread=true` for unread only).

    A mention or assignment on a conversation you can no longer see keeps its
    ids but has no subject or excerpt.
    """
    q = call.query_as(NotificationListQuery)
    async with call.rt.read_sessions() as db:
        page = await query_notifications(
            db, call.agent, unread_only=q.unread, before_id=decode_cursor(q.cursor), limit=q.limit
        )
        unread = await unread_count(db, call.agent)
    return NotificationListOut(
        notifications=[_notification_out(r) for r in page.rows],
        next_cursor=page.next_cursor,
        unread_count=unread,
    )


async def _read_result(call: Call, ids: list[int]) -> NotificationsReadOut:
    async with call.rt.read_sessions() as db:
        unread = await unread_count(db, call.agent)
    return NotificationsReadOut(notification_ids=ids, unread_count=unread)


async def read_notification(call: Call) -> NotificationsReadOut:
    """Mark one of your notifications read. Marking it twice is harmless."""
    notification_id = call.request.path_params["id"]
    if not 0 < notification_id <= MAX_BIG_ID:
        raise NotFound("notification not found")
    ids = await do_mark_notification_read(call.rt, call.agent, notification_id)
    return await _read_result(call, ids)


async def read_all_notifications(call: Call) -> NotificationsReadOut:
    """Mark all your unread notifications read (or those up to `up_to_id`)."""
    body = call.body_as(ReadAllIn)
    ids = await do_mark_all_notifications_read(call.rt, call.agent, up_to_id=body.up_to_id)
    return await _read_result(call, ids)


async def list_direct_messages(call: Call) -> DirectMessageListOut:
    """Your thread with one colleague, oldest first; older pages with `before`.

    Only messages between you and them: nobody else's ever appear. An unknown
    colleague is 404; yourself is 400.
    """
    q = call.query_as(DirectMessageListQuery)
    async with call.rt.read_sessions() as db:
        found = await thread(db, call.agent, q.with_, before=q.before, limit=q.limit)
    return DirectMessageListOut(
        direct_messages=[_direct_message_out(r) for r in found.rows],
        earlier_cursor=found.earlier_cursor,
    )


async def send_direct_message(call: Call) -> DirectMessageResultOut:
    """Write to a colleague, who gets a notification.

    With `conversation_id` (or `customer_id`) it is about that case, which you
    and the colleague must both be able to see.
    """
    body = call.body_as(SendDirectMessageIn)
    dm = await do_send_direct_message(
        call.rt,
        call.agent,
        body.recipient_id,
        body.body,
        conversation_id=body.conversation_id,
        customer_id=body.customer_id,
    )
    async with call.rt.read_sessions() as db:
        row = await one_direct_message(db, call.agent, dm.id)
    return DirectMessageResultOut(direct_message=_direct_message_out(row))


async def get_board(call: Call) -> BoardOut:
    """Workload per agent and the unassigned queue per inbox. Leads and admins only (403).

    A lead sees the agents sharing an inbox with them, with counts from the
    inboxes the lead can see; an admin sees everyone.
    """
    async with call.rt.read_sessions() as db:
        board = await load_board(call.rt, db, call.agent)
    return BoardOut(
        agents=[
            AgentLoadOut(
                agent=agent_out(a.agent),
                open=a.open,
                pending=a.pending,
                presence=a.presence.value,
                last_active_at=a.last_active_at,
            )
            for a in board.agents
        ],
        queues=[
            QueueOut(inbox=inbox_out(q.inbox), unassigned=q.unassigned, oldest_at=q.oldest_at)
            for q in board.queues
        ],
    )


ENDPOINTS = [
    Endpoint(
        "GET",
        "/notifications",
        "Your notifications",
        list_notifications,
        NotificationListOut,
        tag="notifications",
        query=NotificationListQuery,
        errors=(400,),
    ),
    Endpoint(
        "POST",
        "/notifications/{id:int}/read",
        "Mark a notification read",
        read_notification,
        NotificationsReadOut,
        tag="notifications",
        body=EmptyIn,
    ),
    Endpoint(
        "POST",
        "/notifications/read-all",
        "Mark all notifications read",
        read_all_notifications,
        NotificationsReadOut,
        tag="notifications",
        body=ReadAllIn,
    ),
    Endpoint(
        "GET",
        "/direct-messages",
        "Your direct messages with one colleague",
        list_direct_messages,
        DirectMessageListOut,
        tag="direct messages",
        query=DirectMessageListQuery,
        errors=(400, 404),
    ),
    Endpoint(
        "POST",
        "/direct-messages",
        "Send a direct message",
        send_direct_message,
        DirectMessageResultOut,
        tag="direct messages",
        status=201,
        body=SendDirectMessageIn,
        errors=(404,),
    ),
    Endpoint(
        "GET", "/board", "The team lead's board", get_board, BoardOut, tag="board", errors=(403,)
    ),
]
