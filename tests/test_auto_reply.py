"""Automatic acknowledgements, end to end: mail APPENDed to a real Dovecot, synced by
the connector, our answer sent through a real SMTP server (aiosmtpd), and shown to agents.

The loop tests play the customer's side as an auto-responder: whatever our server
sends, it answers, by APPENDing its answer to the mailbox we sync.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.smtp import Envelope
from imapclient import IMAPClient
from sqlalchemy import func, select, update

from inbox.actions.auto_reply import ACKNOWLEDGEMENT_SENDER
from inbox.actions.inboxes import do_update_email_settings
from inbox.channels.base import InboundMessage
from inbox.channels.email.connector import EmailConnector
from inbox.channels.email.sender import send_due
from inbox.channels.email.settings import (
    DEFAULT_ACKNOWLEDGEMENT,
    Acknowledgement,
    EmailSecrets,
    email_config,
    stamp_acknowledgement,
)
from inbox.channels.email.smtp_send import SmtpSettings
from inbox.channels.email.tokens import find_reply_token
from inbox.channels.ingest import ingest
from inbox.models import Conversation, Inbox, Message, OutboundEmail, utcnow
from inbox.runtime import Runtime, create_runtime
from tests.conftest import World, csrf_of, login, make_settings
from tests.dovecot_server import DovecotServer, running_dovecot
from tests.smtp_server import Recorder
from tests.test_admin_inboxes import as_admin, form
from tests.test_api_support import bearer
from tests.test_email_connector import PASSWORD, Mailbox, connector_for, mail
from tests.test_email_threading import email
from tests.test_outbound_mail import SETTINGS

FIXTURES = Path(__file__).parent / "fixtures" / "email"
ACK_TEXT = "Thanks for writing to Shop support.\n\nWe answer within a working day."
_ids = itertools.count(1)


@pytest.fixture(scope="module")
async def dovecot() -> AsyncIterator[DovecotServer]:
    async with running_dovecot() as server:
        yield server


async def switch_on(
    client: httpx.AsyncClient, world: World, text: str = ACK_TEXT, *, enabled: bool = True
) -> dict[str, Any]:
    """Turn the acknowledgement on (or off) through the API, as an admin would; the config."""
    url = f"/api/v1/inboxes/{world.email_inbox.id}/email-settings"
    config = (await client.get(url, headers=bearer(world, "admin"))).json()["config"]
    config["acknowledgement"] = {"enabled": enabled, "text": text}
    saved = await client.post(url, json={"config": config}, headers=bearer(world, "admin"))
    assert saved.status_code == 200, saved.text
    result: dict[str, Any] = saved.json()["config"]
    return result


async def ready(
    rt: Runtime, world: World, client: httpx.AsyncClient, dovecot: DovecotServer
) -> tuple[Mailbox, EmailConnector]:
    """The email inbox on a fresh Dovecot mailbox, with the acknowledgement on."""
    mailbox = Mailbox(dovecot)
    connector = await connector_for(rt, world, mailbox)
    await switch_on(client, world)
    return mailbox, connector


async def sync_and_send(
    rt: Runtime, world: World, connector: EmailConnector, smtp: SmtpSettings
) -> int:
    """What the worker does: take in the new mail, then send what is due; how many were sent."""
    await connector.sync_now()
    return await send_due(rt, world.email_inbox.id, smtp, rt.blobs)


def sent(envelope: Envelope) -> EmailMessage:
    assert isinstance(envelope.content, bytes)
    parsed = message_from_bytes(envelope.content, policy=email_policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def body(message: EmailMessage) -> str:
    text = message.get_content()
    assert isinstance(text, str)
    return text.replace("\r\n", "\n").strip()


def deliver_at(mailbox: Mailbox, raw: bytes, arrived: datetime, folder: str = "INBOX") -> None:
    """APPEND with a chosen arrival time (INTERNALDATE), as old mail in a mailbox has."""
    with IMAPClient(mailbox.server.host, mailbox.server.port, ssl=False, timeout=5) as imap:
        imap.login(mailbox.user, PASSWORD)
        if not imap.folder_exists(folder):
            imap.create_folder(folder)
        imap.append(folder, raw, msg_time=arrived)


def customer_mail(sender: str, *, subject: str = "Where is my parcel?", headers: str = "") -> bytes:
    n = next(_ids)
    return (
        f"From: {sender}\r\nTo: support@shop.test\r\nSubject: {subject}\r\n"
        f"Message-ID: <new-{n}@customer.test>\r\nDate: Thu, 26 Nov 2026 09:00:00 +0000\r\n"
        f"{headers}\r\nHello, it has not arrived.\r\n"
    ).encode()


async def automatic_messages(rt: Runtime) -> list[Message]:
    async with rt.read_sessions() as db:
        rows = await db.scalars(
            select(Message).where(Message.auto_reply_to.is_not(None)).order_by(Message.id)
        )
        return list(rows.all())


# --- the acknowledgement ---------------------------------------------------------------


async def test_a_new_email_gets_one_acknowledgement_shown_as_automatic(
    rt: Runtime,
    world: World,
    client: httpx.AsyncClient,
    dovecot: DovecotServer,
    smtp: tuple[Recorder, SmtpSettings],
) -> None:
    recorder, server = smtp
    mailbox, connector = await ready(rt, world, client, dovecot)
    mailbox.deliver(mail(1))
    assert await sync_and_send(rt, world, connector, server) == 1
    assert await sync_and_send(rt, world, connector, server) == 0  # once
    (envelope,) = recorder.received
    assert envelope.mail_from == mailbox.user and envelope.rcpt_tos == ["maria@example.test"]
    ack = sent(envelope)
    assert ack["From"] == f"Shop support <{mailbox.user}>" and ack["To"] == "maria@example.test"
    assert ack["Subject"] == "Re: Order 1"
    assert ack["In-Reply-To"] == "<order-1@example.test>"
    assert ack["Auto-Submitted"] == "auto-replied" and ack["X-Auto-Response-Suppress"] == "All"
    assert body(ack) == ACK_TEXT

    async with rt.read_sessions() as db:
        conv = await db.scalar(select(Conversation))
    assert conv is not None
    # Our reply token: the customer's answer threads back to this conversation.
    assert find_reply_token([ack["Message-ID"]], rt.settings.secret_key) == conv.id
    # Nobody claimed it, it is still open, and the list still shows the customer's words.
    assert conv.assignee_id is None and conv.status.value == "open"
    assert conv.last_message_preview == "Where is order 1?"

    api = (
        await client.get(f"/api/v1/conversations/{conv.id}", headers=bearer(world, "ana"))
    ).json()
    customer_mail_, acknowledgement = api["messages"]
    assert customer_mail_["automatic"] is False
    assert acknowledgement["automatic"] is True and acknowledgement["sender_agent_id"] is None
    assert acknowledgement["direction"] == "outbound" and acknowledgement["delivery"] == "sent"
    assert api["conversation"]["assignee_id"] is None
    timeline = await client.get(
        f"/api/v1/customers/{conv.customer_id}/timeline", headers=bearer(world, "ana")
    )
    names = [(m["sender_name"], m["automatic"]) for m in timeline.json()["entries"]]
    assert names == [("Maria Lopez", False), (ACKNOWLEDGEMENT_SENDER, True)]

    await login(client, "ana@example.test")
    page = (await client.get(f"/conversations/{conv.id}")).text
    assert '<span class="msg-sender">Automatic acknowledgement</span>' in page
    assert "We answer within a working day." in page

    # The customer answers the acknowledgement: same conversation, and no second one.
    answer = (
        b"From: Maria Lopez <maria@example.test>\r\nTo: %s\r\nSubject: Re: Order 1\r\n"
        b"Message-ID: <order-1-answer@example.test>\r\nIn-Reply-To: %s\r\n\r\nThanks!\r\n"
        % (mailbox.user.encode(), ack["Message-ID"].encode())
    )
    mailbox.deliver(answer)
    assert await sync_and_send(rt, world, connector, server) == 0
    async with rt.read_sessions() as db:
        threaded = await db.scalar(
            select(Message.conversation_id).where(
                Message.external_id == "<order-1-answer@example.test>"
            )
        )
    assert threaded == conv.id


# --- loops with an auto-responder --------------------------------------------------------


Responder = Callable[[EmailMessage, int], bytes]


def well_behaved(*, threads: bool) -> Responder:
    """RFC 3834: marked Auto-Submitted; it may or may not name what it answers."""

    def answer(ours: EmailMessage, n: int) -> bytes:
        about = f"In-Reply-To: {ours['Message-ID']}\r\n" if threads else ""
        return (
            f"From: Maria Lopez <maria@example.test>\r\nTo: {ours['From'].addresses[0].addr_spec}"
            f"\r\nSubject: Out of office: {ours['Subject']}\r\nMessage-ID: <ooo-{n}@example.test>"
            f"\r\n{about}Auto-Submitted: auto-replied\r\n\r\nI am away until Monday.\r\n"
        ).encode()

    return answer


def badly_behaved(ours: EmailMessage, n: int) -> bytes:
    """No auto headers at all, and a new thread every time: it looks like a person."""
    return (
        f"From: Maria Lopez <maria@example.test>\r\nTo: {ours['From'].addresses[0].addr_spec}"
        f"\r\nSubject: Re: {ours['Subject']}\r\nMessage-ID: <bot-{n}@example.test>\r\n"
        f"\r\nThank you! Your email matters to us. We will get back to you.\r\n"
    ).encode()


async def exchange(
    rt: Runtime,
    world: World,
    mailbox: Mailbox,
    connector: EmailConnector,
    smtp: tuple[Recorder, SmtpSettings],
    responder: Responder,
    rounds: int = 6,
) -> int:
    """Let the responder answer each of our mails until nobody writes; how many it sent."""
    recorder, server = smtp
    answered = start = len(recorder.received)
    for _ in range(rounds):
        await sync_and_send(rt, world, connector, server)
        if len(recorder.received) == answered:
            break
        for envelope in recorder.received[answered:]:
            mailbox.deliver(responder(sent(envelope), next(_ids)))
        answered = len(recorder.received)
    return answered - start


@pytest.mark.parametrize("threads", [True, False], ids=["in-reply-to", "new-thread"])
async def test_a_well_behaved_auto_responder_is_never_answered(
    rt: Runtime,
    world: World,
    client: httpx.AsyncClient,
    dovecot: DovecotServer,
    smtp: tuple[Recorder, SmtpSettings],
    monkeypatch: pytest.MonkeyPatch,
    threads: bool,
) -> None:
    # Without the per-address limit: its Auto-Submitted header alone must stop it.
    monkeypatch.setattr("inbox.actions.auto_reply.WINDOW", timedelta(0))
    mailbox, connector = await ready(rt, world, client, dovecot)
    mailbox.deliver(mail(2))
    answers = await exchange(rt, world, mailbox, connector, smtp, well_behaved(threads=threads))
    recorder, _ = smtp
    # The customer wrote once and its responder once; we acknowledged once.
    assert (1 + answers, len(recorder.received)) == (2, 1)
    async with rt.read_sessions() as db:
        conversations = await db.scalar(select(func.count()).select_from(Conversation))
    assert conversations == (1 if threads else 2)


async def test_a_badly_behaved_auto_responder_is_answered_once_an_hour(
    rt: Runtime,
    world: World,
    client: httpx.AsyncClient,
    dovecot: DovecotServer,
    smtp: tuple[Recorder, SmtpSettings],
) -> None:
    recorder, _ = smtp
    mailbox, connector = await ready(rt, world, client, dovecot)
    mailbox.deliver(mail(3))
    answers = await exchange(rt, world, mailbox, connector, smtp, badly_behaved)
    # Customer 1 + responder 1; us 1: its answer opened a new conversation like a
    # person's would, and only the limit per address kept us quiet.
    assert (1 + answers, len(recorder.received)) == (2, 1)
    async with rt.read_sessions() as db:
        assert await db.scalar(select(func.count()).select_from(Conversation)) == 2

    # An hour later the customer writes again, in a new thread: one more round, no more.
    async with rt.engine.begin() as conn:
        await conn.execute(
            update(Message)
            .where(Message.auto_reply_to.is_not(None))
            .values(created_at=utcnow() - timedelta(minutes=61))
        )
    mailbox.deliver(mail(4))
    answers += await exchange(rt, world, mailbox, connector, smtp, badly_behaved)
    assert (2 + answers, len(recorder.received)) == (4, 2)
    assert [e.rcpt_tos for e in recorder.received] == [["maria@example.test"]] * 2


def new_thread(inbox_id: int, n: int, sender: str, reply_to: str) -> InboundMessage:
    """A new thread as the connector hands it over, arriving now, answered at `reply_to`."""
    inbound = email(inbox_id, f"<race-{n}@example.test>", sender=sender, subject=f"Order {n}")
    assert inbound.email is not None
    headers = {**inbound.email.headers, "reply_to": [reply_to]}
    return replace(inbound, received_at=utcnow(), email=replace(inbound.email, headers=headers))


async def test_the_limit_holds_across_processes_and_restarts(
    rt: Runtime, world: World, database_url: str
) -> None:
    config = stamp_acknowledgement(
        SETTINGS.model_copy(update={"acknowledgement": Acknowledgement(enabled=True)}),
        None,
        utcnow() - timedelta(minutes=5),
    )
    await do_update_email_settings(
        rt, world.admin, world.email_inbox.id, config, EmailSecrets(imap_password="pw")
    )
    inbox_id = world.email_inbox.id
    workers = [create_runtime(make_settings(database_url)) for _ in range(3)]
    try:
        # Two worker processes take new threads at the same moment: from different
        # people of one company, whose answers all go to its shared address...
        await asyncio.gather(
            *(
                ingest(workers[n % 2], new_thread(inbox_id, n, f"p{n}@corp.test", "desk@corp.test"))
                for n in range(8)
            )
        )
        # ...and one started afterwards (a restart) knows what they sent.
        await ingest(workers[2], new_thread(inbox_id, 99, "p99@corp.test", "desk@corp.test"))
    finally:
        for worker in workers:
            await worker.close()
    acks = await automatic_messages(rt)
    assert [a.auto_reply_to for a in acks] == ["desk@corp.test"]
    async with rt.read_sessions() as db:
        assert await db.scalar(select(func.count()).select_from(OutboundEmail)) == 1
        assert await db.scalar(select(func.count()).select_from(Conversation)) == 9


# --- when there is none ------------------------------------------------------------------


async def only_the_control_is_acknowledged(
    rt: Runtime,
    world: World,
    mailbox: Mailbox,
    connector: EmailConnector,
    smtp: tuple[Recorder, SmtpSettings],
) -> None:
    """A person's new mail after the others still gets one: they were refused, not lost."""
    recorder, server = smtp
    mailbox.deliver(customer_mail("Carla Control <carla@control.test>"))
    await sync_and_send(rt, world, connector, server)
    assert [e.rcpt_tos for e in recorder.received] == [["carla@control.test"]]


