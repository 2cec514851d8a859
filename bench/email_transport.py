"""The baselines of the email sync benchmark: bare IMAP clients and the standard parser.

None of these parse, thread or store anything: they say how fast the same
mailbox can come over the same link (the transport ceiling), how fast the
polling helpdesks' one-message-per-round-trip approach is, and how fast the
standard library alone parses the same bytes (the parse ceiling). Each is a
plain blocking imapclient session, as the app's own MailboxSync is; the
caller runs them in a thread.
"""

from __future__ import annotations

import email
import email.policy
import socket
import time
from typing import Any

from bench.email_common import PASSWORD, Endpoint, Ticker, login, summary_ms
from bench.email_corpus import Generator, as_crlf
from inbox.channels.email.imap_sync import BATCH_MESSAGES, ImapSettings, MailboxState, MailboxSync

# MailboxSync's defaults, which EmailConnector keeps: the baselines batch alike.
APP_BATCH_MESSAGES = BATCH_MESSAGES
APP_BATCH_BYTES = MailboxSync.__init__.__kwdefaults__["batch_bytes"]  # type: ignore[index]
# A UID list longer than this doesn't fit Dovecot's 64 KiB command line.
_UIDS_PER_COMMAND = 5000


def raw_batched(
    endpoint: Endpoint, user: str, keep: bool = False
) -> tuple[dict[str, Any], list[bytes]]:
    """EXAMINE, UID SEARCH, then UID FETCH BODY.PEEK[] for the app's batch size at a time.

    Timed from connect to the last byte, like the app's sync_now. With `keep`,
    the bodies are returned too (the parse ceiling reads the same bytes).
    """
    kept: list[bytes] = []
    started = time.perf_counter()
    client = login(endpoint, user)
    try:
        client.select_folder("INBOX", readonly=True)
        uids = sorted(client.search(["ALL"]))
        ticker = Ticker(f"batched FETCH at {endpoint.name}", len(uids))
        nbytes = 0
        for i in range(0, len(uids), APP_BATCH_MESSAGES):
            chunk = uids[i : i + APP_BATCH_MESSAGES]
            response = client.fetch(chunk, ["BODY.PEEK[]"])
            for uid in chunk:
                raw = response[uid][b"BODY[]"]
                nbytes += len(raw)
                if keep:
                    kept.append(bytes(raw))
            ticker.tick(len(chunk))
        elapsed = time.perf_counter() - started
        ticker.finish()
    finally:
        client.logout()
    return {
        "messages": len(uids),
        "bytes": nbytes,
        "seconds": round(elapsed, 3),
        "per_second": round(len(uids) / elapsed, 1),
        "batch_messages": APP_BATCH_MESSAGES,
        "fetches": -(-len(uids) // APP_BATCH_MESSAGES),
    }, kept


def per_message(endpoint: Endpoint, user: str, sample: int | None) -> dict[str, Any]:
    """The polling helpdesks' way: SEARCH ALL, then one UID FETCH per message.

    With `sample`, only that many messages (spread evenly over the folder) are
    fetched and the whole folder's time is extrapolated from their rate.
    """
    started = time.perf_counter()
    client = login(endpoint, user)
    try:
        client.select_folder("INBOX", readonly=True)
        uids = sorted(client.search(["ALL"]))
        setup = time.perf_counter() - started
        chosen = uids if sample is None or sample >= len(uids) else uids[:: len(uids) // sample]
        chosen = chosen[: sample or len(chosen)]
        ticker = Ticker(f"one FETCH per message at {endpoint.name}", len(chosen))
        each: list[float] = []
        nbytes = 0
        loop_started = time.perf_counter()
        for uid in chosen:
            t = time.perf_counter()
            response = client.fetch([uid], ["BODY.PEEK[]"])
            nbytes += len(response[uid][b"BODY[]"])
            each.append(time.perf_counter() - t)
            ticker.tick()
        loop = time.perf_counter() - loop_started
        ticker.finish()
    finally:
        client.logout()
    per_msg = loop / len(chosen)
    whole = setup + per_msg * len(uids)
    return {
        "messages": len(uids),
        "fetched": len(chosen),
        "extrapolated": len(chosen) < len(uids),
        "bytes_fetched": nbytes,
        "setup_seconds": round(setup, 3),
        "seconds": round(whole, 3),
        "per_second": round(len(uids) / whole, 1),
        "fetch_ms": summary_ms(each),
    }


def app_imap_layer(endpoint: Endpoint, user: str) -> dict[str, Any]:
    """The app's own MailboxSync.batches() from UID 0, bodies dropped: its IMAP share."""
    settings = ImapSettings(
        host=endpoint.host, port=endpoint.port, username=user, password=PASSWORD, security="none"
    )
    started = time.perf_counter()
    messages = nbytes = batches = 0
    ticker = Ticker(f"app MailboxSync alone at {endpoint.name}")
    with MailboxSync(settings) as sync:
        for batch in sync.batches(MailboxState()):
            batches += 1
            messages += len(batch.mails)
            nbytes += sum(len(m.raw) for m in batch.mails)
            ticker.tick(len(batch.mails))
    elapsed = time.perf_counter() - started
    ticker.finish()
    return {
        "messages": messages,
        "bytes": nbytes,
        "batches": batches,
        "seconds": round(elapsed, 3),
        "per_second": round(messages / elapsed, 1),
    }


def bare_polls(endpoint: Endpoint, user: str, polls: int) -> dict[str, Any]:
    """A poll's floor (one EXAMINE) and a SEARCH-polling client's poll (EXAMINE + SEARCH ALL)."""
    client = login(endpoint, user)
    examine: list[float] = []
    search: list[float] = []
    uids = 0
    try:
        for _ in range(3):  # warm the connection and the server's index
            client.select_folder("INBOX", readonly=True)
        for _ in range(polls):
            t = time.perf_counter()
            client.select_folder("INBOX", readonly=True)
            examine.append(time.perf_counter() - t)
            t = time.perf_counter()
            client.select_folder("INBOX", readonly=True)
            uids = len(client.search(["ALL"]))
            search.append(time.perf_counter() - t)
    finally:
        client.logout()
    return {
        "examine_ms": summary_ms(examine),
        "examine_search_ms": summary_ms(search),
        "search_uids": uids,
        "round_trips": {"examine": 1, "examine_search": 2},
    }


def parse_ceiling(raws: list[bytes]) -> dict[str, Any]:
    """`email.message_from_bytes(raw, policy=email.policy.default)` over every message."""
    policy = email.policy.default
    each: list[float] = []
    ticker = Ticker("message_from_bytes", len(raws))
    started = time.perf_counter()
    for raw in raws:
        t = time.perf_counter()
        email.message_from_bytes(raw, policy=policy)
        each.append(time.perf_counter() - t)
        ticker.tick()
    elapsed = time.perf_counter() - started
    ticker.finish()
    return {
        "messages": len(raws),
        "seconds": round(elapsed, 3),
        "per_second": round(len(raws) / elapsed, 1),
        "parse_ms": summary_ms(each),
    }


def new_mail_fetch(
    endpoint: Endpoint, direct: Endpoint, user: str, rounds: int, nodelay: bool
) -> dict[str, Any]:
    """The app's MailboxSync taking one new message, as a wake-up from IDLE does.

    With `nodelay`, Nagle's algorithm is turned off on its socket (a change
    made here, in the benchmark only) to show what imapclient's split writes
    cost: SEARCH goes out as two send()s, and the second waits for the
    server's delayed ACK.
    """
    settings = ImapSettings(
        host=endpoint.host, port=endpoint.port, username=user, password=PASSWORD, security="none"
    )
    appender = login(direct, user)
    generator = Generator(seed=777)
    each: list[float] = []
    commands = [0]
    try:
        with MailboxSync(settings) as sync:
            if nodelay:
                sync._client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            imap = sync._client._imap
            original = imap.send

            def counting(data: bytes) -> Any:
                if bytes(data).endswith(b"\r\n"):
                    commands[0] += 1
                return original(data)

            imap.send = counting
            state = MailboxState()
            for batch in sync.batches(state):
                state = batch.state
            commands[0] = 0
            for _ in range(rounds):
                appender.append("INBOX", as_crlf(generator.next().raw))
                t = time.perf_counter()
                for batch in sync.batches(state):
                    state = batch.state
                each.append(time.perf_counter() - t)
            sent = commands[0]
    finally:
        appender.logout()
    return {**summary_ms(each), "commands_per_sync": round(sent / rounds, 2)}
