"""The API channel's message body, and how it becomes an `InboundMessage`.

Identities go in the documented resolution order: the integration's own
user id (kind `api`) first, then the email, then the phone.
"""

from __future__ import annotations

from datetime import UTC
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from inbox.channels.base import InboundMessage
from inbox.channels.fields import InvalidField, identity
from inbox.models import IdentityKind
from inbox.profiles.identities import IdentityRef

MAX_TEXT = 100_000
# messages.external_id is 500 characters.
MAX_MESSAGE_ID = 500


class _Closed(BaseModel):
    # Strict: no "5" for 5 and no 5 for "5"; unknown fields are refused, so a
    # typo in an integration fails loudly instead of dropping data.
    model_config = ConfigDict(extra="forbid", strict=True)


class ApiSender(_Closed):
    id: Annotated[str, Field(min_length=1, max_length=320)]
    name: Annotated[str, Field(max_length=200)] | None = None
    email: Annotated[str, Field(max_length=320)] | None = None
    phone: Annotated[str, Field(max_length=64)] | None = None


class ApiMessage(_Closed):
    message_id: Annotated[str, Field(min_length=1, max_length=MAX_MESSAGE_ID)]
    sender: ApiSender
    text: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]
    html: Annotated[str, Field(max_length=MAX_TEXT)] | None = None
    subject: Annotated[str, Field(max_length=500)] | None = None
    # JSON has no datetime type, so this one field is parsed from its ISO text.
    # The offset is required: a naive time would be a guess about the zone.
    sent_at: Annotated[AwareDatetime, Field(strict=False)] | None = None


def identities(sender: ApiSender) -> tuple[IdentityRef, ...]:
    refs = [identity("sender.id", IdentityKind.API, sender.id)]
    # Blank optional values are treated as absent: integrations often send "".
    if sender.email and sender.email.strip():
        refs.append(identity("sender.email", IdentityKind.EMAIL, sender.email))
    if sender.phone and sender.phone.strip():
        refs.append(identity("sender.phone", IdentityKind.PHONE, sender.phone))
    return tuple(refs)


def to_inbound(inbox_id: int, body: ApiMessage) -> InboundMessage:
    """The normalised message; raises InvalidField for a refused identity or empty text."""
    if not body.text.replace("\x00", "").strip():
        raise InvalidField("text", "the message is empty")
    return InboundMessage(
        inbox_id=inbox_id,
        external_id=body.message_id,
        identities=identities(body.sender),
        text=body.text,
        sender_name=(body.sender.name or "").strip(),
        html=body.html or None,
        subject=(body.subject or "").strip(),
        received_at=body.sent_at.astimezone(UTC) if body.sent_at else None,
    )
