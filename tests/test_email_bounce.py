"""A bounce marks the reply it returns as not delivered, with the reason, live.

End to end: the agent's reply goes out through a real SMTP server (so it carries
our real Message-ID), and the delivery report comes back the way all mail does,
APPENDed to a real Dovecot mailbox and synced by the connector. The reports are
shaped like Postfix's and Exchange's.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from email import message_from_bytes

import pytest
from sqlalchemy import select
from starlette.applications import Starlette

from inbox.actions.inboxes import do_create_inbox, do_update_email_settings
from inbox.actions.messages import do_post_reply
from inbox.channels.base import InboundMessage
from inbox.channels.email.normalise import to_inbound
from inbox.channels.email.parse import Bounce, RecipientStatus, parse_email
from inbox.channels.email.sender import send_due
from inbox.channels.email.settings import EmailSecrets
from inbox.channels.email.smtp_send import SmtpSettings
from inbox.channels.email.tokens import reply_token
from inbox.channels.ingest import ingest
from inbox.events import Published
from inbox.models import (
    ChannelKind,
    Conversation,
    Delivery,
    EmailDetails,
    Message,
    OutboundEmail,
    Status,
)
from inbox.runtime import Runtime
from tests.conftest import World
from tests.dovecot_server import DovecotServer, running_dovecot
from tests.helpers import captured_events
from tests.live import serve
from tests.smtp_server import Recorder
from tests.test_api_support import bearer
from tests.test_email_connector import Mailbox, connector_for, mail
from tests.test_email_threading import email
from tests.test_live_ui import recv, signed_in
from tests.test_outbound_mail import SETTINGS, delivery_of, set_up_email

USER_UNKNOWN = (
    "smtp; 550 5.1.1 <maria@example.test>: Recipient address rejected: User unknown in "
    "virtual mailbox table"
)
SHOWN_REASON = (
    "Not delivered: the email came back undelivered: 550 5.1.1 &lt;maria@example.test&gt;: "
    "Recipient address rejected: User unknown in virtual mailbox table"
)


@pytest.fixture(scope="module")
async def dovecot() -> AsyncIterator[DovecotServer]:
    async with running_dovecot() as server:
        yield server


def postfix_dsn(
    original: bytes,
    *,
    report_id: str,
    to: str,
    action: str = "failed",
    status: str = "5.1.1",
    diagnostic: str = USER_UNKNOWN,
) -> bytes:
    """A Postfix delivery report returning `original`'s headers (text/rfc822-headers)."""
    headers = original.split(b"\r\n\r\n", 1)[0]
    delayed = action == "delayed"
    subject = (
        "Delayed Mail (still being retried)" if delayed else "Undelivered Mail Returned to Sender"
    )
    retry = "Will-Retry-Until: Fri, 27 Nov 2026 10:00:05 +0000 (UTC)\r\n" if delayed else ""
    return (
        (
            "Return-Path: <>\r\n"
            "Received: by mx.shop.test (Postfix) id 4C3B2A1F0E; Wed, 25 Nov 2026 10:05:07 +0000\r\n"
            "Date: Wed, 25 Nov 2026 10:05:07 +0000 (UTC)\r\n"
            "From: MAILER-DAEMON@mx.shop.test (Mail Delivery System)\r\n"
            f"Subject: {subject}\r\n"
            f"To: {to}\r\n"
            "Auto-Submitted: auto-replied\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: multipart/report; report-type=delivery-status;\r\n"
            '\tboundary="4C3B2A1F0E.1795600000/mx.shop.test"\r\n'
            f"Message-Id: {report_id}\r\n"
            "\r\n"
            "This is a MIME-encapsulated message.\r\n"
            "\r\n"
            "--4C3B2A1F0E.1795600000/mx.shop.test\r\n"
            "Content-Description: Notification\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n"
            "\r\n"
            "This is the mail system at host mx.shop.test.\r\n"
            "\r\n"
            "I'm sorry to have to inform you that your message could not\r\n"
            "be delivered to one or more recipients.\r\n"
            "\r\n"
            "--4C3B2A1F0E.1795600000/mx.shop.test\r\n"
            "Content-Description: Delivery report\r\n"
            "Content-Type: message/delivery-status\r\n"
            "\r\n"
            "Reporting-MTA: dns; mx.shop.test\r\n"
            "X-Postfix-Queue-ID: 4C3B2A1F0E\r\n"
            "X-Postfix-Sender: rfc822; support@shop.test\r\n"
            "Arrival-Date: Wed, 25 Nov 2026 10:05:05 +0000 (UTC)\r\n"
            "\r\n"
            "Final-Recipient: rfc822; maria@example.test\r\n"
            "Original-Recipient: rfc822;maria@example.test\r\n"
            f"Action: {action}\r\n"
            f"Status: {status}\r\n"
            "Remote-MTA: dns; mx.example.test\r\n"
            f"Diagnostic-Code: {diagnostic}\r\n"
            f"{retry}"
            "\r\n"
            "--4C3B2A1F0E.1795600000/mx.shop.test\r\n"
            "Content-Description: Undelivered Message Headers\r\n"
            "Content-Type: text/rfc822-headers\r\n"
            "\r\n"
        ).encode()
        + headers
        + b"\r\n\r\n--4C3B2A1F0E.1795600000/mx.shop.test--\r\n"
    )