async def test_none_for_a_reply_in_an_existing_thread(
    rt: Runtime,
    world: World,
    client: httpx.AsyncClient,
    dovecot: DovecotServer,
    smtp: tuple[Recorder, SmtpSettings],
) -> None:
    _, server = smtp
    mailbox = Mailbox(dovecot)
    connector = await connector_for(rt, world, mailbox)
    mailbox.deliver(mail(5))
    await sync_and_send(rt, world, connector, server)  # before it was on
    await switch_on(client, world)
    reply = mail(6, extra=b"In-Reply-To: <order-5@example.test>\r\n")
    mailbox.deliver(reply)
    assert await sync_and_send(rt, world, connector, server) == 0
    async with rt.read_sessions() as db:
        assert await db.scalar(select(func.count()).select_from(Conversation)) == 1
    await only_the_control_is_acknowledged(rt, world, mailbox, connector, smtp)


async def test_none_for_automatic_mail_bounces_and_bulk(
    rt: Runtime,
    world: World,
    client: httpx.AsyncClient,
    dovecot: DovecotServer,
    smtp: tuple[Recorder, SmtpSettings],
) -> None:
    mailbox, connector = await ready(rt, world, client, dovecot)
    fixtures = ("out_of_office.eml", "bounce.eml", "bulk_list.eml")
    mailbox.deliver(*((FIXTURES / name).read_bytes() for name in fixtures))
    # Each from its own address, so the limit per address is not what refuses them.
    mailbox.deliver(
        customer_mail("shop@deals.test", headers="Precedence: bulk\r\n"),
        customer_mail("tom@vacation.test", headers="X-Autoreply: yes\r\n"),
        customer_mail("eve@corp.test", headers="X-Auto-Response-Suppress: OOF, DR\r\n"),
        customer_mail("ops@monitor.test", headers="Auto-Submitted: auto-generated\r\n"),
    )
    await connector.sync_now()
    async with rt.read_sessions() as db:
        assert await db.scalar(select(func.count()).select_from(Conversation)) == 7
    await only_the_control_is_acknowledged(rt, world, mailbox, connector, smtp)


