"""A live chat inbox's settings, its public key, and checking what an embedding site claims.

`Inbox.config` holds what is public: the key the embed snippet names, the
origins allowed to embed it (none listed: any), and the email inbox that
carries the conversation on when the visitor has gone (the offline
follow-up). `Inbox.secrets["identity_secret"]` is what the embedding site
signs its users' ids with: write-only, shown once on creation or rotation.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.models import ChannelKind, Inbox

SECRET_NAME = "identity_secret"
WIDGET_PATH = "/chat/widget.js"


class ChatConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")

    public_key: str = Field(min_length=16, max_length=64)
    allowed_origins: list[str] = Field(default_factory=list, max_length=50)
    email_inbox_id: int | None = None

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, values: list[str]) -> list[str]:
        return [normalise_origin(v) for v in values]


def normalise_origin(value: str) -> str:
    """'https://shop.example' (scheme and host[:port] only), or ValueError with the reason."""
    value = value.strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not an origin (scheme://host[:port]): {value!r}")
    if parts.path or parts.query or parts.fragment or "@" in parts.netloc:
        raise ValueError(f"an origin has no path, query or user: {value!r}")
    return f"{parts.scheme}://{parts.netloc.lower()}"


def parse_origins(lines: Sequence[str]) -> list[str]:
    """Origins typed one per line or comma-separated; ValueError names a bad one."""
    found = [o for line in lines for o in line.replace(",", "\n").splitlines() if o.strip()]
    return list(dict.fromkeys(normalise_origin(o) for o in found))


def new_public_key() -> str:
    return secrets.token_urlsafe(18)


def new_identity_secret() -> str:
    return secrets.token_urlsafe(32)


def chat_config(inbox: Inbox) -> ChatConfig | None:
    """The settings of a live chat inbox (None for other inboxes or one never set up)."""
    if inbox.channel is not ChannelKind.LIVE_CHAT:
        return None
    try:
        return ChatConfig.model_validate(inbox.config)
    except ValidationError:
        return None


def origin_allowed(config: ChatConfig, origin: str | None) -> bool:
    """No list: any site may embed the widget. With a list, only those origins.

    A request without an Origin comes from no browser page, so a listed
    inbox refuses it too: the list is what the admin said may talk to it.
    """
    if not config.allowed_origins:
        return True
    return origin is not None and origin.rstrip("/").lower() in config.allowed_origins


def user_hash(user_id: str, secret: str) -> str:
    """What the embedding site computes server-side: hex HMAC-SHA256(user id, secret)."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def user_hash_valid(user_id: str, given: str, secret: str | None) -> bool:
    if not secret or not given:
        return False
    # Constant time: a site's users must not be forgeable by timing the check.
    return hmac.compare_digest(user_hash(user_id, secret), given.strip().lower())


def embed_snippet(base_url: str, public_key: str) -> str:
    return (
        f'<script src="{base_url.rstrip("/")}{WIDGET_PATH}" '
        f'data-inbox="{public_key}" async></script>'
    )


async def find_chat_inbox(session: AsyncSession, public_key: str) -> Inbox | None:
    """The active live chat inbox with this public key (few exist: read them all)."""
    if not public_key or len(public_key) > 64:
        return None
    inboxes = await session.scalars(
        select(Inbox).where(Inbox.channel == ChannelKind.LIVE_CHAT, Inbox.is_active.is_(True))
    )
    for inbox in inboxes:
        config = chat_config(inbox)
        if config is not None and hmac.compare_digest(config.public_key, public_key):
            return inbox
    return None


async def chat_inboxes_following_up_by(session: AsyncSession, email_inbox_id: int) -> set[int]:
    """The live chat inboxes whose follow-up emails go out from this email inbox."""
    inboxes = await session.scalars(select(Inbox).where(Inbox.channel == ChannelKind.LIVE_CHAT))
    return {
        i.id
        for i in inboxes
        if (c := chat_config(i)) is not None and c.email_inbox_id == email_inbox_id
    }