def exchange_ndr(original_id: str) -> bytes:
    """An Exchange Online NDR for two recipients: one not found, one over quota."""
    return (
        "From: Microsoft Outlook <postmaster@contoso.example>\r\n"
        "To: <support@shop.test>\r\n"
        "Date: Tue, 16 Jan 2024 09:12:03 +0000\r\n"
        "Content-Type: multipart/report; report-type=delivery-status;\r\n"
        '\tboundary="a8d3a7c2-5e1b-4a3f-9f0e-0d6f0c1b2e3f"\r\n'
        "MIME-Version: 1.0\r\n"
        "Message-ID: <7a1f0c2e-aaaa-4bbb-8ccc-0123456789ab@AM0PR01MB1234.eurprd01.prod.example>\r\n"
        "Subject: Undeliverable: Re: Your refund\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "X-MS-Exchange-Message-Is-Ndr:\r\n"
        f"In-Reply-To: {original_id}\r\n"
        f"References: {original_id}\r\n"
        "\r\n"
        "--a8d3a7c2-5e1b-4a3f-9f0e-0d6f0c1b2e3f\r\n"
        'Content-Type: multipart/alternative; differences=Content-Type;\r\n\tboundary="alt"\r\n'
        "\r\n"
        "--alt\r\n"
        'Content-Type: text/plain; charset="us-ascii"\r\n'
        "\r\n"
        "Your message to bob@fabrikam.example couldn't be delivered.\r\n"
        "--alt\r\n"
        'Content-Type: text/html; charset="us-ascii"\r\n'
        "\r\n"
        "<html><body><p>Your message couldn't be delivered.</p></body></html>\r\n"
        "--alt--\r\n"
        "\r\n"
        "--a8d3a7c2-5e1b-4a3f-9f0e-0d6f0c1b2e3f\r\n"
        "Content-Type: message/delivery-status\r\n"
        "\r\n"
        "Reporting-MTA: dns;AM0PR01MB1234.eurprd01.prod.example\r\n"
        "Received-From-MTA: dns;AM0PR01MB5678.eurprd01.prod.example\r\n"
        "Arrival-Date: Tue, 16 Jan 2024 09:12:01 +0000\r\n"
        "\r\n"
        "Final-Recipient: rfc822;bob@fabrikam.example\r\n"
        "Action: failed\r\n"
        "Status: 5.1.10\r\n"
        "Diagnostic-Code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found\r\n"
        " by SMTP address lookup\r\n"
        "X-Display-Name: Bob\r\n"
        "\r\n"
        "Final-Recipient: rfc822;carol@fabrikam.example\r\n"
        "Action: failed\r\n"
        "Status: 5.2.2\r\n"
        "X-Display-Name: Carol\r\n"
        "\r\n"
        "Final-Recipient: rfc822;dave@fabrikam.example\r\n"
        "Action: relayed\r\n"
        "Status: 2.0.0\r\n"
        "\r\n"
        "--a8d3a7c2-5e1b-4a3f-9f0e-0d6f0c1b2e3f\r\n"
        "Content-Type: message/rfc822\r\n"
        "\r\n"
        "From: Shop support <support@shop.test>\r\n"
        "To: bob@fabrikam.example, carol@fabrikam.example, dave@fabrikam.example\r\n"
        "Subject: Re: Your refund\r\n"
        f"Message-ID: {original_id}\r\n"
        "\r\n"
        "It is on its way.\r\n"
        "\r\n"
        "--a8d3a7c2-5e1b-4a3f-9f0e-0d6f0c1b2e3f--\r\n"
    ).encode()


