"""Conversations, their messages and attachments."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Enum, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, BigID, utcnow


def _enum(cls: type[enum.Enum]) -> Enum:
    return Enum(
        cls,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda e: [m.value for m in e],
    )


class Status(enum.StrEnum):
    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"


class Direction(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    NOTE = "note"  # private: agents only, never sent to the customer


class Delivery(enum.StrEnum):
    """Where an outbound message stands with its channel."""

    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        # Inbox list, one inbox: keyset over (last_activity_at, id).
        Index("ix_conversations_inbox_list", "inbox_id", "status", "last_activity_at", "id"),
        # Inbox list across inboxes ("all"), filtered to visible inboxes while scanning.
        Index("ix_conversations_status_list", "status", "last_activity_at", "id"),
        # "Mine".
        Index("ix_conversations_assignee_list", "assignee_id", "status", "last_activity_at", "id"),
        Index("ix_conversations_customer", "customer_id", "last_activity_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inboxes.id"))
    subject: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[Status] = mapped_column(_enum(Status), default=Status.OPEN)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_message_preview: Mapped[str] = mapped_column(String(200), default="")
    # Every change bumps it; writers that read first compare it to refuse stale edits.
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The customer's rating of this conversation, 1 to 5, once recorded.
    satisfaction: Mapped[int | None] = mapped_column()


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        # Ingestion is idempotent: one row per provider id per inbox.
        UniqueConstraint("inbox_id", "external_id"),
        # The customer's cross-channel timeline.
        Index("ix_messages_customer_timeline", "customer_id", "created_at", "id"),
        Index("ix_messages_conversation", "conversation_id", "created_at", "id"),
        # The limit on automatic replies: ours to one address in the last hour.
        Index("ix_messages_auto_reply_to", "auto_reply_to", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    # Copied from the conversation so the timeline and dedupe need no join.
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inboxes.id"))
    direction: Mapped[Direction] = mapped_column(_enum(Direction))
    sender_agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL")
    )
    text: Mapped[str] = mapped_column(Text, default="")
    # Already sanitised; safe to render as markup.
    html: Mapped[str | None] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(String(500))
    delivery: Mapped[Delivery | None] = mapped_column(_enum(Delivery))
    delivery_error: Mapped[str | None] = mapped_column(Text)
    # Inbound: why media the customer sent could not be fetched from their
    # channel (one line per file), shown on the message beside its text.
    media_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the channel says the customer sent it (inbound), if it says.
    received_at: Mapped[datetime | None] = mapped_column()
    # Set only on what we sent automatically (an acknowledgement, no agent
    # wrote it): the address it went to, lower-cased. The limit per address
    # counts these rows, so it holds across worker processes and restarts.
    auto_reply_to: Mapped[str | None] = mapped_column(String(320))

    attachments: Mapped[list[Attachment]] = relationship(order_by="Attachment.id", lazy="raise")


class Attachment(Base):
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    # Content is stored once per hash in the blob store.
    sha256: Mapped[str] = mapped_column(String(64), index=True)
