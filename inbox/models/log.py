"""The event outbox (ordered, replayable) and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigID, utcnow


class OutboxEvent(Base):
    """Every published event, numbered in commit order.

    `seq` is the resume point for clients (`since=SEQ`). Writers serialise on
    a lock just before inserting here, so sequence order is commit order.
    """

    __tablename__ = "outbox_events"
    # Never reuse a sequence number, even after the newest rows are pruned.
    __table_args__ = {"sqlite_autoincrement": True}

    seq: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column()
    # {"agents": [ids], "customer_id": id or null}
    audience: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_target", "target_type", "target_id", "id"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    actor_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[int | None] = mapped_column()
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