async def sent_reply(
    rt: Runtime, world: World, inbox_id: int, conv_id: int, smtp: SmtpSettings, recorder: Recorder
) -> tuple[Message, bytes]:
    """An agent's reply, sent through the SMTP server: (the stored reply, the bytes it took)."""
    reply = await do_post_reply(rt, world.ana, conv_id, "Your refund is on its way.")
    assert await send_due(rt, inbox_id, smtp, rt.blobs) == 1
    content = recorder.received[-1].content
    assert isinstance(content, bytes)
    assert message_from_bytes(content)["Message-ID"] == reply.external_id
    assert await delivery_of(rt, reply.id) == (Delivery.SENT, None)
    return reply, content


async def replied_conversation(
    rt: Runtime, world: World, dovecot: DovecotServer, smtp: tuple[Recorder, SmtpSettings]
) -> tuple[Mailbox, Message, bytes]:
    """The email inbox on a Dovecot mailbox, a customer's mail in it, and our reply, sent."""
    recorder, server = smtp
    mailbox = Mailbox(dovecot)
    connector = await connector_for(rt, world, mailbox)
    mailbox.deliver(mail(1))
    assert await connector.sync_now() == 1
    async with rt.read_sessions() as db:
        conv_id = await db.scalar(
            select(Message.conversation_id).where(Message.inbox_id == world.email_inbox.id)  # type: ignore[attr-defined]
        )
    assert conv_id is not None
    reply, sent = await sent_reply(rt, world, world.email_inbox.id, conv_id, server, recorder)
    return mailbox, reply, sent


async def bounce_arrives(
    rt: Runtime, world: World, mailbox: Mailbox, raw: bytes
) -> list[Published]:
    """The report delivered to the mailbox and synced; the events that told of it.

    The mailbox's own bookkeeping (``mail.*``) is left out: it is not what an agent sees.
    """
    connector = await connector_for(rt, world, mailbox)
    mailbox.deliver(raw)
    with captured_events(rt) as events:
        assert await connector.sync_now() == 1
    return [p for p in events if not p.event.type.startswith("mail.")]


async def stored_report(rt: Runtime, report_id: str) -> tuple[Message, EmailDetails]:
    async with rt.read_sessions() as db:
        report = await db.scalar(select(Message).where(Message.external_id == report_id))
        assert report is not None
        kept = await db.get(EmailDetails, report.id)
    assert kept is not None
    return report, kept


