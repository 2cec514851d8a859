"""Website chat visitors: who holds a widget's token, and what they asked for."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, utcnow


class ChatVisitor(Base):
    """One browser's chat session with one live chat inbox.

    The token the widget keeps is stored only as its SHA-256. The visitor's
    customer is found through the identity `live_chat:<public_id>`, which the
    first message creates (so page views alone make no customers), and which
    a merge carries along with the customer.
    """

    __tablename__ = "chat_visitors"

    id: Mapped[int] = mapped_column(primary_key=True)
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inboxes.id", ondelete="CASCADE"), index=True)
    public_id: Mapped[str] = mapped_column(String(64), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The embedding site's user id, when its HMAC checked out.
    verified_user_id: Mapped[str | None] = mapped_column(String(200))
    # What the embedding site called its user (unchecked): a new customer's name.
    display_name: Mapped[str] = mapped_column(String(200), default="")
    # Where replies also go while no one answered live (the offline form).
    follow_up_email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
