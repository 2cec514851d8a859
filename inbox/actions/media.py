"""Media on customers' messages: queued with the message, fetched later, then attached.

Ingest queues one `MessageMedia` row per file in the message's own
transaction (`media_rows`), so a 2xx to the provider means the message and
its pending files are stored, and a redelivery queues nothing again. The
worker (inbox/channels/media_fetcher.py) then:

1. claims a due row (`claim_media`): one conditional UPDATE that counts the
   attempt and leases the row, so of several workers exactly one fetches it;
2. fetches the file through the SSRF guard and puts it in the blob store;
3. reports here: `do_attach_media` adds the attachment, or `do_fail_media`
   schedules a retry (a transient failure, a few times) or gives up and
   leaves the reason on the message ("attachment could not be fetched: …").

Both reports apply only while the claim is still the row's latest: a worker
whose lease ran out and was overtaken writes nothing, so no file is attached
twice. Either outcome is told live (`message.media_fetched`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.access import inbox_audience
from inbox.channels.base import InboundMedia
from inbox.events import Audience, MessageMediaFetched
from inbox.models import Attachment, Message, MessageMedia, utcnow
from inbox.runtime import Runtime

from .backoff import retry_delay
from .transaction import Transaction, transaction

# A first try and three retries (30 s, 1 min, 2 min later): a provider's
# hiccup passes; a file that is gone stays gone.
MAX_ATTEMPTS = 4
# Longer than the guard lets one fetch take, so a live fetch is never overtaken.
LEASE = timedelta(minutes=5)
FAILED_NOTE = "attachment could not be fetched: "


@dataclass(frozen=True)
class Claim:
    """A worker's hold on one file: valid while the row's attempts still equal `attempt`."""

    media_id: int
    attempt: int


def media_rows(message: Message, media: Sequence[InboundMedia]) -> list[MessageMedia]:
    """The queue rows for a new message's files (written in the ingest transaction)."""
    return [
        MessageMedia(
            message_id=message.id,
            inbox_id=message.inbox_id,
            position=position,
            source=item.source,
            ref=item.ref,
            filename=_clean(item.filename),
            content_type=_clean(item.content_type),
        )
        for position, item in enumerate(media)
    ]


async def due_media(session: AsyncSession, now: datetime, *, limit: int = 20) -> list[MessageMedia]:
    """Files due for a (first or next) attempt, oldest first."""
    rows = await session.scalars(
        select(MessageMedia)
        .where(MessageMedia.done_at.is_(None), MessageMedia.next_attempt_at <= now)
        .order_by(MessageMedia.next_attempt_at, MessageMedia.id)
        .limit(limit)
    )
    return list(rows.all())


async def claim_media(rt: Runtime, item: MessageMedia) -> Claim | None:
    """Take the file for one attempt, or None when another worker has it (or it is done)."""
    now = utcnow()
    claim = Claim(item.id, item.attempts + 1)
    async with transaction(rt) as tx:
        taken = await _update_if_held(
            tx.session,
            Claim(item.id, item.attempts),
            {"attempts": claim.attempt, "next_attempt_at": now + LEASE},
            MessageMedia.next_attempt_at <= now,
        )
    return claim if taken else None


async def _update_if_held(
    session: AsyncSession, claim: Claim, values: dict[str, object], *also: ColumnElement[bool]
) -> bool:
    """One conditional UPDATE: applied only while the row is pending at the claim's attempt."""
    result = await session.execute(
        update(MessageMedia)
        .where(
            MessageMedia.id == claim.media_id,
            MessageMedia.done_at.is_(None),
            MessageMedia.attempts == claim.attempt,
            *also,
        )
        .values(**values)
    )
    assert isinstance(result, CursorResult)
    return result.rowcount == 1


async def _close(
    tx: Transaction, claim: Claim, **values: object
) -> tuple[MessageMedia, Message] | None:
    """Mark the file done if the claim still holds: the row and its message, or None
    when another worker overtook this one."""
    if not await _update_if_held(tx.session, claim, {"done_at": utcnow(), **values}):
        return None
    item = await tx.session.get(MessageMedia, claim.media_id, populate_existing=True)
    message = None if item is None else await tx.session.get(Message, item.message_id)
    return None if item is None or message is None else (item, message)


async def do_attach_media(
    rt: Runtime, claim: Claim, *, filename: str, content_type: str, size: int, sha256: str
) -> Attachment | None:
    """Attach a fetched file (its bytes already in the blob store); None if overtaken."""
    async with transaction(rt) as tx:
        closed = await _close(tx, claim, last_error=None)
        if closed is None:
            return None
        item, message = closed
        attachment = Attachment(
            message_id=message.id,
            filename=_clean(filename),
            content_type=_clean(content_type),
            size=size,
            sha256=sha256,
        )
        tx.session.add(attachment)
        await tx.session.flush()
        item.attachment_id = attachment.id
        tx.audit(None, "message.media_attached", "message", message.id, attachment_id=attachment.id)
        await _announce(tx, message, "attached")
        return attachment


async def do_fail_media(rt: Runtime, claim: Claim, reason: str, *, transient: bool) -> bool:
    """Count a failed attempt; True when it gave up and the reason is now on the message."""
    async with transaction(rt) as tx:
        if transient and claim.attempt < MAX_ATTEMPTS:
            retry_at = utcnow() + retry_delay(claim.attempt)
            await _update_if_held(
                tx.session, claim, {"last_error": reason, "next_attempt_at": retry_at}
            )
            return False
        closed = await _close(tx, claim, last_error=reason)
        if closed is None:
            return False
        _, message = closed
        note = FAILED_NOTE + reason
        message.media_error = f"{message.media_error}\n{note}" if message.media_error else note
        tx.audit(None, "message.media_failed", "message", message.id, reason=reason)
        await _announce(tx, message, "failed")
        return True


def _clean(value: str) -> str:
    # PostgreSQL refuses NUL in text; the columns hold 255 characters.
    return value.replace("\x00", "")[:255]


async def _announce(tx: Transaction, message: Message, outcome: str) -> None:
    tx.emit(
        MessageMediaFetched(
            message_id=message.id,
            conversation_id=message.conversation_id,
            inbox_id=message.inbox_id,
            customer_id=message.customer_id,
            outcome="attached" if outcome == "attached" else "failed",
        ),
        Audience(await inbox_audience(tx.session, message.inbox_id)),
    )
