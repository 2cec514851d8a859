"""Notifications: what an agent is told personally (a mention, a direct message, an assignment)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigID, utcnow


class NotificationKind(enum.StrEnum):
    MENTION = "mention"  # @name in a private note
    DIRECT_MESSAGE = "direct_message"
    ASSIGNMENT = "assignment"  # a lead handed them a conversation


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        # The bell (count unread) and "unread only" lists: agent, unread, newest first.
        Index("ix_notifications_agent_unread", "agent_id", "read_at", "id"),
        # The full list, read and unread together, newest first. Without it that
        # list would sort all of an agent's rows on every page.
        Index("ix_notifications_agent_list", "agent_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    # Who is told. Their notifications go when they do.
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    kind: Mapped[NotificationKind] = mapped_column(
        Enum(
            NotificationKind,
            native_enum=False,
            create_constraint=True,
            length=16,
            values_callable=lambda e: [m.value for m in e],
        )
    )
    # Who caused it; kept as history if that colleague is later removed.
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    # What it is about. Each points at the row it names and goes with it.
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    message_id: Mapped[int | None] = mapped_column(
        BigID, ForeignKey("messages.id", ondelete="CASCADE")
    )
    direct_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("direct_messages.id", ondelete="CASCADE")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column()
