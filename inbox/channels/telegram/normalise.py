"""A Telegram `Update` (https://core.telegram.org/bots/api#update) as an `InboundMessage`.

Only `message` carries a customer's message; every other kind of update
(edited_message, my_chat_member, callback_query, …) stores nothing. A file
(photo, document, voice, …) is queued by its `file_id`, fetched after the
message is stored (`media.py`); the text says what was sent ("[photo]") when
there is no caption.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from inbox.channels.base import InboundMedia, InboundMessage
from inbox.models import IdentityKind
from inbox.profiles.identities import ref

# What a sticker file is, by its flags (https://core.telegram.org/bots/api#sticker).
_STICKER_TYPES = {"is_animated": "application/x-tgsticker", "is_video": "video/webm"}
# Media with a file to fetch; a photo comes in several sizes (the largest is kept).
_FILE_KINDS = ("video", "animation", "video_note", "voice", "audio", "document", "sticker")

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


def _photo_size(size: object) -> int:
    if not isinstance(size, dict):
        return -1
    width, height = size.get("width"), size.get("height")
    return width * height if isinstance(width, int) and isinstance(height, int) else 0


def _file(kind: str, found: dict[str, object]) -> InboundMedia | None:
    file_id = found.get("file_id")
    if not isinstance(file_id, str) or not file_id:
        return None
    name, mime = found.get("file_name"), found.get("mime_type")
    content_type = mime if isinstance(mime, str) else ""
    if kind == "sticker":
        flag = next((f for f in _STICKER_TYPES if found.get(f) is True), None)
        content_type = _STICKER_TYPES[flag] if flag else "image/webp"
    return InboundMedia(
        "telegram",
        file_id,
        filename=name if isinstance(name, str) else "",
        content_type=content_type,
    )


def _media(message: Message) -> tuple[InboundMedia, ...]:
    """The message's file, if it has one: the largest size of a photo."""
    if message.photo:
        largest = max(message.photo, key=_photo_size)
        if isinstance(largest, dict):
            # Telegram re-encodes every photo as JPEG.
            photo = _file("photo", {**largest, "mime_type": "image/jpeg"})
            return () if photo is None else (photo,)
    for kind in _FILE_KINDS:
        found = getattr(message, kind)
        if isinstance(found, dict):
            media = _file(kind, found)
            return () if media is None else (media,)
    return ()


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
        media=_media(message),
    )