async def test_none_to_no_reply_senders_our_own_address_or_our_agents(
    rt: Runtime,
    world: World,
    client: httpx.AsyncClient,
    dovecot: DovecotServer,
    smtp: tuple[Recorder, SmtpSettings],
) -> None:
    mailbox, connector = await ready(rt, world, client, dovecot)
    mailbox.deliver(
        customer_mail("Shop platform <noreply@platform.test>"),
        customer_mail("MAILER-DAEMON <mailer-daemon@mx.test>"),
        # A person, but answers go to a no-reply address.
        customer_mail("dan@orders.test", headers="Reply-To: do-not-reply@orders.test\r\n"),
        # Our own inbox (a forward from the shared mailbox), and a colleague.
        customer_mail(f"Shop support <{mailbox.user}>"),
        customer_mail("Ana <ana@example.test>"),
    )
    await connector.sync_now()
    async with rt.read_sessions() as db:
        assert await db.scalar(select(func.count()).select_from(Conversation)) == 5
    await only_the_control_is_acknowledged(rt, world, mailbox, connector, smtp)


async def test_none_for_imported_history(
    rt: Runtime,
    world: World,
    client: httpx.AsyncClient,
    dovecot: DovecotServer,
    smtp: tuple[Recorder, SmtpSettings],
) -> None:
    _, server = smtp
    mailbox = Mailbox(dovecot)
    connector = await connector_for(rt, world, mailbox)
    # A mailbox with years of customers in it, and an archive folder...
    long_ago = utcnow() - timedelta(days=400)
    for n in range(3):
        deliver_at(mailbox, customer_mail(f"old{n}@customer.test"), long_ago)
        deliver_at(mailbox, customer_mail(f"archived{n}@customer.test"), long_ago, "Archive")
    mailbox.deliver(customer_mail("earlier-today@customer.test"))
    await asyncio.sleep(1.1)  # arrival times have whole seconds
    # ...then the acknowledgement is turned on, before the inbox's first sync.
    await switch_on(client, world)
    assert await connector.sync_now() == 4
    assert await connector.backfill(date(2000, 1, 1), folder="Archive") == 3
    assert await send_due(rt, world.email_inbox.id, server, rt.blobs) == 0
    assert await automatic_messages(rt) == []
    await only_the_control_is_acknowledged(rt, world, mailbox, connector, smtp)


