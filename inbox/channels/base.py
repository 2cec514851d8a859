"""What every connector produces, and the protocol a connector implements."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from inbox.channels.email.parse import Bounce
from inbox.profiles.identities import IdentityRef


@dataclass(frozen=True)
class InboundAttachment:
    filename: str
    content_type: str
    size: int
    sha256: str


@dataclass(frozen=True)
class InboundMedia:
    """A file the provider holds for a message: fetched and attached after the message
    is stored (inbox/channels/media_fetcher.py), so the webhook never waits on it."""

    # Which fetcher reads `ref`: "telegram", "whatsapp", "url" or "twilio".
    source: str
    # The provider's handle for the file: a file id, a media id, or a URL.
    ref: str
    # What the provider says about it, when it says.
    filename: str = ""
    content_type: str = ""


@dataclass(frozen=True)
class InboundEmail:
    """What only an email carries: its threading keys, and what is kept beside it."""

    # Message-IDs, normalised ('<local@domain>').
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    # The conversation named by a reply token of ours, once its signature checked out.
    token_conversation_id: int | None = None
    # The raw bytes, already in the blob store.
    raw_sha256: str | None = None
    raw_size: int = 0
    # Quoted history cut from `text`, kept retrievable.
    quoted_text: str = ""
    from_address: str | None = None
    # Envelope details worth showing (To, Cc, Reply-To, Date, a few headers).
    headers: Mapping[str, Any] = field(default_factory=dict)
    # "auto_reply", "bounce" or "bulk": never answered automatically.
    auto_kind: str | None = None
    # A delivery-status report: which email of ours it returns, and whether it failed.
    bounce: Bounce | None = None


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
    # Messaging channels: files still to be fetched from the provider.
    media: tuple[InboundMedia, ...] = field(default=())
    # Set by the email connector only.
    email: InboundEmail | None = None
    # A webhook's: the inbox's `inbox_state` its request was checked against.
    # Ingest refuses the message (StaleInbox) when the inbox it reads differs.
    checked_against: str | None = None


def inbox_state(channel: str, is_active: bool, secrets: Mapping[str, Any]) -> str:
    """A digest of what a webhook's checks depend on (never the secrets themselves)."""
    settings = json.dumps([channel, is_active, secrets], sort_keys=True, default=str)
    return hashlib.sha256(settings.encode()).hexdigest()


class Connector(Protocol):
    """A running channel. The worker starts one per configured inbox."""

    inbox_id: int

    async def run(self) -> None:
        """Receive until cancelled, handing each message to `ingest`."""
        ...
