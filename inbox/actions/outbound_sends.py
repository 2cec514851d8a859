"""The durable sending queue of the HTTP-API messaging channels (Telegram,
WhatsApp, Messenger, Instagram, Twilio SMS, the API channel's webhook).

A reply is planned before it is stored (recipient, provider window, template)
and queued in the same transaction as a `OutboundSend` row, so it is never
lost. The worker claims due rows (inbox/channels/provider_sender.py), sends
after the commit, and reports back here: sent (with the provider's message
id, which delivery receipts look up), or failed. A transient failure is
retried with the email queue's backoff (`backoff.py`), honouring a
provider's Retry-After; a permanent one, or too many attempts, marks the
message failed with the provider's reason. Every change is told live.

Claiming moves a row's `next_attempt_at` past the attempt (a lease), in one
transaction that skips rows another sender holds. If a sender dies after
the provider accepted a message but before its success was committed, the
lease runs out and the message is sent again: a crash costs at most one
duplicate, never a lost reply. (The opposite choice, marking sent before
sending, would lose replies silently on a crash.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.channels.provider_send import ProviderRequest, Template
from inbox.channels.reply_windows import choose_template, reply_window, template_text
from inbox.errors import BadRequest, Conflict
from inbox.models import (
    ChannelKind,
    Conversation,
    Delivery,
    Identity,
    IdentityKind,
    Inbox,
    Message,
    OutboundSend,
    utcnow,
)
from inbox.runtime import Runtime

from .backoff import count_failure, count_success, still_queued
from .delivery import fail_unsent, set_delivery
from .transaction import Transaction, transaction

# Whom a reply goes to on each channel: the customer's identity of these
# kinds, in this order (a WhatsApp or SMS reply can use either number).
RECIPIENT_KINDS: dict[ChannelKind, tuple[IdentityKind, ...]] = {
    ChannelKind.TELEGRAM: (IdentityKind.TELEGRAM,),
    ChannelKind.WHATSAPP: (IdentityKind.WHATSAPP, IdentityKind.PHONE),
    ChannelKind.MESSENGER: (IdentityKind.MESSENGER,),
    ChannelKind.INSTAGRAM: (IdentityKind.INSTAGRAM,),
    ChannelKind.SMS: (IdentityKind.PHONE, IdentityKind.WHATSAPP),
    ChannelKind.API: (IdentityKind.API,),
}
# Longer than any one attempt takes (its HTTP timeout is 20 s).
LEASE = timedelta(minutes=2)


@dataclass(frozen=True)
class TemplateChoice:
    """An agent's pick of an approved template, with its body's parameters."""

    name: str
    params: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProviderPlan:
    """How a reply will go, decided before it is stored."""

    inbox: Inbox
    to: str | None
    # The timeline's text for a template reply; None keeps the agent's text.
    text: str | None = None
    template: Template | None = None
    tag: str | None = None


def is_provider_channel(channel: ChannelKind) -> bool:
    return channel in RECIPIENT_KINDS


async def plan_provider_reply(
    session: AsyncSession, conv: Conversation, template: TemplateChoice | None
) -> ProviderPlan | None:
    """Check a reply against its channel's window; None for channels not sent here.

    A free-form reply outside the window is refused (409, the reason, and the
    templates that may go instead), before anything is stored.
    """
    inbox = await session.get(Inbox, conv.inbox_id)
    assert inbox is not None  # a foreign key
    if not is_provider_channel(inbox.channel):
        if template is not None:
            raise BadRequest("only WhatsApp replies can be templates")
        return None
    window = await reply_window(session, inbox, conv.id, utcnow())
    to = await _recipient(session, conv.customer_id, RECIPIENT_KINDS[inbox.channel])
    if template is not None:
        try:
            spec, params = choose_template(window, template.name, template.params)
        except ValueError as exc:
            raise BadRequest(str(exc)) from exc
        chosen = Template(spec.name, spec.language, params)
        return ProviderPlan(inbox, to, text=template_text(spec, params), template=chosen)
    if window is not None and not window.free_form:
        raise Conflict(
            window.notice or "the provider allows no reply now",
            reason="outside_window",
            templates=[t.name for t in window.templates],
        )
    return ProviderPlan(inbox, to, tag=window.tag if window else None)


async def queue_provider_reply(tx: Transaction, message: Message, plan: ProviderPlan) -> None:
    """Queue the stored reply for its provider, in the reply's transaction."""
    if plan.to is None:
        kinds = " or ".join(k.value for k in RECIPIENT_KINDS[plan.inbox.channel])
        fail_unsent(message, f"the customer has no {kinds} identity to reply to")
        return
    request = ProviderRequest(
        to=plan.to,
        text=None if plan.template else message.text,
        template=plan.template,
        tag=plan.tag,
        message_id=message.id,
        conversation_id=message.conversation_id,
    )
    tx.session.add(
        OutboundSend(message_id=message.id, inbox_id=plan.inbox.id, request=request.to_json())
    )


