"""Request and response shapes for notifications, direct messages and the board.

Kept beside `inbox.api.schemas` (whose base classes they use) so the
collaboration endpoints can grow without crowding the core schemas.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from inbox.models import NotificationKind

from .schemas import MAX_BIG_ID, AgentOut, Id, InboxOut, QueryParams, RequestBody, ResponseBody

# Requests ------------------------------------------------------------------


class NotificationListQuery(QueryParams):
    unread: bool = Field(False, description="Only unread notifications.")
    cursor: str | None = Field(None, description="`next_cursor` of the previous page.")
    limit: int = Field(25, ge=1, le=100, description="Page size.")


class ReadAllIn(RequestBody):
    """Mark every unread notification read, or only those up to `up_to_id`.

    Pass the newest id you showed, so one that arrived meanwhile stays unread.
    """

    up_to_id: int | None = Field(None, ge=1, le=MAX_BIG_ID)


class DirectMessageListQuery(QueryParams):
    with_: int = Field(alias="with", ge=1, le=2**31 - 1, description="The colleague's agent id.")
    before: str | None = Field(None, description="`earlier_cursor` of the previous page.")
    limit: int = Field(50, ge=1, le=200, description="Page size.")


class SendDirectMessageIn(RequestBody):
    """A message to one colleague, optionally about a conversation or a customer.

    A conversation or customer must be one both of you can see.
    """

    recipient_id: Id
    body: str = Field(description="1 to 10,000 characters after trimming.")
    conversation_id: Id | None = None
    customer_id: Id | None = None


# Responses -----------------------------------------------------------------


class NotificationOut(ResponseBody):
    id: int
    kind: NotificationKind
    actor_id: int | None
    actor_name: str
    conversation_id: int | None
    customer_id: int | None
    message_id: int | None
    direct_message_id: int | None
    subject: str | None = Field(
        description="The conversation's subject; null when you can no longer see it."
    )
    excerpt: str | None = Field(description="The start of the note or direct message.")
    created_at: datetime
    read_at: datetime | None


class NotificationListOut(ResponseBody):
    notifications: list[NotificationOut] = Field(description="Newest first.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at end.")
    unread_count: int


class NotificationsReadOut(ResponseBody):
    notification_ids: list[int] = Field(description="Those this call marked; already-read omitted.")
    unread_count: int


class DirectMessageOut(ResponseBody):
    id: int
    sender_id: int
    sender_name: str
    recipient_id: int
    recipient_name: str
    body: str
    conversation_id: int | None = Field(
        description="The conversation it is about, if any and if you may see it."
    )
    customer_id: int | None = Field(
        description="The customer it is about, if any and if you may see them."
    )
    created_at: datetime
    read_at: datetime | None = Field(description="When the recipient read it.")


class DirectMessageListOut(ResponseBody):
    direct_messages: list[DirectMessageOut] = Field(description="Oldest first.")
    earlier_cursor: str | None = Field(description="Pass as `before` for older messages.")


class DirectMessageResultOut(ResponseBody):
    direct_message: DirectMessageOut


class AgentLoadOut(ResponseBody):
    agent: AgentOut
    open: int = Field(description="Open conversations assigned to them, in inboxes you see.")
    pending: int
    presence: Literal["online", "away", "offline"] = Field(
        description="Live presence: `online` with a page of the app in front of them, "
        "`away` with pages open but hidden, `offline` with none open."
    )
    last_active_at: datetime | None = Field(
        description="Their latest recorded action; null if none recently."
    )


class QueueOut(ResponseBody):
    inbox: InboxOut
    unassigned: int = Field(description="Open conversations nobody holds.")
    oldest_at: datetime | None = Field(description="When the longest-waiting one was opened.")


class BoardOut(ResponseBody):
    agents: list[AgentLoadOut]
    queues: list[QueueOut]
