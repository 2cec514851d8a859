"""The domain model. Import models from here."""

from .agents import Agent, InboxAgentAccess, InboxTeamAccess, Role, Team, TeamMember
from .base import Base, utcnow
from .collab import DirectMessage
from .conversations import Attachment, Conversation, Delivery, Direction, Message, Status
from .customers import (
    Customer,
    CustomerField,
    CustomerNote,
    CustomerTag,
    FieldType,
    Identity,
    IdentityKind,
    Purchase,
)
from .email import EmailDetails, MailSyncState, OutboundEmail, QuarantinedMail, ThreadRule
from .inboxes import ChannelKind, Inbox
from .live_chat import ChatVisitor
from .log import AuditEntry, OutboxEvent
from .media import MessageMedia
from .notifications import Notification, NotificationKind
from .outbound import OutboundSend

__all__ = [
    "Agent",
    "Attachment",
    "AuditEntry",
    "Base",
    "ChannelKind",
    "ChatVisitor",
    "Conversation",
    "Customer",
    "CustomerField",
    "CustomerNote",
    "CustomerTag",
    "Delivery",
    "DirectMessage",
    "Direction",
    "EmailDetails",
    "FieldType",
    "Identity",
    "IdentityKind",
    "Inbox",
    "InboxAgentAccess",
    "InboxTeamAccess",
    "MailSyncState",
    "Message",
    "MessageMedia",
    "Notification",
    "NotificationKind",
    "OutboundEmail",
    "OutboundSend",
    "OutboxEvent",
    "Purchase",
    "QuarantinedMail",
    "Role",
    "Status",
    "Team",
    "TeamMember",
    "ThreadRule",
    "utcnow",
]
