"""A Telegram `Update` (https://core.telegram.org/bots/api#update) as an `InboundMessage`.

Only `message` carries a customer's message; every other kind of update
(edited_message, my_chat_member, callback_query, …) stores nothing. Media is
not downloaded here: a message with only media says what was sent ("[photo]").
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from inbox.channels.base import InboundMessage
from inbox.models import IdentityKind
from inbox.profiles.identities import ref

# Checked in this order: a message carries at most one of them.
MEDIA_KINDS = (
    "photo",
    "video",
    "animation",
    "video_note",
    "voice",
    "audio",
    "document",
    "sticker",
    "location",
    "venue",
    "contact",
    "poll",
    "dice",
)


class _Provider(BaseModel):
    # Telegram adds fields over time; unknown ones are ignored, not refused.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class User(_Provider):
    id: int
    is_bot: bool = False
    first_name: str = ""
    last_name: str = ""


class Message(_Provider):
    message_id: int
    date: int
    sender: Annotated[User | None, Field(alias="from")] = None
    text: str | None = None
    caption: str | None = None
    # Present only to say which kind of media it is.
    photo: list[object] | None = None
    video: dict[str, object] | None = None
    animation: dict[str, object] | None = None
    video_note: dict[str, object] | None = None
    voice: dict[str, object] | None = None
    audio: dict[str, object] | None = None
    document: dict[str, object] | None = None
    sticker: dict[str, object] | None = None
    location: dict[str, object] | None = None
    venue: dict[str, object] | None = None
    contact: dict[str, object] | None = None
    poll: dict[str, object] | None = None
    dice: dict[str, object] | None = None


class Update(_Provider):
    update_id: Annotated[int, Field(ge=0)]
    message: Message | None = None


def _text(message: Message) -> str | None:
    for written in (message.text, message.caption):
        if written and written.strip():
            return written
    # A venue also carries a location: say the more specific one.
    for kind in ("venue", *MEDIA_KINDS):
        if getattr(message, kind) is not None:
            return f"[{kind.replace('_', ' ')}]"
    return None


def to_inbound(inbox_id: int, update: Update) -> InboundMessage | None:
    """The customer's message, or None for an update that carries none."""
    message = update.message
    # No sender: a channel post; a bot: not a customer.
    if message is None or message.sender is None or message.sender.is_bot:
        return None
    text = _text(message)
    if text is None:  # a service message: someone joined, a pin, …
        return None
    sender = message.sender
    return InboundMessage(
        inbox_id=inbox_id,
        # update_id is unique per bot, and an inbox is one bot.
        external_id=str(update.update_id),
        identities=(ref(IdentityKind.TELEGRAM, str(sender.id)),),
        text=text,
        sender_name=" ".join(p for p in (sender.first_name, sender.last_name) if p).strip(),
        received_at=datetime.fromtimestamp(message.date, UTC),
    )
