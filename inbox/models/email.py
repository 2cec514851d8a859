"""What the email channel keeps beyond the timeline: checkpoints, raw mail, quarantine, sending.

An email is a Message like any other (its `external_id` is its Message-ID,
or `sha256:<hash of the raw bytes>` when it has none, which makes ingest
idempotent per inbox). The rows here hold what only email has.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigID, utcnow
from .outbound import QueuedSend


class ThreadRule(enum.StrEnum):
    """Which rule put an email in its conversation (shown to the agent)."""

    REPLY_TOKEN = "reply_token"  # our own token, in a Message-ID or address it answers
    IN_REPLY_TO = "in_reply_to"  # In-Reply-To names a message of the conversation
    REFERENCES = "references"  # References does (a client rewrote In-Reply-To)
    NEW = "new"  # nothing matched: a new conversation
    MOVED = "moved"  # an agent split it off or moved it


class MailSyncState(Base):
    """An inbox folder's IMAP checkpoint, and the health the admin panel shows."""

    __tablename__ = "mail_sync_states"
    __table_args__ = (UniqueConstraint("inbox_id", "folder"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inboxes.id", ondelete="CASCADE"))
    folder: Mapped[str] = mapped_column(String(255))
    # Advanced only after the batch it covers is committed.
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    highest_modseq: Mapped[int | None] = mapped_column(BigInteger)
    messages_synced: Mapped[int] = mapped_column(BigInteger, default=0)
    last_sync_at: Mapped[datetime | None] = mapped_column()
    last_success_at: Mapped[datetime | None] = mapped_column()
    # Safe to show an admin: never contains credentials.
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column()


class EmailDetails(Base):
    """One email message's envelope, raw bytes and threading, beside its Message row."""

    __tablename__ = "email_details"

    message_id: Mapped[int] = mapped_column(
        BigID, ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    # The exact bytes as received (or as sent), in the blob store.
    raw_sha256: Mapped[str | None] = mapped_column(String(64))
    raw_size: Mapped[int] = mapped_column(BigInteger, default=0)
    # Quoted history cut from the displayed text, kept retrievable.
    quoted_text: Mapped[str] = mapped_column(Text, default="")
    threaded_by: Mapped[str] = mapped_column(String(32), default=ThreadRule.NEW.value)
    from_address: Mapped[str | None] = mapped_column(String(320))
    # Message-ID lists and address lists, as parsed.
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Set for auto-replies, bounces and bulk mail, which are never auto-answered.
    auto_kind: Mapped[str | None] = mapped_column(String(16))


class QuarantinedMail(Base):
    """A message that could not be taken in, kept with its raw bytes and the reason."""

    __tablename__ = "quarantined_mail"
    __table_args__ = (Index("ix_quarantined_mail_open", "inbox_id", "resolved_at"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inboxes.id", ondelete="CASCADE"))
    folder: Mapped[str] = mapped_column(String(255), default="")
    uid: Mapped[int | None] = mapped_column(BigInteger)
    raw_sha256: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Reprocessed into a message, or dismissed by an admin.
    resolved_at: Mapped[datetime | None] = mapped_column()
    resolution: Mapped[str | None] = mapped_column(String(32))
    message_id: Mapped[int | None] = mapped_column(
        BigID, ForeignKey("messages.id", ondelete="SET NULL")
    )


class OutboundEmail(QueuedSend, Base):
    """The durable sending queue: one row per outbound email until it is sent."""

    __tablename__ = "outbound_emails"
    __table_args__ = (Index("ix_outbound_emails_due", "sent_at", "next_attempt_at"),)

    # The composed bytes, in the blob store: a retry sends exactly the same mail.
    raw_sha256: Mapped[str] = mapped_column(String(64))
    recipients: Mapped[dict[str, Any]] = mapped_column(default=dict)