async def test_none_for_mail_over_a_day_old_even_if_it_was_on_then(
    rt: Runtime, world: World, dovecot: DovecotServer, smtp: tuple[Recorder, SmtpSettings]
) -> None:
    mailbox = Mailbox(dovecot)
    connector = await connector_for(rt, world, mailbox)
    async with rt.read_sessions() as db:
        inbox = await db.get(Inbox, world.email_inbox.id)
    assert inbox is not None
    stored = email_config(inbox.config)
    assert stored is not None
    # On since last month (a worker that was down, or a folder switched to).
    long_on = stamp_acknowledgement(
        stored.model_copy(update={"acknowledgement": Acknowledgement(enabled=True)}),
        None,
        utcnow() - timedelta(days=30),
    )
    # Straight into the row: the action would stamp the moment it runs.
    async with rt.write_sessions() as db, db.begin():
        row = await db.get(Inbox, inbox.id)
        assert row is not None
        row.config = long_on.model_dump(mode="json")
    deliver_at(mailbox, customer_mail("last-week@customer.test"), utcnow() - timedelta(days=7))
    deliver_at(mailbox, customer_mail("two-days@customer.test"), utcnow() - timedelta(days=2))
    deliver_at(mailbox, customer_mail("this-morning@customer.test"), utcnow() - timedelta(hours=5))
    recorder, server = smtp
    assert await sync_and_send(rt, world, connector, server) == 1
    assert [e.rcpt_tos for e in recorder.received] == [["this-morning@customer.test"]]


