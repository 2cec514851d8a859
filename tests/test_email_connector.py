"""The email connector end to end: a real Dovecot mailbox into conversations, and back out.

Mail is delivered by APPEND from a second client (a person, or the MTA); the
connector syncs it through the same code the worker runs.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import date

import pytest
from imapclient import IMAPClient
from sqlalchemy import func, select

from inbox.actions.inboxes import do_update_email_settings
from inbox.actions.mail import sync_state
from inbox.channels.email import parse_pool
from inbox.channels.email.connector import EmailConnector
from inbox.channels.email.settings import EmailConfig, EmailSecrets, email_config
from inbox.events import Published
from inbox.models import EmailDetails, Inbox, Message, QuarantinedMail
from inbox.runtime import Runtime
from tests.conftest import World
from tests.dovecot_server import DovecotServer, running_dovecot

PASSWORD = "mailbox-pw"
_users = itertools.count(1)


@pytest.fixture(scope="module")
async def dovecot() -> AsyncIterator[DovecotServer]:
    async with running_dovecot() as server:
        yield server


class Mailbox:
    def __init__(self, server: DovecotServer) -> None:
        self.server = server
        self.user = f"support{next(_users)}@shop.test"
        server.add_user(self.user, PASSWORD)

    def deliver(self, *messages: bytes) -> None:
        with IMAPClient(self.server.host, self.server.port, ssl=False, timeout=5) as client:
            client.login(self.user, PASSWORD)
            for raw in messages:
                client.append("INBOX", raw)

    def flags(self) -> list[tuple[bytes, ...]]:
        with IMAPClient(self.server.host, self.server.port, ssl=False, timeout=5) as client:
            client.login(self.user, PASSWORD)
            client.select_folder("INBOX", readonly=True)
            uids = client.search("ALL")
            return [v[b"FLAGS"] for v in client.fetch(uids, ["FLAGS"]).values()]


async def connector_for(rt: Runtime, world: World, mailbox: Mailbox) -> EmailConnector:
    config = EmailConfig.model_validate(
        {
            "address": mailbox.user,
            "display_name": "Shop support",
            "imap": {"host": mailbox.server.host, "port": mailbox.server.port, "security": "none"},
            "smtp": {"host": "127.0.0.1", "port": 25, "security": "none"},
        }
    )
    inbox = await do_update_email_settings(
        rt, world.admin, world.email_inbox.id, config, EmailSecrets(imap_password=PASSWORD)
    )
    return EmailConnector(rt, inbox)


def mail(n: int, *, sender: str = "maria@example.test", extra: bytes = b"") -> bytes:
    return (
        b"From: Maria Lopez <%s>\r\nTo: support@shop.test\r\nSubject: Order %d\r\n"
        b"Message-ID: <order-%d@example.test>\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\n"
        b"%s\r\nWhere is order %d?\r\n" % (sender.encode(), n, n, extra, n)
    )


async def count(rt: Runtime, model: type[Message] | type[QuarantinedMail]) -> int:
    async with rt.read_sessions() as db:
        return int(await db.scalar(select(func.count()).select_from(model)) or 0)


async def test_new_mail_becomes_conversations_once_and_the_server_copy_is_untouched(
    rt: Runtime, world: World, dovecot: DovecotServer
) -> None:
    mailbox = Mailbox(dovecot)
    mailbox.deliver(mail(1), mail(2))
    connector = await connector_for(rt, world, mailbox)
    assert await connector.sync_now() == 2
    assert await connector.sync_now() == 0  # nothing new, nothing twice
    mailbox.deliver(mail(3))
    assert await connector.sync_now() == 1
    async with rt.read_sessions() as db:
        texts = (await db.scalars(select(Message.text).order_by(Message.id))).all()
        state = await sync_state(db, world.email_inbox.id, "INBOX")
        details = (await db.scalars(select(EmailDetails))).all()
    assert [t.strip() for t in texts] == [f"Where is order {n}?" for n in (1, 2, 3)]
    assert state is not None and state.last_uid == 3 and state.messages_synced == 3
    assert all(d.raw_sha256 and rt.blobs.exists(d.raw_sha256) for d in details)
    # Never marked read on the server: people using the mailbox still see it new.
    assert all(b"\\Seen" not in flags for flags in mailbox.flags())


async def test_a_broken_message_is_quarantined_and_the_rest_still_arrive(
    rt: Runtime, world: World, dovecot: DovecotServer
) -> None:
    mailbox = Mailbox(dovecot)
    nobody = b"To: support@shop.test\r\nSubject: who am I\r\n\r\nno sender at all\r\n"
    mailbox.deliver(mail(11), nobody, mail(12))
    connector = await connector_for(rt, world, mailbox)
    assert await connector.sync_now() == 2
    assert await connector.sync_now() == 0
    async with rt.read_sessions() as db:
        held = (await db.scalars(select(QuarantinedMail))).all()
    assert [(q.uid, q.error) for q in held] == [(2, "it names no sender address")]
    assert held[0].raw_sha256 is not None
    with rt.blobs.open(held[0].raw_sha256) as f:
        assert f.read() == nobody


async def test_a_big_batch_is_parsed_on_other_cores_with_the_same_outcome(
    rt: Runtime, world: World, dovecot: DovecotServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Enough mail at once goes through the parsing pool: threads, quarantine and blobs
    come out as they do one message at a time."""
    assert parse_pool.SPREAD_FROM <= 30
    mailbox = Mailbox(dovecot)
    reply = b"In-Reply-To: <order-1@example.test>\r\n"
    broken = b"To: support@shop.test\r\nSubject: no sender\r\n\r\nwho?\r\n"
    mailbox.deliver(
        *(mail(n) for n in range(1, 15)),
        broken,
        *(mail(n, sender="li@example.test") for n in range(15, 30)),
        mail(30, extra=reply),
    )
    connector = await connector_for(rt, world, mailbox)
    assert await connector.sync_now() == 30
    async with rt.read_sessions() as db:
        rows = (
            await db.execute(
                select(Message.external_id, Message.conversation_id, EmailDetails.raw_sha256)
                .join(EmailDetails, EmailDetails.message_id == Message.id)
                .order_by(Message.id)
            )
        ).all()
        held = (await db.scalars(select(QuarantinedMail))).all()
        state = await sync_state(db, world.email_inbox.id, "INBOX")
    conv = {external_id: conv_id for external_id, conv_id, _ in rows}
    assert len(rows) == 30 and conv["<order-30@example.test>"] == conv["<order-1@example.test>"]
    assert all(rt.blobs.exists(sha) for _, _, sha in rows if sha)
    assert [(q.uid, q.error) for q in held] == [(15, "it names no sender address")]
    assert state is not None and state.last_uid == 31
    # The pool did the work: it did not break and fall back to a thread.
    assert not [r for r in caplog.records if r.name == parse_pool.__name__]


