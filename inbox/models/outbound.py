"""The sending queue of the messaging channels that speak HTTP APIs (Telegram,
WhatsApp, Messenger, Instagram, Twilio SMS, the API channel's outbound webhook).

Email keeps its own queue (OutboundEmail): it carries composed bytes, these
carry a small JSON request.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigID, utcnow


class QueuedSend:
    """What every sending queue keeps per outbound message: the retry schedule
    and the outcome. A row leaves the queue when sent or given up."""

    message_id: Mapped[int] = mapped_column(
        BigID, ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inboxes.id", ondelete="CASCADE"))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column()
    # Out of the queue after a permanent failure or too many attempts; the
    # message shows as failed with `last_error`, for an agent to act on.
    gave_up_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboundSend(QueuedSend, Base):
    """One row per outbound message until its provider accepts it, or we give up.

    `next_attempt_at` is also a lease: a sender claims a row by moving it past
    the attempt's end.
    """

    __tablename__ = "outbound_sends"
    __table_args__ = (Index("ix_outbound_sends_due", "inbox_id", "sent_at", "next_attempt_at"),)

    # What to send, decided with the reply (recipient, text or template, tag):
    # every attempt sends the same. Never a credential: those are read from
    # the inbox at send time.
    request: Mapped[dict[str, Any]] = mapped_column(default=dict)
