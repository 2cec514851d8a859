"""Inboxes: one per configured channel."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Enum, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, utcnow


class ChannelKind(enum.StrEnum):
    EMAIL = "email"
    LIVE_CHAT = "live_chat"
    TELEGRAM = "telegram"
    WHATSAPP = "whatsapp"
    MESSENGER = "messenger"
    INSTAGRAM = "instagram"
    SMS = "sms"
    API = "api"


class Inbox(Base):
    __tablename__ = "inboxes"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    channel: Mapped[ChannelKind] = mapped_column(
        Enum(
            ChannelKind,
            native_enum=False,
            create_constraint=True,
            length=16,
            values_callable=lambda e: [m.value for m in e],
        )
    )
    # Non-secret channel settings (addresses, hosts, folders).
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Credentials; never rendered, never logged, never returned by the API.
    secrets: Mapped[dict[str, Any]] = mapped_column(default=dict)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