async def test_a_bounce_marks_the_reply_failed_on_the_page_in_the_api_and_live(
    rt: Runtime,
    world: World,
    app: Starlette,
    dovecot: DovecotServer,
    smtp: tuple[Recorder, SmtpSettings],
) -> None:
    mailbox, reply, sent = await replied_conversation(rt, world, dovecot, smtp)
    conv_id = reply.conversation_id
    async with rt.read_sessions() as db:
        queued_before = await db.get(OutboundEmail, reply.id)
    assert queued_before is not None and queued_before.sent_at is not None
    report = postfix_dsn(sent, report_id="<dsn-1@mx.shop.test>", to=mailbox.user)
    async with (
        serve(app) as base_url,
        signed_in(base_url, "ben") as ben,
        ben.watch(f"/conversations/{conv_id}") as page,
    ):
        events = await bounce_arrives(rt, world, mailbox, report)
        redrawn = ""
        while f'id="m-{reply.id}"' not in redrawn:
            redrawn = await recv(page)
        page_html = (await ben.http.get(f"/conversations/{conv_id}")).text
        api = await ben.http.get(f"/api/v1/conversations/{conv_id}", headers=bearer(world, "ben"))

    # An open page redraws the reply as not delivered, with the reason, escaped.
    assert SHOWN_REASON in redrawn
    # So does the page when loaded, on the reply itself.
    item = re.search(rf'<li id="m-{reply.id}".*?</li>', page_html, re.DOTALL)
    assert item is not None
    assert 'class="delivery delivery-failed"' in item.group(0) and SHOWN_REASON in item.group(0)
    assert "<maria@example.test>:" not in page_html
    assert api.status_code == 200
    by_id = {m["id"]: m for m in api.json()["messages"]}
    assert by_id[reply.id]["delivery"] == "failed"
    assert by_id[reply.id]["delivery_error"].startswith("the email came back undelivered: 550")

    # The report itself is kept in the conversation, marked as a bounce.
    bounce, kept = await stored_report(rt, "<dsn-1@mx.shop.test>")
    assert bounce.conversation_id == conv_id and kept.auto_kind == "bounce"
    assert by_id[bounce.id]["direction"] == "inbound"
    # One event for the report, one for the reply, both to the inbox's agents.
    created, changed = events
    assert created.event.type == "message.created" and created.event.message_id == bounce.id  # type: ignore[attr-defined]
    assert changed.event.type == "message.delivery_changed"
    assert (changed.event.message_id, changed.event.delivery) == (reply.id, "failed")  # type: ignore[attr-defined]
    assert changed.audience == created.audience
    assert {world.ana.id, world.ben.id} <= changed.audience.agent_ids  # type: ignore[attr-defined]
    assert world.olga.id not in changed.audience.agent_ids  # type: ignore[attr-defined]

    # Nothing else changed: the customer's mail, the queue row, the conversation.
    async with rt.read_sessions() as db:
        messages = (
            await db.scalars(
                select(Message).where(Message.conversation_id == conv_id).order_by(Message.id)
            )
        ).all()
        queued = await db.get(OutboundEmail, reply.id)
        conv = await db.get(Conversation, conv_id)
    assert [m.id for m in messages] == [messages[0].id, reply.id, bounce.id]
    assert messages[0].delivery is None and bounce.delivery is None
    assert queued is not None
    assert (queued.sent_at, queued.gave_up_at, queued.attempts, queued.last_error) == (
        queued_before.sent_at,
        None,
        1,
        None,
    )
    assert conv is not None and conv.status is Status.OPEN

    # A second report for the same reply changes nothing: failed stays failed, first reason kept.
    reason = await delivery_of(rt, reply.id)
    again = postfix_dsn(
        sent, report_id="<dsn-2@mx.shop.test>", to=mailbox.user, diagnostic="smtp; 550 other"
    )
    assert [p.event.type for p in await bounce_arrives(rt, world, mailbox, again)] == [
        "message.created"
    ]
    assert await delivery_of(rt, reply.id) == reason


async def test_a_delayed_report_marks_nothing(
    rt: Runtime, world: World, dovecot: DovecotServer, smtp: tuple[Recorder, SmtpSettings]
) -> None:
    mailbox, reply, sent = await replied_conversation(rt, world, dovecot, smtp)
    delayed = postfix_dsn(
        sent,
        report_id="<delay-1@mx.shop.test>",
        to=mailbox.user,
        action="delayed",
        status="4.4.1",
        diagnostic="X-Postfix; connect to mx.example.test[192.0.2.7]:25: Connection timed out",
    )
    events = await bounce_arrives(rt, world, mailbox, delayed)
    assert [p.event.type for p in events] == ["message.created"]
    assert await delivery_of(rt, reply.id) == (Delivery.SENT, None)
    report, kept = await stored_report(rt, "<delay-1@mx.shop.test>")
    assert report.conversation_id == reply.conversation_id and kept.auto_kind == "bounce"


