"""The domain model. Import models from here."""

from .agents import Agent, InboxAgentAccess, InboxTeamAccess, Role, Team, TeamMember
from .base import Base, utcnow
from .collab import DirectMessage
from .conversations import Attachment, Conversation, Delivery, Direction, Message, Status
from .customers import Customer, CustomerNote, CustomerTag, Identity, IdentityKind, Purchase
from .email import EmailDetails, MailSyncState, OutboundEmail, QuarantinedMail, ThreadRule
from .inboxes import ChannelKind, Inbox
from .log import AuditEntry, OutboxEvent
from .notifications import Notification, NotificationKind

__all__ = [
    "Agent",
    "Attachment",
    "AuditEntry",
    "Base",
    "ChannelKind",
    "Conversation",
    "Customer",
    "CustomerNote",
    "CustomerTag",
    "Delivery",
    "DirectMessage",
    "Direction",
    "EmailDetails",
    "Identity",
    "IdentityKind",
    "Inbox",
    "InboxAgentAccess",
    "InboxTeamAccess",
    "MailSyncState",
    "Message",
    "Notification",
    "NotificationKind",
    "OutboundEmail",
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
