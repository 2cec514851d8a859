"""Every event the server publishes, declared once.

Events are sent only from actions (`inbox/actions/`), after commit, each with
its outbox sequence number and an explicit audience. Clients receive them as
JSON `{"seq": N, "type": "...", ...payload}`; the README lists them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class EventBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str


class ConversationCreated(EventBase):
    """A new conversation was opened (usually by an inbound message)."""

    type: Literal["conversation.created"] = "conversation.created"
    conversation_id: int
    inbox_id: int
    customer_id: int


class MessageCreated(EventBase):
    """A message landed on a conversation: inbound, outbound reply, or private note."""

    type: Literal["message.created"] = "message.created"
    message_id: int
    conversation_id: int
    inbox_id: int
    customer_id: int
    direction: Literal["inbound", "outbound", "note"]
    sender_agent_id: int | None


AssignReason = Literal["claimed", "assigned", "released", "replied"]


class ConversationAssigned(EventBase):
    """Assignee or team changed: a claim, an assignment by a lead, or a release."""

    type: Literal["conversation.assigned"] = "conversation.assigned"
    conversation_id: int
    inbox_id: int
    assignee_id: int | None
    team_id: int | None
    previous_assignee_id: int | None
    by_agent_id: int | None
    reason: AssignReason
    version: int


class ConversationStatusChanged(EventBase):
    """The conversation moved between open, pending and resolved."""

    type: Literal["conversation.status_changed"] = "conversation.status_changed"
    conversation_id: int
    inbox_id: int
    status: Literal["open", "pending", "resolved"]
    previous_status: Literal["open", "pending", "resolved"]
    by_agent_id: int | None
    version: int


class CustomerUpdated(EventBase):
    """The customer's profile changed (name, identities, tags, notes, purchases)."""

    type: Literal["customer.updated"] = "customer.updated"
    customer_id: int
    fields: list[str]
    version: int


class CustomerMerged(EventBase):
    """One customer was merged into another: its conversations, messages and identities moved.

    Sent to everyone who could see either customer before the move.
    """

    type: Literal["customer.merged"] = "customer.merged"
    customer_id: int
    merged_id: int
    by_agent_id: int | None
    version: int


class CustomerUnmerged(EventBase):
    """A merge was undone: what moved went back to the merged customer."""

    type: Literal["customer.unmerged"] = "customer.unmerged"
    customer_id: int
    merged_id: int
    by_agent_id: int | None
    version: int


class ConversationRated(EventBase):
    """The customer's satisfaction with a conversation (1 to 5) was recorded."""

    type: Literal["conversation.rated"] = "conversation.rated"
    conversation_id: int
    inbox_id: int
    customer_id: int
    satisfaction: int


class AgentDeactivated(EventBase):
    """An agent lost access; their sockets close."""

    type: Literal["agent.deactivated"] = "agent.deactivated"
    agent_id: int


class InboxAccessChanged(EventBase):
    """Who may see an inbox changed; clients refetch their inbox list."""

    type: Literal["inbox.access_changed"] = "inbox.access_changed"
    inbox_id: int


class DirectMessageCreated(EventBase):
    """An agent wrote to a colleague, optionally about a conversation or customer."""

    type: Literal["direct_message.created"] = "direct_message.created"
    direct_message_id: int
    sender_id: int
    recipient_id: int
    conversation_id: int | None
    customer_id: int | None


NotificationKindName = Literal["mention", "direct_message", "assignment"]


class NotificationCreated(EventBase):
    """One agent was told something personally: a mention, a direct message, an assignment.

    The ids say what it is about; the text itself is fetched, so it is never
    copied into the outbox.
    """

    type: Literal["notification.created"] = "notification.created"
    notification_id: int
    agent_id: int
    kind: NotificationKindName
    actor_id: int | None
    conversation_id: int | None
    customer_id: int | None
    message_id: int | None
    direct_message_id: int | None