async def test_the_running_connector_takes_new_mail_pushed_by_idle(
    rt: Runtime, world: World, dovecot: DovecotServer
) -> None:
    mailbox = Mailbox(dovecot)
    connector = await connector_for(rt, world, mailbox)
    running = asyncio.create_task(connector.run())
    try:
        with rt.hub.subscribe() as events:
            await asyncio.sleep(1.0)  # connected, synced (nothing), now in IDLE
            mailbox.deliver(mail(21))
            async with asyncio.timeout(10):
                while True:
                    item = await events.queue.get()
                    if isinstance(item, Published) and item.event.type == "message.created":
                        break
        assert await count(rt, Message) == 1
    finally:
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running


async def test_an_inbox_without_settings_says_so_on_its_health(rt: Runtime, world: World) -> None:
    async with rt.read_sessions() as db:
        inbox = await db.get(Inbox, world.email_inbox.id)
    assert inbox is not None and email_config(inbox.config) is None
    await EmailConnector(rt, inbox).run()
    async with rt.read_sessions() as db:
        state = await sync_state(db, inbox.id, "INBOX")
    assert state is not None and state.last_error is not None
    assert "no server settings" in state.last_error


async def test_backfill_imports_history_since_a_day_with_progress_and_never_twice(
    rt: Runtime, world: World, dovecot: DovecotServer
) -> None:
    mailbox = Mailbox(dovecot)
    mailbox.deliver(mail(31), mail(32), mail(33))
    connector = await connector_for(rt, world, mailbox)
    totals: list[int] = []
    steps: list[int] = []
    stored = await connector.backfill(
        date(2000, 1, 1), on_total=totals.append, on_progress=steps.append
    )
    assert (stored, totals, sum(steps)) == (3, [3], 3)
    assert await connector.backfill(date(2000, 1, 1)) == 0  # already there
    assert await connector.sync_now() == 0  # and the live sync agrees
    assert await connector.backfill(date(2999, 1, 1)) == 0  # nothing that recent
