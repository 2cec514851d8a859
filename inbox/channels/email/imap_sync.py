"""Read new mail from one IMAP folder, in bounded batches, resumably.

The sync model:

- **Checkpoint.** The caller persists a `MailboxState` after committing each
  `Batch`: the folder's UIDVALIDITY and the highest UID handed over. IMAP
  promises that UIDs only grow within one UIDVALIDITY, so "UID greater than
  the checkpoint" is exactly the new mail, however other clients read, flag,
  move or delete messages meanwhile. When UIDVALIDITY changes (the folder was
  recreated or the server rebuilt its index), the old UIDs mean nothing: the
  first batch says `reset=True` and the sync starts again from UID 1; the
  caller dedups by Message-ID, so refetching is safe.
- **Cheap polls.** Each sync starts with one EXAMINE. If UIDNEXT says no UID
  was assigned past the checkpoint, or (with CONDSTORE) HIGHESTMODSEQ hasn't
  moved since the checkpoint, nothing can be new and no other command is sent.
- **Bounded work.** New UIDs come from one UID SEARCH and their sizes from one
  FETCH (per 5000 UIDs); bodies then come in FETCHes bounded by a message
  count and a byte budget. A message over `max_message_bytes` is reported, never fetched in a
  batch, so one huge mail can't stall or exhaust the worker.
- **Read-only.** The folder is EXAMINEd (read-only) and bodies are fetched with
  BODY.PEEK[], so \\Seen and every other flag stays as the humans left it. This
  module never STOREs, EXPUNGEs, MOVEs or APPENDs.
- **Push.** `wait_for_change` IDLEs where the server offers it, else sleeps.

imapclient is blocking: the worker runs a `MailboxSync` in a thread
(`asyncio.to_thread`), one thread at a time per instance. After any error the
connection is dropped, and the next call reconnects. imapclient redacts LOGIN
from its DEBUG log but logs whole messages there: keep the `imapclient` logger
above DEBUG in production.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from types import TracebackType
from typing import Any, Literal

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

log = logging.getLogger(__name__)

# UIDs listed in one FETCH. Servers cap a command line (Dovecot at 64 KiB), and
# a first sync of a big folder has tens of thousands of new UIDs to size up.
_MAX_UIDS_PER_FETCH = 5000
# UIDs whose sizes one FETCH asks for ahead of their batches (see `_plan`).
_SIZE_WINDOW = 1000
assert _SIZE_WINDOW <= _MAX_UIDS_PER_FETCH
# Untagged responses during IDLE that mean new mail. Flag changes (FETCH) and
# EXPUNGE can't bring anything to sync, and waking for them would make every
# message a human reads in their own mail client cost a poll.
_NEW_MAIL = frozenset({b"EXISTS", b"RECENT"})


class ImapError(Exception):
    """Any failure talking to the server. The text never holds the password."""


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int
    username: str
    password: str = field(repr=False)
    folder: str = "INBOX"
    security: Literal["none", "starttls", "ssl"] = "ssl"
    timeout: float = 30.0


@dataclass(frozen=True)
class MailboxState:
    """The checkpoint the caller persists after committing a batch."""

    uidvalidity: int | None = None
    last_uid: int = 0  # highest UID already handed over and committed
    highest_modseq: int | None = None  # CONDSTORE, when the server has it


def _utc(value: datetime | None) -> datetime | None:
    # imapclient's own zone class can't be unpickled, and fetched mail is
    # parsed in other processes (parse_pool).
    return value.astimezone(UTC) if value is not None and value.tzinfo else value


@dataclass(frozen=True)
class FetchedMail:
    uid: int
    raw: bytes  # exactly the bytes of BODY.PEEK[]
    size: int  # RFC822.SIZE
    internal_date: datetime | None


@dataclass(frozen=True)
class Batch:
    mails: tuple[FetchedMail, ...]
    state: MailboxState  # the checkpoint once these mails are committed
    oversized: tuple[tuple[int, int], ...] = ()  # (uid, size) over max_message_bytes
    reset: bool = False  # UIDVALIDITY changed: the caller's old checkpoint no longer applies


@dataclass
class _Chunk:
    """One planned batch: the UIDs to fetch, and the highest UID it covers."""

    uids: list[int] = field(default_factory=list)
    # The size and INTERNALDATE of each UID to fetch.
    meta: dict[int, dict[bytes, Any]] = field(default_factory=dict)
    oversized: list[tuple[int, int]] = field(default_factory=list)
    nbytes: int = 0
    last_uid: int = 0


# Messages per batch: one FETCH, one parse hand-off, one transaction. Storing
# a batch costs about 12 ms of CPU whatever its size (its queries, the commit,
# the checkpoint): at 100 that was a third of the storing. Larger batches hold
# SQLite's write lock longer (about 80 ms at 200), which agents' writes wait on
# during a first sync. `batch_bytes` bounds the memory either way.
BATCH_MESSAGES = 200


class MailboxSync:
    def __init__(
        self,
        settings: ImapSettings,
        *,
        batch_messages: int = BATCH_MESSAGES,
        batch_bytes: int = 16 * 2**20,
        max_message_bytes: int = 25 * 2**20,
    ) -> None:
        if min(batch_messages, batch_bytes, max_message_bytes) < 1:
            raise ValueError("batch and message limits must be positive")
        if batch_messages > _MAX_UIDS_PER_FETCH:
            raise ValueError(f"batch_messages is at most {_MAX_UIDS_PER_FETCH}")
        self.settings = settings
        self.batch_messages = batch_messages
        self.batch_bytes = batch_bytes
        self.max_message_bytes = max_message_bytes
        self._client: Any = None
        self._capabilities: frozenset[str] = frozenset()
        self._condstore = False
        # (UIDVALIDITY, UIDNEXT) as far as the last complete batches() covered.
        self._synced: tuple[int, int] | None = None

    # -- connection -------------------------------------------------------

    def __enter__(self) -> MailboxSync:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def connect(self) -> None:
        """Connect and log in; a no-op while connected."""
        if self._client is not None:
            return
        s = self.settings
        context = ssl.create_default_context() if s.security != "none" else None
        with self._errors("connect"):
            client = IMAPClient(
                s.host, s.port, ssl=s.security == "ssl", ssl_context=context, timeout=s.timeout
            )
            # imapclient writes some commands (SEARCH) in two pieces; with
            # Nagle on, the second waits for the server's delayed ACK, about
            # 40 ms per sync over a real network (bench/results/email-sync.md).
            with contextlib.suppress(OSError, AttributeError):
                client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # imapclient turns imaplib's debug output up to 5 (for its
            # "imapclient.imaplib" logger), and at 5 imaplib formats the repr
            # of every response it collects, message bodies included, logged
            # or not: a quarter of the storing process's time in a sync. At 4
            # the logger still gets each command and response line.
            with contextlib.suppress(AttributeError):
                client._imap.debug = 4
        try:
            if s.security == "starttls":
                # Its own step, so a refused certificate isn't reported as a failed login.
                with self._errors("STARTTLS"):
                    # Raises when STARTTLS isn't offered: never fall back to plain text.
                    client.starttls(context)
            with self._errors("log in"):
                client.login(s.username, s.password)
                client.normalise_times = False  # keep INTERNALDATE's zone
                self._capabilities = frozenset(
                    c.decode("ascii", "replace").upper() for c in client.capabilities()
                )
                # HIGHESTMODSEQ comes with EXAMINE only once CONDSTORE is enabled.
                self._condstore = {"CONDSTORE", "ENABLE"} <= self._capabilities and (
                    b"CONDSTORE" in client.enable("CONDSTORE")
                )
        except BaseException:
            with contextlib.suppress(IMAPClientError, OSError):
                client.shutdown()
            raise
        self._client = client

    def interrupt(self) -> None:
        """Break a blocked call (an IDLE wait) from another thread: the worker is stopping.

        Only shuts the socket down, which is safe while another thread reads
        it; that thread's call then fails with ImapError, and `close()` tidies.
        """
        client = self._client
        if client is None:
            return
        with contextlib.suppress(OSError, AttributeError):
            client.socket().shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.logout()
        except (IMAPClientError, OSError):
            with contextlib.suppress(IMAPClientError, OSError):
                client.shutdown()

    def capabilities(self) -> frozenset[str]:
        """What the server offers after login (upper case, e.g. "IDLE", "CONDSTORE")."""
        self.connect()
        return self._capabilities

    # -- sync -------------------------------------------------------------

    def batches(self, state: MailboxState) -> Iterator[Batch]:
        """The mail after `state`, in batches, each with the checkpoint that follows it.

        Yields nothing when nothing changed, and one empty batch when only the
        checkpoint moves (a new UIDVALIDITY or HIGHESTMODSEQ). Intermediate
        batches carry no HIGHESTMODSEQ, so a sync interrupted between batches
        resumes with a SEARCH instead of wrongly concluding nothing is new.
        """
        uidvalidity, uidnext, modseq = self._examine()
        reset = state.uidvalidity is not None and state.uidvalidity != uidvalidity
        if reset:
            log.warning(
                "UIDVALIDITY of %s changed (%s -> %s): syncing it again from the start",
                self.settings.folder,
                state.uidvalidity,
                uidvalidity,
            )
        start = 0 if reset else state.last_uid
        final = MailboxState(uidvalidity, start, modseq)
        unchanged = (
            not reset
            and modseq is not None
            and state.uidvalidity == uidvalidity
            and state.highest_modseq == modseq
        )
        if unchanged or (uidnext is not None and uidnext <= start + 1):
            if final != state:
                yield Batch((), final, reset=reset)
            self._synced = (uidvalidity, max(uidnext or 0, start + 1))
            return

        with self._errors("search"):
            # `N:*` includes the highest UID even when it is below N.
            uids = sorted(self._client.search(["UID", f"{start + 1}:*"]))
        uids = [uid for uid in uids if uid > start]
        if not uids:
            if final != state:
                yield Batch((), final, reset=reset)
            self._synced = (uidvalidity, max(uidnext or 0, start + 1))
            return

        for i, (chunk, is_last) in enumerate(_marking_last(self._plan(uids))):
            yield Batch(
                mails=tuple(self._bodies(chunk)),
                state=MailboxState(uidvalidity, chunk.last_uid, modseq if is_last else None),
                oversized=tuple(chunk.oversized),
                reset=reset and i == 0,
            )
        self._synced = (uidvalidity, max(uidnext or 0, uids[-1] + 1))

    def history(self, since: date) -> tuple[int, Iterator[Batch]]:
        """Mail that arrived on or after `since` (SEARCH SINCE, by INTERNALDATE), in batches.

        For importing history (a backfill): no checkpoint is read or implied,
        so the returned states only say how far the import got. Returns how
        many messages there are, then their batches.
        """
        uidvalidity, _, _ = self._examine()
        with self._errors("search"):
            uids = sorted(self._client.search(["SINCE", since]))
        if not uids:
            return 0, iter(())

        def batches() -> Iterator[Batch]:
            for chunk in self._plan(uids):
                yield Batch(
                    mails=tuple(self._bodies(chunk)),
                    state=MailboxState(uidvalidity, chunk.last_uid, None),
                    oversized=tuple(chunk.oversized),
                )

        return len(uids), batches()

    def fetch_one(self, uid: int, *, uidvalidity: int | None = None) -> FetchedMail | None:
        """One message by UID, whatever its size; None when it no longer exists
        (or the folder's UIDVALIDITY is no longer `uidvalidity`, when given)."""
        current, _, _ = self._examine()
        if uidvalidity is not None and uidvalidity != current:
            return None
        with self._errors("fetch"):
            response = self._client.fetch([uid], ["BODY.PEEK[]", "RFC822.SIZE", "INTERNALDATE"])
        data = response.get(uid, {})
        raw = data.get(b"BODY[]")
        if raw is None:
            return None
        return FetchedMail(
            uid,
            bytes(raw),
            int(data.get(b"RFC822.SIZE", len(raw))),
            _utc(data.get(b"INTERNALDATE")),
        )

    def wait_for_change(self, timeout: float) -> bool:
        """Block until there may be new mail (True) or `timeout` seconds pass (False).

        True at once when mail arrived since the last complete `batches()` (or
        there was none). With IDLE, waits for the server to announce new mail;
        servers end IDLE after about 29 minutes, so keep `timeout` <= 25 * 60.
        Without IDLE, sleeps `timeout` and returns True: a polling fallback.
        """
        # A fresh EXAMINE first: mail that arrived while the last sync was
        # fetching was announced then, and IDLE would never mention it again.
        uidvalidity, uidnext, _ = self._examine()
        if self._synced is None or self._synced[0] != uidvalidity:
            return True
        if uidnext is None or uidnext > self._synced[1]:
            return True
        if "IDLE" not in self._capabilities:
            time.sleep(timeout)
            return True
        # Held locally: `interrupt()` from another thread may end the
        # connection mid-wait, and the error path then drops `self._client`.
        client = self._client
        with self._errors("idle"):
            client.idle()
            try:
                deadline = time.monotonic() + timeout
                while (left := deadline - time.monotonic()) > 0:
                    responses = client.idle_check(timeout=left)
                    if not responses:
                        # Nothing parsed before the deadline means the socket
                        # woke us with no whole line, typically a closed
                        # connection: stop, and let the next command tell.
                        return time.monotonic() < deadline
                    if _announces_new_mail(responses):
                        return True
                return False
            finally:
                # Leaves the connection usable; raises if it is gone.
                client.idle_done()

    # -- helpers ----------------------------------------------------------

    def _examine(self) -> tuple[int, int | None, int | None]:
        """EXAMINE the folder: its (UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ)."""
        self.connect()
        with self._errors("examine"):
            info = self._client.select_folder(self.settings.folder, readonly=True)
        if b"UIDVALIDITY" not in info:
            self._drop()
            raise ImapError(f"the server sent no UIDVALIDITY for {self.settings.folder}")
        uidnext = info.get(b"UIDNEXT")
        modseq = info.get(b"HIGHESTMODSEQ") if self._condstore else None
        return (
            int(info[b"UIDVALIDITY"]),
            None if uidnext is None else int(uidnext),
            None if modseq is None else int(modseq),
        )

    def _sizes_and_dates(self, uids: list[int]) -> Iterator[tuple[int, dict[bytes, Any] | None]]:
        """Each UID with its size and INTERNALDATE, None for one the server no longer lists.

        Asked for a window of UIDs at a time, as the batches get there: asked
        for all at once, a big first sync waited seconds for them before its
        first batch, with the parse workers idle.
        """
        for start in range(0, len(uids), _SIZE_WINDOW):
            window = uids[start : start + _SIZE_WINDOW]
            with self._errors("fetch sizes"):
                meta = self._client.fetch(window, ["RFC822.SIZE", "INTERNALDATE"])
            for uid in window:
                yield uid, meta.get(uid)

    def _plan(self, uids: list[int]) -> Iterator[_Chunk]:
        """Split the new UIDs into batches bounded by count and bytes.

        A UID the server no longer lists was expunged since the SEARCH: it is
        covered (the checkpoint passes it) but there is nothing to fetch.
        """
        chunk = _Chunk()
        for uid, info in self._sizes_and_dates(uids):
            if info is not None:
                size = int(info[b"RFC822.SIZE"])
                if size > self.max_message_bytes:
                    log.info("message UID %s is %s bytes, over the limit: not fetched", uid, size)
                    chunk.oversized.append((uid, size))
                else:
                    full = len(chunk.uids) >= self.batch_messages
                    if chunk.uids and (full or chunk.nbytes + size > self.batch_bytes):
                        yield chunk
                        chunk = _Chunk()
                    chunk.uids.append(uid)
                    chunk.meta[uid] = info
                    chunk.nbytes += size
            chunk.last_uid = uid
        yield chunk

    def _bodies(self, chunk: _Chunk) -> Iterator[FetchedMail]:
        if not chunk.uids:
            return
        with self._errors("fetch"):
            response = self._client.fetch(chunk.uids, ["BODY.PEEK[]"])
        for uid in chunk.uids:
            raw = response.get(uid, {}).get(b"BODY[]")
            # None: expunged after the size FETCH (Dovecot answers BODY[] NIL).
            if raw is not None:
                info = chunk.meta[uid]
                yield FetchedMail(
                    uid, bytes(raw), int(info[b"RFC822.SIZE"]), _utc(info.get(b"INTERNALDATE"))
                )

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(IMAPClientError, OSError):
                client.shutdown()

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """imapclient's and the socket's errors as ImapError, password removed.

        The connection is dropped: after a failure its state is unknown.
        """
        try:
            yield
        except (IMAPClientError, OSError) as exc:
            self._drop()
            s = self.settings
            text = f"IMAP {doing} failed ({s.username} at {s.host}:{s.port}): {_describe(exc)}"
            leaked = bool(s.password) and s.password in text
            if leaked:
                text = text.replace(s.password, "***")
            raise ImapError(text) from (None if leaked else exc)


def _marking_last(items: Iterator[_Chunk]) -> Iterator[tuple[_Chunk, bool]]:
    """Each item, and whether it is the last (known by planning one ahead)."""
    current = next(items, None)
    while current is not None:
        following = next(items, None)
        yield current, following is None
        current = following


def _announces_new_mail(responses: list[tuple[Any, ...]]) -> bool:
    return any(len(r) >= 2 and r[1] in _NEW_MAIL for r in responses)


def _describe(exc: BaseException) -> str:
    # imaplib puts the server's bytes in its errors: show b'text' as text.
    text = str(exc)
    if match := re.fullmatch(r"b(['\"])(.*)\1", text, re.DOTALL):
        return match[2]
    return text or type(exc).__name__
