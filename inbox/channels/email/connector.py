"""The email connector: one per email inbox, run by `inbox worker`.

Receiving: sync the folder (inbox.channels.email.imap_sync), hand each message
to ingest, move the checkpoint once the batch is committed, then wait for new
mail by IDLE (or poll). A message that can't be taken in is quarantined with
its raw bytes and the reason, and the sync goes on past it. Connection
failures are recorded for the health panel and retried with backoff; they
never stop the inbox's sending, or any other inbox.

Sending: every few seconds, send what the inbox has queued (sender.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from inbox.actions.mail import (
    do_quarantine_mail,
    do_record_sync_error,
    do_save_checkpoint,
    sync_state,
)
from inbox.channels.base import InboundMessage
from inbox.channels.email.imap_sync import (
    Batch,
    ImapError,
    ImapSettings,
    MailboxState,
    MailboxSync,
)
from inbox.channels.email.normalise import Rejected
from inbox.channels.email.parse_pool import normalise_batch
from inbox.channels.email.sender import send_due
from inbox.channels.email.settings import (
    EmailConfig,
    email_config,
    imap_username,
    smtp_settings,
)
from inbox.channels.ingest import ingest_batch
from inbox.errors import BadRequest, InboxError
from inbox.models import Inbox
from inbox.runtime import Runtime

log = logging.getLogger(__name__)

# Servers end IDLE after about 29 minutes; a shorter wait also bounds how long
# a lost connection can go unnoticed.
IDLE_SECONDS = 5 * 60.0
SEND_EVERY_SECONDS = 5.0
_BACKOFF_START, _BACKOFF_CAP = 1.0, 60.0
# Batches fetched and handed to the parse pool ahead of the one being stored.
_AHEAD = 2


@dataclass(frozen=True)
class _Fetched:
    batch: Batch
    results: list[InboundMessage | Rejected]  # one per message of batch.mails
    oversized: list[tuple[int, int, str, str]]  # (uid, size, raw sha256, why): held for size


def make_connector(rt: Runtime, inbox: Inbox) -> EmailConnector:
    """The `inbox.connectors` entry point for email inboxes."""
    return EmailConnector(rt, inbox)


class EmailConnector:
    def __init__(self, rt: Runtime, inbox: Inbox) -> None:
        self.inbox_id = inbox.id
        self._rt = rt
        self._config = email_config(inbox.config)
        self._secrets: dict[str, Any] = dict(inbox.secrets)
        self._blobs = rt.blobs

    async def run(self) -> None:
        config = self._config
        if config is None:
            # Not set up yet: the worker starts a fresh connector (with the
            # settings as they are then) at its next scan.
            await do_record_sync_error(
                self._rt, self.inbox_id, "INBOX", "no server settings yet: set them up in Inboxes"
            )
            return
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._receive(config), name=f"email-receive-{self.inbox_id}")
            tasks.create_task(self._send(config), name=f"email-send-{self.inbox_id}")

    # -- receiving --------------------------------------------------------

    def _imap(self, config: EmailConfig, folder: str | None = None) -> MailboxSync:
        settings = ImapSettings(
            host=config.imap.host,
            port=config.imap.port,
            username=imap_username(config),
            password=str(self._secrets.get("imap_password", "")),
            folder=folder or config.folder,
            security=config.imap.security,
        )
        return MailboxSync(settings, max_message_bytes=config.max_message_mb * 2**20)

    async def _receive(self, config: EmailConfig) -> None:
        delay = _BACKOFF_START
        while True:
            sync = self._imap(config)
            try:
                while True:
                    await self.sync_once(sync, config)
                    delay = _BACKOFF_START
                    await asyncio.to_thread(sync.wait_for_change, IDLE_SECONDS)
            except ImapError as exc:
                log.warning("email inbox %s: %s; retrying in %.0fs", self.inbox_id, exc, delay)
                await do_record_sync_error(self._rt, self.inbox_id, config.folder, str(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, _BACKOFF_CAP)
            finally:
                # From another thread if a wait is still blocked in IDLE there.
                sync.interrupt()
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(sync.close)

    async def sync_now(self) -> int:
        """One sync on a connection of its own; returns how many messages were stored."""
        config = self._config
        if config is None:
            return 0
        sync = self._imap(config)
        try:
            return await self.sync_once(sync, config)
        finally:
            await asyncio.to_thread(sync.close)

    async def sync_once(self, sync: MailboxSync, config: EmailConfig) -> int:
        """Take in whatever is new in the folder; returns how many messages were stored."""
        async with self._rt.read_sessions() as db:
            saved = await sync_state(db, self.inbox_id, config.folder)
        state = (
            MailboxState(saved.uidvalidity, saved.last_uid, saved.highest_modseq)
            if saved is not None
            else MailboxState()
        )

        async def checkpoint(batch: Batch) -> None:
            # Only now, with every message of the batch committed (or held).
            await do_save_checkpoint(
                self._rt,
                self.inbox_id,
                config.folder,
                uidvalidity=batch.state.uidvalidity,
                last_uid=batch.state.last_uid,
                highest_modseq=batch.state.highest_modseq,
                synced=len(batch.mails),
            )

        return await self._take_all(sync, sync.batches(state), config, config.folder, checkpoint)

    async def _take_all(
        self,
        sync: MailboxSync,
        batches: Iterator[Batch],
        config: EmailConfig,
        folder: str,
        after: Callable[[Batch], Awaitable[None]],
    ) -> int:
        """Take every batch in order; while one is being stored, the next ones are fetched
        and parsed. Returns how many messages were stored.

        Up to `_AHEAD` batches are in the parse pool at once: with only the next
        one there, the workers sat idle whenever storing took longer than
        parsing, and the store waited whenever it took less.
        """
        stored = 0
        slots = asyncio.Semaphore(_AHEAD)
        ready: asyncio.Queue[asyncio.Task[_Fetched] | None] = asyncio.Queue()
        fetching = asyncio.create_task(self._fetch_all(sync, batches, config, slots, ready))
        try:
            while (parsing := await ready.get()) is not None:
                fetched = await parsing
                slots.release()
                stored += await self._store(fetched, folder)
                await after(fetched.batch)
            await fetching  # its error, if any, once what it fetched before is stored
        finally:
            fetching.cancel()
            while not ready.empty():
                if (task := ready.get_nowait()) is not None:
                    task.cancel()
            with contextlib.suppress(BaseException):
                await fetching
        return stored

    async def _fetch_all(
        self,
        sync: MailboxSync,
        batches: Iterator[Batch],
        config: EmailConfig,
        slots: asyncio.Semaphore,
        ready: asyncio.Queue[asyncio.Task[_Fetched] | None],
    ) -> None:
        """Fetch batch after batch from the server, each handed to the parse pool at once;
        a slot is taken for each, and None says there are no more (or the server failed).

        Everything that talks to the server runs here, oversized messages too,
        so the connection is never used by two threads at once.
        """
        try:
            while True:
                await slots.acquire()
                batch = await asyncio.to_thread(next, batches, None)
                if batch is None:
                    return
                oversized = await self._fetch_oversized(sync, batch, config)
                ready.put_nowait(asyncio.create_task(self._parse(batch, oversized, config)))
        finally:
            ready.put_nowait(None)

    async def _fetch_oversized(
        self, sync: MailboxSync, batch: Batch, config: EmailConfig
    ) -> list[tuple[int, int, str, str]]:
        """The batch's messages over the size limit, fetched alone and kept, never dropped."""
        oversized: list[tuple[int, int, str, str]] = []
        for uid, size in batch.oversized:
            big = await asyncio.to_thread(sync.fetch_one, uid, uidvalidity=batch.state.uidvalidity)
            if big is None:
                continue  # deleted on the server since: nothing to keep
            sha256 = await asyncio.to_thread(self._blobs.put, big.raw)
            limit = f"larger than the {config.max_message_mb} MB limit ({size} bytes)"
            oversized.append((uid, size, sha256, limit))
        return oversized

    async def _parse(
        self, batch: Batch, oversized: list[tuple[int, int, str, str]], config: EmailConfig
    ) -> _Fetched:
        results = await normalise_batch(
            self.inbox_id,
            [(mail.raw, mail.internal_date) for mail in batch.mails],
            blobs=self._blobs,
            secret=self._rt.settings.secret_key,
            max_bytes=config.max_message_mb * 2**20,
        )
        return _Fetched(batch, results, oversized)

    async def _store(self, fetched: _Fetched, folder: str) -> int:
        """Hold what can't be taken in, store the rest in one transaction."""
        accepted: list[tuple[int, int, InboundMessage]] = []
        for mail, result in zip(fetched.batch.mails, fetched.results, strict=True):
            if isinstance(result, Rejected):
                await self._quarantine(
                    folder, mail.uid, result.raw_sha256, result.size, result.reason
                )
            else:
                accepted.append((mail.uid, len(mail.raw), result))
        stored = 0
        received = await ingest_batch(self._rt, [inbound for _, _, inbound in accepted])
        for (uid, size, inbound), outcome in zip(accepted, received, strict=True):
            if isinstance(outcome, InboxError):
                sha = inbound.email.raw_sha256 if inbound.email else None
                await self._quarantine(folder, uid, sha, size, outcome.message)
            elif outcome.created:
                stored += 1
        for uid, size, sha256, reason in fetched.oversized:
            await self._quarantine(folder, uid, sha256, size, reason)
        return stored

    async def _quarantine(
        self, folder: str, uid: int, sha256: str | None, size: int, reason: str
    ) -> None:
        log.warning("email inbox %s: UID %s quarantined: %s", self.inbox_id, uid, reason)
        await do_quarantine_mail(
            self._rt,
            self.inbox_id,
            folder=folder,
            uid=uid,
            raw_sha256=sha256,
            size=size,
            error=reason,
        )

    # -- importing history ------------------------------------------------

    async def backfill(
        self,
        since: date,
        *,
        folder: str | None = None,
        on_total: Callable[[int], None] | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> int:
        """Import the mail that arrived since `since`; returns how many messages were new.

        Leaves the live sync's checkpoint alone: ingest skips what is stored
        already, so running it again, or over mail the live sync took, is safe.
        """
        config = self._config
        if config is None:
            raise BadRequest("this email inbox has no server settings yet")
        folder = folder or config.folder
        sync = self._imap(config, folder)
        stored = 0
        try:
            total, batches = await asyncio.to_thread(sync.history, since)
            if on_total:
                on_total(total)

            async def progress(batch: Batch) -> None:
                if on_progress:
                    on_progress(len(batch.mails) + len(batch.oversized))

            stored = await self._take_all(sync, batches, config, folder, progress)
        finally:
            await asyncio.to_thread(sync.close)
        return stored

    # -- sending ----------------------------------------------------------

    async def _send(self, config: EmailConfig) -> None:
        smtp = smtp_settings(config, self._secrets)
        while True:
            try:
                await send_due(self._rt, self.inbox_id, smtp, self._blobs)
            except Exception:
                # A database hiccup: the queue is durable, the next pass retries.
                log.exception("email inbox %s: sending pass failed", self.inbox_id)
            await asyncio.sleep(SEND_EVERY_SECONDS)
