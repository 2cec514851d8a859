"""The email connector's bookkeeping: sync checkpoints, sync health, quarantine.

A folder's checkpoint moves only after the messages it covers are committed
(each message commits on its own, through ingest). A crash in between means
the next sync fetches them again, and ingest finds them by Message-ID: no
loss, no duplicate.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.access import admin_audience
from inbox.events import Audience, MailQuarantined
from inbox.models import MailSyncState, QuarantinedMail, utcnow
from inbox.runtime import Runtime

from .transaction import transaction

# Shown to admins; a longer reason is cut here rather than by the database.
_MAX_ERROR = 2000


async def sync_state(session: AsyncSession, inbox_id: int, folder: str) -> MailSyncState | None:
    return await session.scalar(
        select(MailSyncState).where(
            MailSyncState.inbox_id == inbox_id, MailSyncState.folder == folder
        )
    )


async def _state_for_update(session: AsyncSession, inbox_id: int, folder: str) -> MailSyncState:
    state = await sync_state(session, inbox_id, folder)
    if state is None:
        state = MailSyncState(inbox_id=inbox_id, folder=folder, last_uid=0, messages_synced=0)
        session.add(state)
    return state


async def do_save_checkpoint(
    rt: Runtime,
    inbox_id: int,
    folder: str,
    *,
    uidvalidity: int | None,
    last_uid: int,
    highest_modseq: int | None,
    synced: int,
) -> None:
    """Record how far a folder is synced, once what it covers is committed."""
    async with transaction(rt) as tx:
        state = await _state_for_update(tx.session, inbox_id, folder)
        state.uidvalidity = uidvalidity
        state.last_uid = last_uid
        state.highest_modseq = highest_modseq
        state.messages_synced += synced
        state.last_sync_at = state.last_success_at = utcnow()
        state.last_error = None


async def do_record_sync_error(rt: Runtime, inbox_id: int, folder: str, error: str) -> None:
    """A sync attempt failed (server down, wrong password): the health panel says why."""
    async with transaction(rt) as tx:
        state = await _state_for_update(tx.session, inbox_id, folder)
        state.last_sync_at = state.last_error_at = utcnow()
        state.last_error = error[:_MAX_ERROR]


async def do_quarantine_mail(
    rt: Runtime,
    inbox_id: int,
    *,
    folder: str,
    uid: int | None,
    raw_sha256: str | None,
    size: int,
    error: str,
) -> QuarantinedMail:
    """Keep a message that could not be taken in, with its raw bytes' hash and the reason.

    The same bytes already waiting are not held twice: a sync that crashed
    after quarantining but before its checkpoint meets the message again.
    """
    async with transaction(rt) as tx:
        if raw_sha256 is not None:
            waiting = await tx.session.scalar(
                select(QuarantinedMail).where(
                    QuarantinedMail.inbox_id == inbox_id,
                    QuarantinedMail.raw_sha256 == raw_sha256,
                    QuarantinedMail.resolved_at.is_(None),
                )
            )
            if waiting is not None:
                return waiting
        held = QuarantinedMail(
            inbox_id=inbox_id,
            folder=folder,
            uid=uid,
            raw_sha256=raw_sha256,
            size=size,
            error=error[:_MAX_ERROR],
        )
        tx.session.add(held)
        await tx.session.flush()
        tx.audit(None, "mail.quarantined", "inbox", inbox_id, quarantine_id=held.id, uid=uid)
        tx.emit(
            MailQuarantined(quarantine_id=held.id, inbox_id=inbox_id),
            Audience(await admin_audience(tx.session)),
        )
    return held
