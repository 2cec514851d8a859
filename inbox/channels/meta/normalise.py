"""Meta's webhook payloads as `InboundMessage`s: one POST may carry several
entries, each with several messages; every customer message becomes one.

- WhatsApp Cloud API: `object: whatsapp_business_account`, `entry[].changes[]`
  with `field: messages`; messages in `value.messages[]` (id `wamid.…`), the
  sender's profile name in `value.contacts[]`, delivery receipts in
  `value.statuses[]` (stored nothing here).
- Messenger (`object: page`) and Instagram (`object: instagram`):
  `entry[].messaging[]`, a message in `message` with its `mid`; echoes of the
  page's own messages, deliveries, reads and reactions store nothing.

Media is queued, not downloaded here (`media.py` fetches it once the message
is stored): WhatsApp's by its media id, Messenger's and Instagram's by the
attachment's URL. A message with only media says what was sent ("[image]").
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from inbox.channels.base import InboundMedia, InboundMessage
from inbox.channels.fields import InvalidField, identity
from inbox.models import ChannelKind, IdentityKind

# messages.external_id is 500 characters.
ProviderId = Annotated[str, Field(min_length=1, max_length=500)]

OBJECTS = {
    ChannelKind.WHATSAPP: "whatsapp_business_account",
    ChannelKind.MESSENGER: "page",
    ChannelKind.INSTAGRAM: "instagram",
}
# WhatsApp message types that are not something the customer wrote.
_WA_SKIPPED = frozenset({"reaction", "system", "request_welcome", "ephemeral"})
# WhatsApp message types whose object carries a media id to download.
_WA_MEDIA = frozenset({"image", "document", "audio", "video", "sticker"})


class _Provider(BaseModel):
    # Meta adds fields over time; unknown ones are ignored, not refused.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


# WhatsApp ------------------------------------------------------------------


class WaProfile(_Provider):
    name: str = ""


class WaContact(_Provider):
    wa_id: str
    profile: WaProfile | None = None


class WaMessage(_Provider):
    id: ProviderId
    sender: Annotated[str, Field(alias="from", min_length=1, max_length=32)]
    timestamp: int
    type: str
    text: dict[str, Any] | None = None
    button: dict[str, Any] | None = None
    interactive: dict[str, Any] | None = None
    # The media objects (image, video, …) and anything else, read by `type`.
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class WaValue(_Provider):
    contacts: list[WaContact] = []
    messages: list[WaMessage] = []


class WaChange(_Provider):
    field: str
    value: WaValue


class WaEntry(_Provider):
    changes: list[WaChange] = []


class WaPayload(_Provider):
    object: str
    entry: list[WaEntry]


def _wa_text(message: WaMessage) -> str | None:
    if message.type in _WA_SKIPPED:
        return None
    if message.type == "text" and message.text:
        body = message.text.get("body")
        return body if isinstance(body, str) and body.strip() else None
    if message.type == "button" and message.button:
        return str(message.button.get("text") or "[button]")
    if message.type == "interactive" and message.interactive:
        reply = message.interactive.get("button_reply") or message.interactive.get("list_reply")
        if isinstance(reply, dict) and reply.get("title"):
            return str(reply["title"])
        return "[interactive]"
    media = (message.model_extra or {}).get(message.type)
    if isinstance(media, dict):
        caption = media.get("caption")
        if isinstance(caption, str) and caption.strip():
            return caption
    return f"[{message.type}]"


def _wa_media(message: WaMessage) -> tuple[InboundMedia, ...]:
    media = (message.model_extra or {}).get(message.type) if message.type in _WA_MEDIA else None
    if not isinstance(media, dict) or not isinstance(media.get("id"), str) or not media["id"]:
        return ()
    name, mime = media.get("filename"), media.get("mime_type")
    return (
        InboundMedia(
            "whatsapp",
            media["id"],
            filename=name if isinstance(name, str) else "",
            content_type=mime if isinstance(mime, str) else "",
        ),
    )


def whatsapp(inbox_id: int, payload: WaPayload) -> list[InboundMessage]:
    _check_object(ChannelKind.WHATSAPP, payload.object)
    found: list[InboundMessage] = []
    for e, entry in enumerate(payload.entry):
        for c, change in enumerate(entry.changes):
            if change.field != "messages":
                continue
            names = {
                contact.wa_id: contact.profile.name
                for contact in change.value.contacts
                if contact.profile
            }
            for m, message in enumerate(change.value.messages):
                text = _wa_text(message)
                if text is None:
                    continue
                where = f"entry.{e}.changes.{c}.value.messages.{m}.from"
                # wa_id is the number in international form without its "+".
                sender = identity(where, IdentityKind.WHATSAPP, "+" + message.sender.lstrip("+"))
                found.append(
                    InboundMessage(
                        inbox_id=inbox_id,
                        external_id=message.id,
                        identities=(sender,),
                        text=text,
                        sender_name=names.get(message.sender, "").strip(),
                        received_at=datetime.fromtimestamp(message.timestamp, UTC),
                        media=_wa_media(message),
                    )
                )
    return found


# Messenger and Instagram ----------------------------------------------------


class Party(_Provider):
    id: Annotated[str, Field(min_length=1, max_length=320)]


class Attachment(_Provider):
    type: str
    # `url` for image, video, audio, file (and a sticker's image); none for a fallback.
    payload: dict[str, Any] | None = None


class PageMessage(_Provider):
    mid: ProviderId
    text: str | None = None
    attachments: list[Attachment] = []
    is_echo: bool = False
    is_deleted: bool = False
    is_unsupported: bool = False


class Messaging(_Provider):
    sender: Party
    recipient: Party | None = None
    # Milliseconds since the epoch.
    timestamp: int
    message: PageMessage | None = None


class PageEntry(_Provider):
    messaging: list[Messaging] = []


class PagePayload(_Provider):
    object: str
    entry: list[PageEntry]


def _page_text(message: PageMessage) -> str | None:
    if message.is_echo or message.is_deleted:  # the page's own message; an unsend
        return None
    if message.text and message.text.strip():
        return message.text
    if message.attachments:
        return " ".join(f"[{a.type}]" for a in message.attachments)
    return "[unsupported message]" if message.is_unsupported else None


def _page_media(message: PageMessage) -> tuple[InboundMedia, ...]:
    """Each attachment's file, by its URL (Meta's CDN; fetched through the SSRF guard)."""
    found = []
    for attachment in message.attachments:
        url = (attachment.payload or {}).get("url")
        if isinstance(url, str) and url.startswith(("https://", "http://")):
            found.append(InboundMedia("url", url))
    return tuple(found)


def page_messages(inbox_id: int, kind: ChannelKind, payload: PagePayload) -> list[InboundMessage]:
    """Messenger's or Instagram's messages; `kind` says which (their shapes are one)."""
    _check_object(kind, payload.object)
    identity_kind = (
        IdentityKind.MESSENGER if kind is ChannelKind.MESSENGER else IdentityKind.INSTAGRAM
    )
    found: list[InboundMessage] = []
    for e, entry in enumerate(payload.entry):
        for m, event in enumerate(entry.messaging):
            if event.message is None:  # delivery, read, postback, reaction, …
                continue
            text = _page_text(event.message)
            if text is None:
                continue
            where = f"entry.{e}.messaging.{m}.sender.id"
            found.append(
                InboundMessage(
                    inbox_id=inbox_id,
                    external_id=event.message.mid,
                    # The page-scoped (PSID) or Instagram-scoped (IGSID) id.
                    identities=(identity(where, identity_kind, event.sender.id),),
                    text=text,
                    received_at=datetime.fromtimestamp(event.timestamp / 1000, UTC),
                    media=_page_media(event.message),
                )
            )
    return found


def _check_object(kind: ChannelKind, value: str) -> None:
    if value != OBJECTS[kind]:
        raise InvalidField("object", f"expected {OBJECTS[kind]!r} for a {kind.value} inbox")