async def test_a_report_for_an_id_we_never_sent_marks_nothing_and_is_still_threaded(
    rt: Runtime, world: World, dovecot: DovecotServer, smtp: tuple[Recorder, SmtpSettings]
) -> None:
    mailbox, reply, sent = await replied_conversation(rt, world, dovecot, smtp)
    # Our conversation's valid token, but a Message-ID we never generated.
    token = reply_token(reply.conversation_id, rt.settings.secret_key)
    assert reply.external_id is not None and token in reply.external_id
    forged = sent.replace(reply.external_id.encode(), f"<{token}.neverissued@shop.test>".encode())
    events = await bounce_arrives(
        rt, world, mailbox, postfix_dsn(forged, report_id="<dsn-9@mx.shop.test>", to=mailbox.user)
    )
    assert [p.event.type for p in events] == ["message.created"]
    assert await delivery_of(rt, reply.id) == (Delivery.SENT, None)
    report, kept = await stored_report(rt, "<dsn-9@mx.shop.test>")
    # Nothing lost: kept, in the conversation its token names.
    assert report.conversation_id == reply.conversation_id
    assert (kept.auto_kind, kept.threaded_by) == ("bounce", "reply_token")


async def test_a_report_naming_another_inboxs_reply_marks_nothing(
    rt: Runtime, world: World, dovecot: DovecotServer, smtp: tuple[Recorder, SmtpSettings]
) -> None:
    recorder, server = smtp
    # A second email inbox, its own conversation and its reply, sent.
    billing = await do_create_inbox(
        rt,
        None,
        name="Billing email",
        channel=ChannelKind.EMAIL,
        team_ids=[world.support.id],  # type: ignore[attr-defined]
        config={"address": "billing@shop.test"},
    )
    await do_update_email_settings(
        rt, world.admin, billing.id, SETTINGS, EmailSecrets(imap_password="pw")
    )
    first = await ingest(rt, email(billing.id, "<b-1@example.test>"))
    other, other_sent = await sent_reply(
        rt, world, billing.id, first.message.conversation_id, server, recorder
    )
    # The report for it arrives in the support inbox, which also has a sent reply.
    mailbox, reply, _ = await replied_conversation(rt, world, dovecot, smtp)
    report = postfix_dsn(other_sent, report_id="<dsn-x@mx.shop.test>", to=mailbox.user)
    events = await bounce_arrives(rt, world, mailbox, report)
    assert [p.event.type for p in events] == ["conversation.created", "message.created"]
    assert await delivery_of(rt, other.id) == (Delivery.SENT, None)
    assert await delivery_of(rt, reply.id) == (Delivery.SENT, None)
    stored, kept = await stored_report(rt, "<dsn-x@mx.shop.test>")
    assert stored.inbox_id == world.email_inbox.id and kept.auto_kind == "bounce"  # type: ignore[attr-defined]


# --- parsing: what a report says, in the shapes real servers send ---------------


def test_a_postfix_report_names_the_failed_recipient_and_why() -> None:
    original = (
        b"From: support@shop.test\r\nMessage-ID: <c7.abcdefghij.k2m4@shop.test>\r\n\r\nHi\r\n"
    )
    parsed = parse_email(
        postfix_dsn(original, report_id="<r@mx.shop.test>", to="support@shop.test")
    )
    assert parsed.bounce == Bounce(
        original_message_id="<c7.abcdefghij.k2m4@shop.test>",
        failed=True,
        reason=(
            "550 5.1.1 <maria@example.test>: Recipient address rejected: User unknown in "
            "virtual mailbox table"
        ),
        recipients=(
            RecipientStatus(
                recipient="maria@example.test",
                action="failed",
                status="5.1.1",
                diagnostic=(
                    "550 5.1.1 <maria@example.test>: Recipient address rejected: User unknown "
                    "in virtual mailbox table"
                ),
            ),
        ),
    )


