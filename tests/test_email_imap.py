"""The email channel's IMAP sync, against a real Dovecot on loopback.

Mail is seeded by APPEND from a second client, which also plays the humans who
read, move and delete messages in their own mail program meanwhile. What our
client sends is read from imapclient's debug log, so "nothing but one EXAMINE"
is checked on the wire, not inferred.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

import pytest
from imapclient import IMAPClient

from inbox.channels.email import imap_sync
from inbox.channels.email.imap_sync import (
    Batch,
    ImapError,
    ImapSettings,
    MailboxState,
    MailboxSync,
)
from tests.dovecot_server import DovecotServer, running_dovecot
from tests.live import free_port

PASSWORD = "correct-horse-battery"
# What Dovecot 2.3 advertises, less CONDSTORE, QRESYNC and IDLE: an older server.
PLAIN_CAPABILITIES = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE LITERAL+ UIDPLUS UNSELECT MOVE"

_users = itertools.count(1)


@pytest.fixture(scope="module")
async def dovecot() -> AsyncIterator[DovecotServer]:
    async with running_dovecot() as server:
        yield server


@pytest.fixture(scope="module")
async def old_dovecot() -> AsyncIterator[DovecotServer]:
    async with running_dovecot(PLAIN_CAPABILITIES) as server:
        yield server


@dataclass
class Account:
    """A fresh user (so an empty mailbox) on a server."""

    server: DovecotServer
    username: str

    @property
    def settings(self) -> ImapSettings:
        return ImapSettings(
            self.server.host,
            self.server.port,
            self.username,
            PASSWORD,
            security="none",
            timeout=5.0,
        )

    def sync(self, folder: str = "INBOX", **limits: int) -> MailboxSync:
        return MailboxSync(replace(self.settings, folder=folder), **limits)

    @contextmanager
    def human(self) -> Iterator[IMAPClient]:
        """Another client on the same mailbox: a person in their mail program."""
        with IMAPClient(self.server.host, self.server.port, ssl=False, timeout=5) as client:
            client.login(self.username, PASSWORD)
            yield client

    def deliver(self, *messages: bytes, folder: str = "INBOX") -> None:
        with self.human() as client:
            for raw in messages:
                client.append(folder, raw)


def new_account(server: DovecotServer) -> Account:
    username = f"user{next(_users)}@example.test"
    server.add_user(username, PASSWORD)
    return Account(server, username)


@pytest.fixture
def account(dovecot: DovecotServer) -> Account:
    return new_account(dovecot)


def mail(n: int, padding: int = 0) -> bytes:
    body = b"Hello, number %d.\r\n" % n + b"x" * padding + b"\r\n"
    return (
        b"From: Maria <maria@example.test>\r\n"
        b"To: support@example.test\r\n"
        b"Subject: Order %d\r\n"
        b"Message-ID: <order-%d@example.test>\r\n"
        b"\r\n" % (n, n)
    ) + body


def everything(sync: MailboxSync, state: MailboxState) -> list[Batch]:
    return list(sync.batches(state))


def uids(batches: list[Batch]) -> list[int]:
    return [m.uid for b in batches for m in b.mails]


@contextmanager
def wire(caplog: pytest.LogCaptureFixture) -> Iterator[list[str]]:
    """The commands our client sends inside the block, without tag or UID
    prefix: `EXAMINE "INBOX"`, `SEARCH UID 1:*`, `FETCH 1,2 (BODY.PEEK[])`."""
    sent: list[str] = []
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="imapclient"):
        yield sent
    for record in caplog.records:
        if match := re.match(r"> b'\S+ (?:UID )?(.*)'$", record.getMessage()):
            sent.append(match[1])


def verbs(commands: list[str]) -> list[str]:
    return [c.split()[0] for c in commands]


# -- syncing ----------------------------------------------------------------


def test_first_sync_fetches_everything_in_bounded_batches(
    account: Account, caplog: pytest.LogCaptureFixture
) -> None:
    sent = [mail(n) for n in range(1, 26)]
    account.deliver(*sent)
    with account.sync(batch_messages=10) as sync, wire(caplog) as commands:
        batches = everything(sync, MailboxState())

    assert [len(b.mails) for b in batches] == [10, 10, 5]
    assert [m.raw for b in batches for m in b.mails] == sent  # byte for byte
    assert uids(batches) == list(range(1, 26))
    assert all(m.size == len(m.raw) for b in batches for m in b.mails)
    assert all(m.internal_date and m.internal_date.tzinfo for b in batches for m in b.mails)
    states = [b.state for b in batches]
    assert [s.last_uid for s in states] == [10, 20, 25]
    assert len({s.uidvalidity for s in states}) == 1 and states[0].uidvalidity
    # Only the last checkpoint may say "complete as of this HIGHESTMODSEQ".
    assert [s.highest_modseq is not None for s in states] == [False, False, True]
    assert not any(b.reset or b.oversized for b in batches)
    # One EXAMINE, one SEARCH, one FETCH of sizes, one FETCH per batch.
    assert verbs(commands) == ["EXAMINE", "SEARCH", "FETCH", "FETCH", "FETCH", "FETCH"]


def test_batches_are_bounded_by_bytes_too(account: Account) -> None:
    # ~1 KB each, then one bigger than a whole batch's budget but under the limit.
    account.deliver(*(mail(n, padding=900) for n in range(1, 6)), mail(6, padding=5000))
    with account.sync(batch_bytes=2500, max_message_bytes=10_000) as sync:
        batches = everything(sync, MailboxState())
    assert [[m.uid for m in b.mails] for b in batches] == [[1, 2], [3, 4], [5], [6]]
    assert all(sum(m.size for m in b.mails) <= 2500 for b in batches[:-1])


def test_sizes_are_asked_for_window_by_window_as_the_batches_get_there(
    account: Account, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Scaled down from 1000 UIDs a window to 3: the first batch goes out after
    # one window's sizes, not after all of them; a message deleted before its
    # window is sized is passed over, never fetched.
    monkeypatch.setattr(imap_sync, "_SIZE_WINDOW", 3)
    account.deliver(*(mail(n) for n in range(1, 11)))
    with account.sync(batch_messages=2) as sync:
        batches = sync.batches(MailboxState())
        with wire(caplog) as until_first:
            first = next(batches)
        with account.human() as human:
            human.select_folder("INBOX")
            human.delete_messages([9])
            human.expunge()
        with wire(caplog) as after_first:
            rest = list(batches)
    commands = until_first + after_first
    assert [m.uid for m in first.mails] == [1, 2]
    # The first batch waited only for the windows that plan it and the next
    # batch (planned one ahead, to know which batch is the last), not for all.
    assert [c for c in until_first if c.startswith("FETCH")] == [
        "FETCH 1,2,3 (RFC822.SIZE INTERNALDATE)",
        "FETCH 4,5,6 (RFC822.SIZE INTERNALDATE)",
        "FETCH 1,2 (BODY.PEEK[])",
    ]
    assert uids([first, *rest]) == [1, 2, 3, 4, 5, 6, 7, 8, 10]
    assert rest[-1].state.last_uid == 10
    sizing = [c for c in commands if c.endswith("(RFC822.SIZE INTERNALDATE)")]
    assert sizing == [
        "FETCH 1,2,3 (RFC822.SIZE INTERNALDATE)",
        "FETCH 4,5,6 (RFC822.SIZE INTERNALDATE)",
        "FETCH 7,8,9 (RFC822.SIZE INTERNALDATE)",
        "FETCH 10 (RFC822.SIZE INTERNALDATE)",
    ]


def test_resume_fetches_only_newer_mail(account: Account, caplog: pytest.LogCaptureFixture) -> None:
    account.deliver(mail(1), mail(2), mail(3))
    with account.sync() as sync:
        (first,) = everything(sync, MailboxState())
        account.deliver(mail(4), mail(5))
        with wire(caplog) as commands:
            (second,) = everything(sync, first.state)
    assert [m.uid for m in second.mails] == [4, 5]
    assert [m.raw for m in second.mails] == [mail(4), mail(5)]
    assert second.state.last_uid == 5
    assert verbs(commands) == ["EXAMINE", "SEARCH", "FETCH", "FETCH"]


def test_an_interrupted_sync_resumes_from_the_last_committed_batch(account: Account) -> None:
    account.deliver(*(mail(n) for n in range(1, 8)))
    with account.sync(batch_messages=3) as sync:
        for batch in sync.batches(MailboxState()):
            committed = batch.state
            break  # the worker died after committing the first batch
        rest = everything(sync, committed)
    assert uids(rest) == [4, 5, 6, 7]
    assert rest[-1].state.highest_modseq is not None


# A new sync on a fresh connection, as after a worker restart, must agree too.
def test_a_new_connection_resumes_from_a_checkpoint(account: Account) -> None:
    account.deliver(mail(1), mail(2))
    with account.sync() as sync:
        (first,) = everything(sync, MailboxState())
    account.deliver(mail(3))
    with account.sync() as sync:
        assert uids(everything(sync, first.state)) == [3]


def test_an_unchanged_mailbox_costs_one_examine(
    account: Account, caplog: pytest.LogCaptureFixture
) -> None:
    account.deliver(mail(1), mail(2))
    with account.sync() as sync:
        (batch,) = everything(sync, MailboxState())
        with wire(caplog) as commands:
            assert everything(sync, batch.state) == []
        assert verbs(commands) == ["EXAMINE"]

        # A human reading a message moves HIGHESTMODSEQ but brings no mail:
        # still no SEARCH or FETCH, and the checkpoint catches up.
        with account.human() as human:
            human.select_folder("INBOX")
            human.add_flags([1], [b"\\Seen"])
        with wire(caplog) as commands:
            (moved,) = everything(sync, batch.state)
        assert verbs(commands) == ["EXAMINE"]
        assert moved.mails == () and moved.state.last_uid == 2
        assert moved.state.highest_modseq != batch.state.highest_modseq


def test_condstore_makes_a_poll_free_even_when_uidnext_has_a_gap(
    account: Account, caplog: pytest.LogCaptureFixture
) -> None:
    """Mail that came and went before we saw it leaves UIDNEXT past our last
    UID for good. Without CONDSTORE every poll would SEARCH; with it, only the
    first does."""
    account.deliver(mail(1))
    with account.sync() as sync:
        (batch,) = everything(sync, MailboxState())
        with account.human() as human:
            human.append("INBOX", mail(2))
            human.select_folder("INBOX")
            human.delete_messages([2])
            human.expunge()
        with wire(caplog) as commands:
            (empty,) = everything(sync, batch.state)
        assert verbs(commands) == ["EXAMINE", "SEARCH"]
        assert empty.mails == () and empty.state.last_uid == 1
        with wire(caplog) as commands:
            assert everything(sync, empty.state) == []
        assert verbs(commands) == ["EXAMINE"]


def test_a_server_without_condstore_or_idle(old_dovecot: DovecotServer) -> None:
    account = new_account(old_dovecot)
    account.deliver(mail(1), mail(2))
    with account.sync() as sync:
        assert "CONDSTORE" not in sync.capabilities() and "IDLE" not in sync.capabilities()
        (batch,) = everything(sync, MailboxState())
        assert uids([batch]) == [1, 2] and batch.state.highest_modseq is None
        assert everything(sync, batch.state) == []  # UIDNEXT alone says nothing is new
        account.deliver(mail(3))
        assert uids(everything(sync, batch.state)) == [3]
        # No IDLE: wait_for_change is a plain sleep, then "go and look".
        started = time.monotonic()
        assert sync.wait_for_change(0.2) is True
        assert time.monotonic() - started >= 0.2


def test_a_recreated_folder_resets_the_checkpoint(account: Account) -> None:
    with account.human() as human:
        human.create_folder("Support")
    account.deliver(mail(1), mail(2), mail(3), folder="Support")
    with account.sync("Support") as sync:
        (before,) = everything(sync, MailboxState())
        with account.human() as human:
            human.delete_folder("Support")
            human.create_folder("Support")
        account.deliver(mail(4), mail(5), folder="Support")
        after = everything(sync, before.state)
        # Nothing new in the new folder after that, and no more resets.
        again = everything(sync, after[-1].state)

    assert after[0].reset and not any(b.reset for b in after[1:])
    assert after[0].state.uidvalidity != before.state.uidvalidity
    assert [m.raw for b in after for m in b.mails] == [mail(4), mail(5)]
    assert uids(after) == [1, 2]  # UIDs start over: the old checkpoint (3) would skip them
    assert again == []


def test_a_recreated_empty_folder_still_reports_the_reset(account: Account) -> None:
    with account.human() as human:
        human.create_folder("Support")
    account.deliver(mail(1), folder="Support")
    with account.sync("Support") as sync:
        (before,) = everything(sync, MailboxState())
        with account.human() as human:
            human.delete_folder("Support")
            human.create_folder("Support")
        (after,) = everything(sync, before.state)
    assert after.reset and after.mails == () and after.state.last_uid == 0


# -- other clients, flags -----------------------------------------------------


def test_sync_never_marks_mail_seen(account: Account) -> None:
    account.deliver(mail(1), mail(2))
    with account.sync() as sync:
        everything(sync, MailboxState())
        assert sync.fetch_one(1) is not None
    with account.human() as human:
        human.select_folder("INBOX", readonly=True)
        flags = human.get_flags([1, 2])
    assert all(b"\\Seen" not in f for f in flags.values()), flags


def test_other_clients_reading_moving_and_deleting_mid_sync(account: Account) -> None:
    account.deliver(*(mail(n) for n in range(1, 13)))
    with account.sync(batch_messages=4) as sync:
        batches = sync.batches(MailboxState())
        first = next(batches)  # sizes of all twelve are known by now
        with account.human() as human:
            human.create_folder("Archive")
            human.select_folder("INBOX")
            human.add_flags([5], [b"\\Seen"])
            human.move([6], "Archive")
            human.delete_messages([2, 7])  # 2 was already handed over
            human.expunge()
        rest = list(batches)
        # Between syncs too: read, move and delete, then one new message.
        with account.human() as human:
            human.select_folder("INBOX")
            human.add_flags([8], [b"\\Seen"])
            human.move([9], "Archive")
            human.delete_messages([10])
            human.expunge()
            human.append("INBOX", mail(13))
        later = everything(sync, rest[-1].state)

    handed_over = uids([first, *rest, *later])
    assert handed_over == [1, 2, 3, 4, 5, 8, 9, 10, 11, 12, 13]
    assert len(set(handed_over)) == len(handed_over)
    assert rest[-1].state.last_uid == 12 and later[-1].state.last_uid == 13


# -- oversized mail -----------------------------------------------------------


def test_oversized_mail_is_reported_not_fetched(
    account: Account, caplog: pytest.LogCaptureFixture
) -> None:
    huge = mail(2, padding=20_000)
    account.deliver(mail(1), huge, mail(3), mail(4, padding=20_000))
    with account.sync(max_message_bytes=10_000) as sync:
        with wire(caplog) as commands:
            (batch,) = everything(sync, MailboxState())
        assert commands[-1] == "FETCH 1,3 (BODY.PEEK[])"
        assert uids([batch]) == [1, 3]
        assert batch.oversized == ((2, len(huge)), (4, len(mail(4, padding=20_000))))
        assert batch.state.last_uid == 4  # covered: the caller quarantines them

        fetched = sync.fetch_one(2, uidvalidity=batch.state.uidvalidity)
        assert fetched is not None and fetched.raw == huge and fetched.size == len(huge)
        assert sync.fetch_one(2, uidvalidity=12345) is None  # a checkpoint from another folder
        assert sync.fetch_one(99) is None


# -- waiting for mail -----------------------------------------------------------


async def test_idle_wakes_on_new_mail_and_times_out_otherwise(account: Account) -> None:
    account.deliver(mail(1))
    with account.sync() as sync:
        (batch,) = await asyncio.to_thread(everything, sync, MailboxState())

        # Nothing happens (a human reading mail is no news): False at the timeout.
        started = time.monotonic()
        waiting = asyncio.create_task(asyncio.to_thread(sync.wait_for_change, 1.0))
        await asyncio.sleep(0.2)
        with account.human() as human:
            human.select_folder("INBOX")
            human.add_flags([1], [b"\\Seen"])
        assert await waiting is False
        assert 1.0 <= time.monotonic() - started < 2.0

        # New mail from elsewhere: True within Dovecot's ~0.5 s notify delay.
        waiting = asyncio.create_task(asyncio.to_thread(sync.wait_for_change, 10.0))
        await asyncio.sleep(0.2)
        started = time.monotonic()
        await asyncio.to_thread(account.deliver, mail(2))
        assert await waiting is True
        assert time.monotonic() - started < 2.0

        # The connection is usable after IDLE.
        (news,) = await asyncio.to_thread(everything, sync, batch.state)
        assert uids([news]) == [2]


def test_mail_announced_before_idle_wakes_at_once(account: Account) -> None:
    """IDLE reports only what happens after it starts. Mail the server already
    announced to this connection (here during fetch_one, in the worker during
    the last sync's FETCHes) must not wait for the next delivery."""
    with account.sync() as sync:
        assert sync.wait_for_change(5.0) is True  # never synced: go and look
        (empty,) = everything(sync, MailboxState())
        assert empty.mails == () and empty.state.uidvalidity is not None
        account.deliver(mail(1))
        assert sync.fetch_one(99) is None  # a command that hears about the new mail
        started = time.monotonic()
        assert sync.wait_for_change(5.0) is True
        assert time.monotonic() - started < 0.5


# -- errors and credentials ---------------------------------------------------------


def test_a_wrong_password_is_an_imap_error_without_the_password(
    account: Account, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "wrong-horse-battery-staple"
    sync = MailboxSync(replace(account.settings, password=wrong))
    with caplog.at_level(logging.DEBUG), pytest.raises(ImapError) as raised:
        sync.connect()
    assert "log in failed" in str(raised.value) and "Authentication failed" in str(raised.value)
    chain: BaseException | None = raised.value
    while chain is not None:
        assert wrong not in str(chain) and wrong not in repr(chain)
        chain = chain.__cause__
    assert wrong not in repr(replace(account.settings, password=wrong))
    assert not any(wrong in r.getMessage() for r in caplog.records)

    # A good login logs no password either.
    caplog.clear()
    with caplog.at_level(logging.DEBUG), account.sync() as sync:
        everything(sync, MailboxState())
    assert caplog.records and not any(PASSWORD in r.getMessage() for r in caplog.records)


def test_unreachable_or_insecure_servers_are_imap_errors(account: Account) -> None:
    with pytest.raises(ImapError, match="connect"):
        MailboxSync(replace(account.settings, port=free_port())).connect()
    # Asked for STARTTLS, a server without it is refused, never used in plain text.
    with pytest.raises(ImapError, match="STARTTLS"):
        MailboxSync(replace(account.settings, security="starttls")).connect()


async def test_interrupt_breaks_an_idle_wait_from_another_thread(account: Account) -> None:
    sync = account.sync()
    try:
        list(sync.batches(MailboxState()))
        loop = asyncio.get_running_loop()
        started = loop.time()
        waiting = asyncio.ensure_future(asyncio.to_thread(sync.wait_for_change, 30.0))
        await asyncio.sleep(0.3)
        sync.interrupt()
        with pytest.raises(ImapError):
            await asyncio.wait_for(waiting, 5)
        assert loop.time() - started < 5
    finally:
        sync.close()