async def test_none_when_it_is_off(
    rt: Runtime,
    world: World,
    client: httpx.AsyncClient,
    dovecot: DovecotServer,
    smtp: tuple[Recorder, SmtpSettings],
) -> None:
    recorder, server = smtp
    mailbox = Mailbox(dovecot)
    connector = await connector_for(rt, world, mailbox)
    mailbox.deliver(customer_mail("first@customer.test"))
    assert await sync_and_send(rt, world, connector, server) == 0  # off by default
    await switch_on(client, world)
    off = await switch_on(client, world, enabled=False)
    assert off["acknowledgement"]["enabled_at"] is None
    mailbox.deliver(customer_mail("second@customer.test"))
    assert await sync_and_send(rt, world, connector, server) == 0
    assert recorder.received == [] and await automatic_messages(rt) == []


# --- settings ----------------------------------------------------------------------------


def test_a_config_stored_before_the_setting_existed_has_it_off() -> None:
    old = SETTINGS.model_dump(mode="json")
    del old["acknowledgement"]
    config = email_config(old)
    assert config is not None and config.acknowledgement.enabled is False
    assert config.acknowledgement.text == DEFAULT_ACKNOWLEDGEMENT


def test_turning_it_on_records_when_and_keeps_it_while_it_stays_on() -> None:
    t0 = datetime(2026, 11, 26, 9, 0, 0, 700_000, tzinfo=UTC)
    on = SETTINGS.model_copy(update={"acknowledgement": Acknowledgement(enabled=True)})
    first = stamp_acknowledgement(on, SETTINGS, t0)
    assert first.acknowledgement.enabled_at == t0.replace(microsecond=0)
    # Saved again later (say, a new password), with a made-up moment sent along.
    forged = on.model_copy(
        update={"acknowledgement": Acknowledgement(enabled=True, enabled_at=datetime(2000, 1, 1))}
    )
    again = stamp_acknowledgement(forged, first, t0 + timedelta(days=3))
    assert again.acknowledgement.enabled_at == first.acknowledgement.enabled_at
    off = stamp_acknowledgement(SETTINGS, again, t0 + timedelta(days=4))
    assert off.acknowledgement.enabled_at is None