def test_an_exchange_report_lists_each_failed_recipient_and_skips_the_relayed_one() -> None:
    parsed = parse_email(exchange_ndr("<c7.abcdefghij.xyz@shop.test>"))
    assert parsed.bounce is not None and parsed.bounce.failed
    assert parsed.bounce.original_message_id == "<c7.abcdefghij.xyz@shop.test>"
    assert [(r.recipient, r.action, r.status) for r in parsed.bounce.recipients] == [
        ("bob@fabrikam.example", "failed", "5.1.10"),
        ("carol@fabrikam.example", "failed", "5.2.2"),
        ("dave@fabrikam.example", "relayed", "2.0.0"),
    ]
    # Carol's has no diagnostic: the status code is explained instead.
    assert parsed.bounce.reason == (
        "bob@fabrikam.example: 550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found "
        "by SMTP address lookup; carol@fabrikam.example: 5.2.2 (the mailbox is full)"
    )


def test_only_a_failed_action_fails_and_prose_bounces_say_nothing() -> None:
    original = b"Message-ID: <x1@shop.test>\r\n\r\n"
    for action in ("delayed", "delivered", "relayed", "expanded"):
        raw = postfix_dsn(original, report_id="<r@mx.test>", to="a@shop.test", action=action)
        parsed = parse_email(raw)
        assert parsed.bounce is not None and not parsed.bounce.failed, action
        assert parsed.bounce.reason == ""
    # An old-style bounce: prose from a mailer-daemon, nothing machine-readable.
    prose = (
        b"From: MAILER-DAEMON@mx.test\r\nTo: a@shop.test\r\nSubject: failure notice\r\n"
        b"Message-ID: <q@mx.test>\r\n\r\nSorry, I couldn't deliver to <maria@example.test>.\r\n"
        b"550 5.1.1 user unknown\r\n\r\n--- Below this line is a copy of the message.\r\n\r\n"
        b"Message-ID: <x1@shop.test>\r\n"
    )
    parsed = parse_email(prose)
    assert parsed.auto is not None and parsed.auto.value == "bounce" and parsed.bounce is None


HOSTILE = "smtp; 550 \x1b[31mno\u202e such\x07 user " + "very long " * 200


def test_a_hostile_diagnostic_is_cleaned_and_cut_by_the_parser() -> None:
    original = b"Message-ID: <x2@shop.test>\r\n\r\n"
    parsed = parse_email(
        postfix_dsn(original, report_id="<r@mx.test>", to="a@shop.test", diagnostic=HOSTILE)
    )
    assert parsed.bounce is not None and parsed.bounce.failed
    reason = parsed.bounce.reason
    assert reason.startswith("5.1.1 550 ") and "\x1b" not in reason and "\x07" not in reason
    assert len(reason) <= 500 and reason.endswith("\u2026")


async def test_the_stored_reason_is_plain_short_text(
    rt: Runtime, world: World, smtp: tuple[Recorder, SmtpSettings]
) -> None:
    recorder, server = smtp
    await set_up_email(rt, world)
    first = await ingest(rt, email(world.email_inbox.id, "<h-1@example.test>"))
    conv_id = first.message.conversation_id
    reply, sent = await sent_reply(rt, world, world.email_inbox.id, conv_id, server, recorder)
    raw = postfix_dsn(sent, report_id="<h-2@mx.test>", to="support@shop.test", diagnostic=HOSTILE)
    # What the connector does with each fetched message.
    report = to_inbound(
        world.email_inbox.id, raw, blobs=rt.blobs, secret=rt.settings.secret_key, max_bytes=2**20
    )
    assert isinstance(report, InboundMessage)
    await ingest(rt, report)
    delivery, reason = await delivery_of(rt, reply.id)
    assert delivery is Delivery.FAILED and reason is not None
    assert reason.startswith("the email came back undelivered: 5.1.1 550 ")
    # No bidi override (or other format character) to turn the text around on screen.
    assert reason.isprintable() and "\u202e" not in reason
    assert len(reason) < 350 and reason.endswith(" long\u2026")  # cut between words
