"""Media a customer's message names but the provider holds: the fetch queue.

A webhook stores the message at once with one row here per file; the worker
fetches each (inbox/channels/media_fetcher.py) and attaches it, so a slow or
hostile media host never holds up the webhook. The row is made in the same
transaction as its message, so a redelivered message (found, not stored
again) queues nothing twice.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigID, utcnow


class MessageMedia(Base):
    """One file of a message: pending until `done_at`; then attached, or failed with the reason."""

    __tablename__ = "message_media"
    __table_args__ = (
        UniqueConstraint("message_id", "position"),
        Index("ix_message_media_due", "done_at", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    message_id: Mapped[int] = mapped_column(
        BigID, ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inboxes.id", ondelete="CASCADE"))
    # Its place among the message's files (attachments keep that order).
    position: Mapped[int] = mapped_column()
    # Which provider's fetcher reads `ref` ("telegram", "whatsapp", "url", "twilio").
    source: Mapped[str] = mapped_column(String(32))
    # The provider's handle: a file id, a media id, or a URL.
    ref: Mapped[str] = mapped_column(Text)
    # What the provider said about the file, when it said.
    filename: Mapped[str] = mapped_column(String(255), default="")
    content_type: Mapped[str] = mapped_column(String(255), default="")
    # Each claim counts one; a claim holds the row until next_attempt_at (its lease).
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Safe to show: the guard's and the providers' reasons name no URL or secret.
    last_error: Mapped[str | None] = mapped_column(Text)
    attachment_id: Mapped[int | None] = mapped_column(
        ForeignKey("attachments.id", ondelete="SET NULL")
    )
    done_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