class NotificationRead(EventBase):
    """An agent marked notifications read (one, a thread's, or all); these ids changed."""

    type: Literal["notification.read"] = "notification.read"
    agent_id: int
    notification_ids: list[int]


class MessageDeliveryChanged(EventBase):
    """An outbound message was sent, or its channel gave up on it (with the reason shown)."""

    type: Literal["message.delivery_changed"] = "message.delivery_changed"
    message_id: int
    conversation_id: int
    inbox_id: int
    customer_id: int
    delivery: Literal["queued", "sent", "delivered", "read", "failed"]


class MessageMediaFetched(EventBase):
    """A file a customer sent through a messaging channel was fetched and attached, or
    could not be (the reason is then shown on the message)."""

    type: Literal["message.media_fetched"] = "message.media_fetched"
    message_id: int
    conversation_id: int
    inbox_id: int
    customer_id: int
    outcome: Literal["attached", "failed"]


class MessageMoved(EventBase):
    """An agent moved a customer's message to another conversation, or split it into a new one."""

    type: Literal["message.moved"] = "message.moved"
    message_id: int
    from_conversation_id: int
    to_conversation_id: int
    inbox_id: int
    customer_id: int


class MailQuarantined(EventBase):
    """An email could not be taken in; it waits, with its raw bytes and the reason, for an admin."""

    type: Literal["mail.quarantined"] = "mail.quarantined"
    quarantine_id: int
    inbox_id: int


class MailQuarantineResolved(EventBase):
    """An admin took a held email in after all (reprocessed) or let it go (dismissed)."""

    type: Literal["mail.quarantine_resolved"] = "mail.quarantine_resolved"
    quarantine_id: int
    inbox_id: int
    resolution: Literal["reprocessed", "dismissed"]
    message_id: int | None


Event = Annotated[
    ConversationCreated
    | MessageCreated
    | ConversationAssigned
    | ConversationStatusChanged
    | CustomerUpdated
    | CustomerMerged
    | CustomerUnmerged
    | ConversationRated
    | AgentDeactivated
    | InboxAccessChanged
    | DirectMessageCreated
    | NotificationCreated
    | NotificationRead
    | MessageDeliveryChanged
    | MessageMediaFetched
    | MessageMoved
    | MailQuarantined
    | MailQuarantineResolved,
    Field(discriminator="type"),
]

EVENT_CLASSES: tuple[type[EventBase], ...] = (
    ConversationCreated,
    MessageCreated,
    ConversationAssigned,
    ConversationStatusChanged,
    CustomerUpdated,
    CustomerMerged,
    CustomerUnmerged,
    ConversationRated,
    AgentDeactivated,
    InboxAccessChanged,
    DirectMessageCreated,
    NotificationCreated,
    NotificationRead,
    MessageDeliveryChanged,
    MessageMediaFetched,
    MessageMoved,
    MailQuarantined,
    MailQuarantineResolved,
)
EVENT_TYPES: dict[str, type[EventBase]] = {
    cls.model_fields["type"].default: cls for cls in EVENT_CLASSES
}
_event_adapter: TypeAdapter[Event] = TypeAdapter(Event)


def parse_event(data: dict[str, Any]) -> EventBase:
    return _event_adapter.validate_python(data)


@dataclass(frozen=True)
class Audience:
    """Who receives an event: agent ids, and the customer only when they may see it."""

    agent_ids: frozenset[int]
    customer_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"agents": sorted(self.agent_ids), "customer_id": self.customer_id}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Audience:
        return cls(frozenset(data.get("agents", ())), data.get("customer_id"))


@dataclass(frozen=True)
class Published:
    """An event as committed: its place in the outbox and who gets it."""

    seq: int
    event: EventBase
    audience: Audience = field(compare=False)

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, **self.event.model_dump(mode="json")}

    @cached_property
    def json_text(self) -> str:
        """`to_json` as text, made once however many sockets send it."""
        return json.dumps(self.to_json())