async def test_the_setting_round_trips_through_the_admin_form_and_the_api(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    token = await as_admin(client)
    page = (await client.get("/admin/inboxes")).text
    assert "Automatic acknowledgement" in page and DEFAULT_ACKNOWLEDGEMENT in page
    added = await client.post(
        "/admin/inboxes/email",
        data={
            **form(),
            "acknowledgement_enabled": "on",
            "acknowledgement_text": "Got it!\r\nWe will answer soon.",
            "csrf_token": token,
        },
    )
    assert added.status_code == 303, added.text
    url = added.headers["location"]
    shown = (await client.get(url)).text
    assert (
        'name="acknowledgement_enabled" id="f-acknowledgement_enabled" value="on" checked' in shown
    )
    assert ">Got it!\nWe will answer soon.</textarea>" in shown and "On since " in shown
    inbox_id = int(url.rsplit("/", 1)[1])

    # Blank while on: refused beside the field, nothing saved.
    refused = await client.post(
        url,
        data={
            **form(),
            "acknowledgement_enabled": "on",
            "acknowledgement_text": "  ",
            "csrf_token": token,
        },
    )
    assert refused.status_code == 422
    assert 'id="e-acknowledgement_text"' in refused.text and "turn it off" in refused.text

    # The API, with the same signed-in session: its CSRF token is required.
    api = f"/api/v1/inboxes/{inbox_id}/email-settings"
    read = (await client.get(api)).json()["config"]
    assert read["acknowledgement"]["enabled"] is True
    assert read["acknowledgement"]["text"] == "Got it!\nWe will answer soon."
    since = read["acknowledgement"]["enabled_at"]
    assert datetime.fromisoformat(since) > utcnow() - timedelta(minutes=1)
    read["acknowledgement"]["text"] = "Thank you, we are on it."
    read["acknowledgement"]["enabled_at"] = "2000-01-01T00:00:00Z"  # read-only: ignored
    assert (await client.post(api, json={"config": read})).status_code == 403
    saved = await client.post(
        api, json={"config": read}, headers={"X-CSRF-Token": await csrf_of(client)}
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["config"]["acknowledgement"] == {
        "enabled": True,
        "text": "Thank you, we are on it.",
        "enabled_at": since,
    }
    # The form shows what the API saved, and switching it off there clears the moment.
    shown = (await client.get(url)).text
    assert "Thank you, we are on it.</textarea>" in shown
    off = await client.post(
        url, data={**form(acknowledgement_text="Thank you, we are on it."), "csrf_token": token}
    )
    assert off.status_code == 200 and "Saved." in off.text
    assert 'value="on" checked' not in off.text
    async with rt.read_sessions() as db:
        inbox = await db.get(Inbox, inbox_id)
    assert inbox is not None
    assert inbox.config["acknowledgement"] == {
        "enabled": False,
        "text": "Thank you, we are on it.",
        "enabled_at": None,
    }


@pytest.mark.parametrize(
    ("text", "says"),
    [("Hi\x1b[31m", "control characters"), ("x" * 2001, "at most 2000 characters")],
)
async def test_the_text_is_plain_and_short(
    client: httpx.AsyncClient, world: World, text: str, says: str
) -> None:
    url = f"/api/v1/inboxes/{world.email_inbox.id}/email-settings"
    config = SETTINGS.model_dump(mode="json")
    config["acknowledgement"] = {"enabled": True, "text": text}
    refused = await client.post(url, json={"config": config}, headers=bearer(world, "admin"))
    assert refused.status_code == 422 and says in refused.text


# --- header injection --------------------------------------------------------------------


async def test_neither_the_text_nor_the_customers_subject_can_add_headers(
    rt: Runtime,
    world: World,
    client: httpx.AsyncClient,
    dovecot: DovecotServer,
    smtp: tuple[Recorder, SmtpSettings],
) -> None:
    recorder, server = smtp
    mailbox = Mailbox(dovecot)
    connector = await connector_for(rt, world, mailbox)
    await switch_on(client, world, "Thanks!\r\nBcc: victim@evil.test\r\n\r\nSee you.")
    # An encoded word decodes to a line break: the subject our reply derives from.
    mailbox.deliver(
        customer_mail("mallory@customer.test", subject="=?utf-8?q?Hi=0D=0ABcc:_victim2@evil.test?=")
    )
    assert await sync_and_send(rt, world, connector, server) == 1
    (envelope,) = recorder.received
    assert envelope.rcpt_tos == ["mallory@customer.test"]
    ack = sent(envelope)
    assert ack["Bcc"] is None and "\n" not in ack["Subject"] and "\r" not in ack["Subject"]
    assert ack["Subject"] == "Re: Hi Bcc: victim2@evil.test"
    # The text is the body, line breaks and all.
    assert body(ack) == "Thanks!\nBcc: victim@evil.test\n\nSee you."
    assert [a.delivery.value for a in await automatic_messages(rt) if a.delivery] == ["sent"]
