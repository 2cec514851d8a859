"""What every connector produces, and the protocol a connector implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from inbox.profiles.identities import IdentityRef


@dataclass(frozen=True)
class InboundAttachment:
    filename: str
    content_type: str
    size: int
    sha256: str


@dataclass(frozen=True)
class InboundMessage:
    """One customer message, normalised; the only thing connectors hand over."""

    inbox_id: int
    # The provider's id for the message; ingestion is idempotent on it.
    external_id: str
    # The identity it arrived with first, then any others it carries.
    identities: tuple[IdentityRef, ...]
    text: str
    sender_name: str = ""
    html: str | None = None
    subject: str = ""
    received_at: datetime | None = None
    attachments: tuple[InboundAttachment, ...] = field(default=())


class Connector(Protocol):
    """A running channel. The worker starts one per configured inbox."""

    inbox_id: int

    async def run(self) -> None:
        """Receive until cancelled, handing each message to `ingest`."""
        ...
