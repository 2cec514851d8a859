"""Turning rows into response models, field by field.

Explicit on purpose: a column added to a model (say, an inbox secret) never
reaches a client until someone adds it here and to the schema.
"""

from __future__ import annotations

from collections.abc import Sequence

from inbox.actions.auto_reply import ACKNOWLEDGEMENT_SENDER
from inbox.models import Agent, Attachment, ChannelKind, Customer, Inbox, Message
from inbox.queries import ConversationRow, TimelineEntry

from .schemas import (
    AgentOut,
    AttachmentOut,
    ConversationOut,
    CustomerOut,
    IdentityOut,
    InboxOut,
    MessageOut,
    TimelineEntryOut,
)


def agent_out(agent: Agent) -> AgentOut:
    return AgentOut(id=agent.id, name=agent.name, email=agent.email, role=agent.role)


def inbox_out(inbox: Inbox) -> InboxOut:
    return InboxOut(id=inbox.id, name=inbox.name, channel=inbox.channel)


def conversation_out(row: ConversationRow) -> ConversationOut:
    conv = row.conversation
    return ConversationOut(
        id=conv.id,
        inbox_id=conv.inbox_id,
        inbox_name=row.inbox_name,
        channel=ChannelKind(row.inbox_channel),
        customer_id=conv.customer_id,
        customer_name=row.customer_name,
        subject=conv.subject,
        status=conv.status,
        assignee_id=conv.assignee_id,
        assignee_name=row.assignee_name,
        team_id=conv.team_id,
        last_activity_at=conv.last_activity_at,
        last_message_preview=conv.last_message_preview,
        version=conv.version,
    )


def _attachment_out(attachment: Attachment) -> AttachmentOut:
    return AttachmentOut(
        id=attachment.id,
        filename=attachment.filename,
        content_type=attachment.content_type,
        size=attachment.size,
        url=f"/attachments/{attachment.id}",
    )


def _message_fields(message: Message, attachments: Sequence[Attachment]) -> MessageOut:
    return MessageOut(
        id=message.id,
        conversation_id=message.conversation_id,
        inbox_id=message.inbox_id,
        customer_id=message.customer_id,
        direction=message.direction,
        sender_agent_id=message.sender_agent_id,
        text=message.text,
        html=message.html,
        delivery=message.delivery,
        delivery_error=message.delivery_error,
        media_error=message.media_error,
        automatic=message.auto_reply_to is not None,
        created_at=message.created_at,
        attachments=[_attachment_out(a) for a in attachments],
    )


def message_out(message: Message) -> MessageOut:
    """A message whose attachments were loaded with it."""
    return _message_fields(message, message.attachments)


def new_message_out(message: Message, attachments: Sequence[Attachment] = ()) -> MessageOut:
    """A message an agent just wrote, with the attachments it was given (none were loaded)."""
    return _message_fields(message, attachments)


def timeline_entry_out(entry: TimelineEntry) -> TimelineEntryOut:
    return TimelineEntryOut(
        **message_out(entry.message).model_dump(),
        inbox_name=entry.inbox_name,
        channel=ChannelKind(entry.channel),
        # No agent wrote it, and neither did the customer the timeline names.
        sender_name=ACKNOWLEDGEMENT_SENDER
        if entry.message.auto_reply_to is not None
        else entry.sender_name,
    )


def customer_out(customer: Customer) -> CustomerOut:
    """Identities and tags must have been loaded with the customer."""
    return CustomerOut(
        id=customer.id,
        name=customer.display_name,
        attributes=customer.attributes,
        tags=[t.tag for t in customer.tags],
        identities=[
            IdentityOut(kind=i.kind, value=i.value, verified=i.verified)
            for i in customer.identities
        ],
        version=customer.version,
        merged_into_id=customer.merged_into_id,
    )
