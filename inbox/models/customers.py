"""Customers, their identities on each channel, and their shared profile."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Enum, ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, JSONType, utcnow


class IdentityKind(enum.StrEnum):
    EMAIL = "email"
    PHONE = "phone"  # E.164
    LIVE_CHAT = "live_chat"
    TELEGRAM = "telegram"
    WHATSAPP = "whatsapp"
    MESSENGER = "messenger"
    INSTAGRAM = "instagram"
    API = "api"


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Set when this customer was merged into another; kept so a merge can be undone.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    identities: Mapped[list[Identity]] = relationship(
        back_populates="customer", order_by="Identity.id", lazy="raise"
    )
    tags: Mapped[list[CustomerTag]] = relationship(order_by="CustomerTag.tag", lazy="raise")

    @property
    def display_name(self) -> str:
        return self.name or f"Customer #{self.id}"


class Identity(Base):
    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("kind", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[IdentityKind] = mapped_column(
        Enum(
            IdentityKind,
            native_enum=False,
            create_constraint=True,
            length=16,
            values_callable=lambda e: [m.value for m in e],
        )
    )
    value: Mapped[str] = mapped_column(String(320))
    verified: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    customer: Mapped[Customer] = relationship(back_populates="identities", lazy="raise")


class CustomerTag(Base):
    __tablename__ = "customer_tags"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class CustomerNote(Base):
    __tablename__ = "customer_notes"
    __table_args__ = (Index("ix_customer_notes_customer_time", "customer_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FieldType(enum.StrEnum):
    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    BOOLEAN = "boolean"
    CHOICE = "choice"


class CustomerField(Base):
    """A typed attribute admins define; values live in `Customer.attributes[key]`."""

    __tablename__ = "customer_fields"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(100))
    type: Mapped[FieldType] = mapped_column(
        Enum(
            FieldType,
            native_enum=False,
            create_constraint=True,
            length=16,
            values_callable=lambda e: [m.value for m in e],
        )
    )
    # The allowed values of a choice field, in display order; empty otherwise.
    options: Mapped[list[str]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Purchase(Base):
    """An order or purchase entry on the customer's profile."""

    __tablename__ = "purchases"
    __table_args__ = (
        UniqueConstraint("customer_id", "reference"),
        Index("ix_purchases_customer_time", "customer_id", "purchased_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    reference: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(500), default="")
    amount: Mapped[float] = mapped_column(Numeric(12, 2, asdecimal=False))
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(32), default="completed")
    purchased_at: Mapped[datetime] = mapped_column(default=utcnow)
