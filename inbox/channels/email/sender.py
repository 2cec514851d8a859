"""Sending what an email inbox has queued: one pass over its due emails.

Each email is read back from the blob store exactly as composed when the
reply was stored, so every attempt sends the same bytes (and Message-ID).
"""

from __future__ import annotations

import asyncio
import logging

from inbox.actions.outbound_mail import do_mark_email_failed, do_mark_email_sent, due_emails
from inbox.blobs import BlobStore
from inbox.channels.email.smtp_send import SmtpFailure, SmtpSettings, send_raw
from inbox.models import utcnow
from inbox.runtime import Runtime

log = logging.getLogger(__name__)


async def send_due(rt: Runtime, inbox_id: int, smtp: SmtpSettings, blobs: BlobStore) -> int:
    """Attempt every due email of this inbox once; returns how many went out."""
    async with rt.read_sessions() as db:
        due = await due_emails(db, utcnow(), inbox_id=inbox_id)
    sent = 0
    for queued in due:
        raw = await asyncio.to_thread(blobs.read, queued.raw_sha256)
        if raw is None:
            await do_mark_email_failed(
                rt, queued.message_id, "the composed email is missing from storage", permanent=True
            )
            continue
        try:
            await send_raw(
                smtp,
                sender=str(queued.recipients["from"]),
                recipients=[str(r) for r in queued.recipients["to"]],
                raw=raw,
            )
        except SmtpFailure as failure:
            gave_up = await do_mark_email_failed(
                rt, queued.message_id, failure.reason, permanent=failure.permanent
            )
            log.warning(
                "email %s not sent (%s)%s",
                queued.message_id,
                failure.reason,
                "; gave up" if gave_up else "; will retry",
            )
            continue
        await do_mark_email_sent(rt, queued.message_id)
        sent += 1
    return sent
