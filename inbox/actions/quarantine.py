"""What admins do with held emails: take one in after all, or let it go.

Reprocessing runs the message's kept raw bytes through the same normaliser
and ingest as the connector, with the inbox's settings as they are now (a
raised size limit, a fixed parser). Dismissing keeps the raw bytes: nothing a
customer sent is ever deleted by it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from inbox.access import admin_audience
from inbox.channels.email.normalise import Rejected, to_inbound
from inbox.channels.email.settings import email_config
from inbox.errors import Conflict, InboxError, NotFound
from inbox.events import Audience, MailQuarantineResolved
from inbox.models import Agent, Inbox, QuarantinedMail, utcnow
from inbox.runtime import Runtime

from .agents import check_admin
from .inbound import do_receive_message
from .transaction import transaction


@dataclass(frozen=True)
class Reprocessed:
    message_id: int | None  # None: it still can't be taken in
    reason: str | None  # why not, when it can't


async def do_reprocess_quarantined(rt: Runtime, actor: Agent, quarantine_id: int) -> Reprocessed:
    check_admin(actor)
    held, inbox = await _held(rt, quarantine_id)
    config = email_config(inbox.config)
    if held.raw_sha256 is None or not rt.blobs.exists(held.raw_sha256):
        return await _still_held(rt, held, "its raw bytes were not kept")
    with rt.blobs.open(held.raw_sha256) as f:
        raw = await asyncio.to_thread(f.read)
    result = await asyncio.to_thread(
        to_inbound,
        inbox.id,
        raw,
        blobs=rt.blobs,
        secret=rt.settings.secret_key,
        max_bytes=(config.max_message_mb if config else 25) * 2**20,
    )
    if isinstance(result, Rejected):
        return await _still_held(rt, held, result.reason)
    try:
        received = await do_receive_message(rt, result)
    except InboxError as exc:
        return await _still_held(rt, held, exc.message)
    await _resolve(rt, actor, held, "reprocessed", received.message.id)
    return Reprocessed(received.message.id, None)


async def do_dismiss_quarantined(rt: Runtime, actor: Agent, quarantine_id: int) -> None:
    check_admin(actor)
    held, _ = await _held(rt, quarantine_id)
    await _resolve(rt, actor, held, "dismissed", None)


async def _held(rt: Runtime, quarantine_id: int) -> tuple[QuarantinedMail, Inbox]:
    async with rt.read_sessions() as db:
        held = await db.get(QuarantinedMail, quarantine_id)
        inbox = await db.get(Inbox, held.inbox_id) if held is not None else None
    if held is None or inbox is None:
        raise NotFound("no held email with this id")
    if held.resolved_at is not None:
        raise Conflict(f"this email was {held.resolution} already")
    return held, inbox


async def _still_held(rt: Runtime, held: QuarantinedMail, reason: str) -> Reprocessed:
    async with transaction(rt) as tx:
        current = await tx.session.get(QuarantinedMail, held.id)
        if current is not None:
            current.error = reason
    return Reprocessed(None, reason)


async def _resolve(
    rt: Runtime, actor: Agent, held: QuarantinedMail, resolution: str, message_id: int | None
) -> None:
    async with transaction(rt) as tx:
        current = await tx.session.get(QuarantinedMail, held.id)
        if current is None or current.resolved_at is not None:
            raise Conflict("this email was resolved already")
        current.resolved_at = utcnow()
        current.resolution = resolution
        current.message_id = message_id
        tx.audit(actor, f"mail.{resolution}", "inbox", held.inbox_id, quarantine_id=held.id)
        tx.emit(
            MailQuarantineResolved(
                quarantine_id=held.id,
                inbox_id=held.inbox_id,
                resolution="reprocessed" if resolution == "reprocessed" else "dismissed",
                message_id=message_id,
            ),
            Audience(await admin_audience(tx.session)),
        )
