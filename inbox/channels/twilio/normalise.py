"""An incoming Twilio SMS/MMS (the form Twilio POSTs) as an `InboundMessage`.

An MMS's media (`MediaUrl{N}`, `MediaContentType{N}`) is queued, not
downloaded here (`media.py` fetches it once the message is stored); an MMS
with no text says what was sent ("[image/jpeg]").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from inbox.channels.base import InboundMedia, InboundMessage
from inbox.channels.fields import InvalidField, identity
from inbox.models import IdentityKind

# Twilio's own limit on media per message.
_MAX_MEDIA = 10


class IncomingSms(BaseModel):
    # Twilio sends many more parameters (FromCity, SmsStatus, …), and adds more.
    model_config = ConfigDict(extra="ignore")

    MessageSid: Annotated[str, Field(min_length=1, max_length=500)]
    From: Annotated[str, Field(min_length=1, max_length=64)]
    To: str = ""
    Body: str = ""
    NumMedia: Annotated[int, Field(ge=0, le=_MAX_MEDIA)] = 0


def parse(params: Sequence[tuple[str, str]]) -> tuple[IncomingSms, list[InboundMedia]]:
    """The message's fields and its media."""
    form = dict(params)
    sms = IncomingSms.model_validate(form)
    media = []
    for i in range(sms.NumMedia):
        url = form.get(f"MediaUrl{i}", "")
        if url.startswith(("https://", "http://")):  # Twilio always sends one
            media.append(
                InboundMedia("twilio", url, content_type=form.get(f"MediaContentType{i}", ""))
            )
    return sms, media


def to_inbound(inbox_id: int, sms: IncomingSms, media: Sequence[InboundMedia]) -> InboundMessage:
    if sms.Body.strip():
        text = sms.Body
    elif media:
        text = " ".join(f"[{m.content_type or 'media'}]" for m in media)
    else:
        raise InvalidField("Body", "the message is empty")
    if ":" in sms.From:
        # Twilio's other channels ("whatsapp:+1…") reach this URL only by mistake,
        # and a reply by SMS would go somewhere else.
        raise InvalidField("From", "not an SMS phone number")
    return InboundMessage(
        inbox_id=inbox_id,
        external_id=sms.MessageSid,
        identities=(identity("From", IdentityKind.PHONE, sms.From),),
        text=text,
        media=tuple(media),
    )