async def _recipient(
    session: AsyncSession, customer_id: int, kinds: Sequence[IdentityKind]
) -> str | None:
    for kind in kinds:
        # The customer's first identity of the kind, as email replies do.
        value = await session.scalar(
            select(Identity.value)
            .where(Identity.customer_id == customer_id, Identity.kind == kind)
            .order_by(Identity.id)
            .limit(1)
        )
        if value is not None:
            return value
    return None


async def do_claim_due_sends(rt: Runtime, inbox_id: int, *, limit: int = 20) -> list[OutboundSend]:
    """Take the inbox's due sends for one attempt each, oldest first.

    Rows another sender holds are skipped (PostgreSQL's SKIP LOCKED; SQLite
    serialises writers anyway), and each taken row is leased for `LEASE`.
    """
    now = utcnow()
    async with transaction(rt) as tx:
        rows = list(
            (
                await tx.session.scalars(
                    select(OutboundSend)
                    .where(
                        OutboundSend.inbox_id == inbox_id,
                        OutboundSend.sent_at.is_(None),
                        OutboundSend.gave_up_at.is_(None),
                        OutboundSend.next_attempt_at <= now,
                    )
                    .order_by(OutboundSend.next_attempt_at)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            ).all()
        )
        for row in rows:
            row.next_attempt_at = now + LEASE
    return rows


async def do_mark_send_sent(rt: Runtime, message_id: int, external_id: str | None) -> None:
    """The provider accepted the message, under `external_id` (its message id)."""
    async with transaction(rt) as tx:
        queued = await tx.session.get(OutboundSend, message_id)
        if queued is None or not still_queued(queued):
            return
        count_success(queued)
        message = await tx.session.get(Message, message_id)
        if message is None:
            return
        if external_id and not await _id_taken(tx.session, message.inbox_id, external_id):
            message.external_id = external_id
        # A receipt can't have moved it on yet: receipts find it by that very id.
        if message.delivery in (None, Delivery.QUEUED):
            await set_delivery(tx, message_id, Delivery.SENT, None)


async def _id_taken(session: AsyncSession, inbox_id: int, external_id: str) -> bool:
    # One id per inbox (the ingest constraint); a provider reusing one must not
    # make our success fail to commit, and so be sent again.
    found = await session.scalar(
        select(Message.id).where(Message.inbox_id == inbox_id, Message.external_id == external_id)
    )
    return found is not None


async def do_mark_send_failed(
    rt: Runtime,
    message_id: int,
    reason: str,
    *,
    permanent: bool,
    retry_after: timedelta | None = None,
) -> bool:
    """Count a failed attempt; True when the queue gave up and the message is failed."""
    async with transaction(rt) as tx:
        queued = await tx.session.get(OutboundSend, message_id)
        if queued is None or not still_queued(queued):
            return False
        gave_up = count_failure(queued, reason, permanent=permanent, retry_after=retry_after)
        if gave_up:
            await set_delivery(tx, message_id, Delivery.FAILED, reason)
    return gave_up
