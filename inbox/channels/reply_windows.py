"""When a messaging provider lets us write to a customer, and how.

- WhatsApp: free-form messages only within 24 hours of the customer's last
  message (the customer-service window); outside it, only an approved
  template, chosen from the ones an admin listed on the inbox
  (`config.templates`: name, language, number of body parameters).
- Messenger and Instagram: standard messaging within 24 hours; from then up
  to 7 days a reply goes with the HUMAN_AGENT tag; later, nothing.

The window is measured from the customer's newest message in the
conversation: when the provider says they sent it, else when it arrived.
Both the composer (to warn before sending) and the reply action (to refuse)
read it from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.models import ChannelKind, Direction, Inbox, Message

SERVICE_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)
HUMAN_AGENT_TAG = "HUMAN_AGENT"
# WhatsApp's own limits: template names are lower-case words, a body has at most
# a few dozen parameters of at most 1024 characters each.
MAX_TEMPLATE_PARAMS = 40
MAX_PARAM_CHARS = 1024


class TemplateSpec(BaseModel):
    """An approved WhatsApp template, as an admin lists it on the inbox."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(min_length=1, max_length=512, pattern=r"^[a-z0-9_]+$")]
    language: Annotated[str, Field(min_length=2, max_length=15, pattern=r"^[A-Za-z_]+$")]
    body_params: Annotated[int, Field(ge=0, le=MAX_TEMPLATE_PARAMS)] = 0


def templates(inbox: Inbox) -> list[TemplateSpec]:
    """The inbox's approved templates; a malformed entry is left out, not fatal."""
    found: list[TemplateSpec] = []
    listed = inbox.config.get("templates")
    for raw in listed if isinstance(listed, list) else []:
        try:
            found.append(TemplateSpec.model_validate(raw))
        except ValidationError:
            continue
    return found


@dataclass(frozen=True)
class ReplyWindow:
    """What a reply in a conversation may be, now."""

    channel: ChannelKind
    # A free-form (text) reply may go.
    free_form: bool
    # Meta's message tag it must carry (HUMAN_AGENT), if any.
    tag: str | None
    # Why a free-form reply can't go, or what it goes with; None when all is plain.
    notice: str | None
    # Approved templates the agent may send instead (WhatsApp).
    templates: Sequence[TemplateSpec]

    @property
    def offers_templates(self) -> bool:
        return self.channel is ChannelKind.WHATSAPP


_LABELS = {
    ChannelKind.WHATSAPP: "WhatsApp",
    ChannelKind.MESSENGER: "Messenger",
    ChannelKind.INSTAGRAM: "Instagram",
}
# The channels whose replies a window limits, by their stored value.
WINDOWED_CHANNELS = frozenset(kind.value for kind in _LABELS)


async def last_customer_message_at(session: AsyncSession, conversation_id: int) -> datetime | None:
    newest = (
        await session.execute(
            select(Message.received_at, Message.created_at)
            .where(
                Message.conversation_id == conversation_id,
                Message.direction == Direction.INBOUND,
            )
            .order_by(Message.created_at.desc(), Message.id.desc())
            .limit(1)
        )
    ).first()
    if newest is None:
        return None
    received_at, created_at = newest
    return received_at or created_at


async def reply_window(
    session: AsyncSession, inbox: Inbox, conversation_id: int, now: datetime
) -> ReplyWindow | None:
    """The window of a WhatsApp, Messenger or Instagram conversation; None elsewhere."""
    label = _LABELS.get(inbox.channel)
    if label is None:
        return None
    last = await last_customer_message_at(session, conversation_id)
    age = None if last is None else now - last
    approved = templates(inbox) if inbox.channel is ChannelKind.WHATSAPP else []
    if age is not None and age <= SERVICE_WINDOW:
        return ReplyWindow(inbox.channel, True, None, None, approved)
    since = (
        "The customer has not written in this conversation"
        if age is None
        else "More than 24 hours have passed since the customer's last message"
    )
    if inbox.channel is ChannelKind.WHATSAPP:
        notice = f"{since}: WhatsApp allows only an approved template until they write again."
        return ReplyWindow(inbox.channel, False, None, notice, approved)
    if age is not None and age <= HUMAN_AGENT_WINDOW:
        notice = (
            f"{since}: the reply goes with {label}'s human agent tag, "
            "allowed up to 7 days after it."
        )
        return ReplyWindow(inbox.channel, True, HUMAN_AGENT_TAG, notice, [])
    notice = f"{since}, over 7 days ago: {label} allows no reply until they write again."
    if age is None:
        notice = f"{since}: {label} allows no reply until they write."
    return ReplyWindow(inbox.channel, False, None, notice, [])


def choose_template(
    window: ReplyWindow | None, name: str, params: Sequence[str]
) -> tuple[TemplateSpec, tuple[str, ...]]:
    """The approved template named, with its parameters checked; ValueError says why not."""
    if window is None or not window.offers_templates:
        raise ValueError("only WhatsApp replies can be templates")
    spec = next((t for t in window.templates if t.name == name), None)
    if spec is None:
        raise ValueError(f"{name!r} is not one of this inbox's approved templates")
    values = tuple(p.replace("\x00", "").strip() for p in params)
    if len(values) != spec.body_params:
        raise ValueError(
            f"the template {spec.name} takes {spec.body_params} parameters, not {len(values)}"
        )
    for value in values:
        if not value:
            raise ValueError("a template parameter is empty")
        if len(value) > MAX_PARAM_CHARS:
            raise ValueError(f"a template parameter is longer than {MAX_PARAM_CHARS} characters")
    return spec, values


def template_text(spec: TemplateSpec, params: Sequence[str]) -> str:
    """How a template reply reads in the timeline (the body itself lives at Meta)."""
    shown = f"Template {spec.name} ({spec.language})"
    return f"{shown}: {' | '.join(params)}" if params else shown
