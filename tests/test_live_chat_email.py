"""Live chat's offline follow-up: nobody online, the visitor leaves an address,
replies go out by email too (through aiosmtpd), and the customer's emailed
answer threads back into the same chat conversation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import select
from starlette.applications import Starlette

from inbox.access import visible_inbox_ids
from inbox.actions.live_chat import (
    do_create_chat_inbox,
    do_leave_follow_up_email,
    do_start_visitor,
)
from inbox.actions.messages import do_post_reply
from inbox.channels.base import InboundMessage
from inbox.channels.email.normalise import to_inbound
from inbox.channels.email.smtp_send import SmtpSettings
from inbox.channels.email.tokens import message_id_for
from inbox.channels.ingest import ingest
from inbox.errors import NotFound
from inbox.models import Delivery, Identity, Message, OutboundEmail, ThreadRule
from inbox.profiles.metrics import customer_metrics
from inbox.queries import customer_timeline
from inbox.runtime import Runtime
from tests.chat_support import chat_inbox, expect, visitor
from tests.conftest import World
from tests.helpers import inbound
from tests.live import serve
from tests.smtp_server import Recorder
from tests.test_email_bounce import postfix_dsn
from tests.test_email_threading import details
from tests.test_live_ui import signed_in
from tests.test_outbound_mail import delivery_of, send_through, set_up_email


@pytest.fixture
async def base_url(app: Starlette) -> AsyncIterator[str]:
    async with serve(app) as url:
        yield url


def _answer(to_message_id: str, text: str) -> bytes:
    mail = EmailMessage()
    mail["From"] = "Maria <maria@example.test>"
    mail["To"] = "support@shop.test"
    mail["Subject"] = "Re: Where is my parcel?"
    mail["Message-ID"] = "<answer-1@mail.example.test>"
    mail["In-Reply-To"] = to_message_id
    mail["References"] = to_message_id
    mail.set_content(text)
    return mail.as_bytes(policy=email_policy.SMTP)


async def test_offline_the_chat_continues_by_email_and_the_answer_threads_back(
    base_url: str, rt: Runtime, world: World, smtp: tuple[Recorder, SmtpSettings]
) -> None:
    recorder, server = smtp
    await set_up_email(rt, world)
    chat = await chat_inbox(rt, world, email_inbox_id=world.email_inbox.id)
    maria = await visitor(base_url, chat.inbox.config["public_key"], name="Maria")
    async with maria.socket() as ws:
        # No agent has a page open: the widget is told, and offers the email form.
        status = await expect(ws, "status")
        assert status == {"type": "status", "agents_online": False, "follow_up": False}
        ack = await maria.say(ws, "Where is my parcel?")
        await ws.send('{"type": "email", "address": "Maria@Example.test"}')
        assert (await expect(ws, "follow_up"))["address"] == "maria@example.test"

        async with rt.read_sessions() as db:
            first = await db.get(Message, ack["id"])
            assert first is not None
            # Kept as an unverified address of hers, which agents see on her profile.
            claimed = await db.scalar(
                select(Identity).where(Identity.value == "maria@example.test")
            )
        assert claimed is not None and claimed.customer_id == first.customer_id
        assert claimed.verified is False
        conv_id = first.conversation_id

        reply = await do_post_reply(rt, world.ana, conv_id, "It ships today.")
        # The widget, still open, gets it too.
        assert (await expect(ws, "message", mine=False))["text"] == "It ships today."

    assert await send_through(rt, world, server) == 1
    (envelope,) = recorder.received
    assert envelope.rcpt_tos == ["maria@example.test"]
    sent: Any = message_from_bytes(envelope.content, policy=email_policy.default)  # type: ignore[arg-type]
    assert sent["From"] == "Shop support <support@shop.test>"
    assert sent.get_content().strip() == "It ships today."
    async with rt.read_sessions() as db:
        stored = await db.get(Message, reply.id)
        queued = await db.get(OutboundEmail, reply.id)
    assert stored is not None and stored.delivery is Delivery.SENT
    assert queued is not None and queued.inbox_id == world.email_inbox.id
    assert stored.external_id == sent["Message-ID"]

    # Maria answers from her mailbox; the email inbox takes it in as any mail.
    raw = _answer(sent["Message-ID"], "Thanks! Can you send it to my office?")
    answer = to_inbound(
        world.email_inbox.id,
        raw,
        blobs=rt.blobs,
        secret=rt.settings.secret_key,
        max_bytes=10 * 2**20,
    )
    assert not hasattr(answer, "reason"), answer
    received = await ingest(rt, answer)  # type: ignore[arg-type]
    assert received.message.conversation_id == conv_id
    assert received.message.customer_id == first.customer_id
    assert (await details(rt, received.message.id)).threaded_by == ThreadRule.REPLY_TOKEN

    # Back on the site, the widget shows the whole conversation, her email too.
    async with maria.socket(after=0) as ws:
        status = await expect(ws, "status")
        assert status["follow_up"] is True
        lines = [await expect(ws, "message") for _ in range(3)]
    assert [line["text"] for line in lines] == [
        "Where is my parcel?",
        "It ships today.",
        "Thanks! Can you send it to my office?",
    ]

    # With an agent online, her next chat message ends the email follow-up:
    # later replies reach the chat alone.
    async with signed_in(base_url, "ben") as ben, ben.watch("/"), maria.socket() as ws:
        assert (await expect(ws, "status"))["agents_online"] is True
        await maria.say(ws, "I'm back on the site")
        assert (await expect(ws, "status"))["follow_up"] is False
        await do_post_reply(rt, world.ana, conv_id, "Great, office it is.")
        assert (await expect(ws, "message", mine=False))["text"] == "Great, office it is."
    assert await send_through(rt, world, server) == 0
    assert len(recorder.received) == 1


async def test_the_emailed_answer_is_seen_by_whoever_sees_the_chat(
    rt: Runtime, world: World
) -> None:
    # The sales team sees this chat but not the support email inbox its
    # follow-ups go through; support sees the email inbox but not this chat.
    await set_up_email(rt, world)
    chat = await do_create_chat_inbox(
        rt,
        world.admin,
        name="Sales chat",
        team_ids=[world.sales.id],  # type: ignore[attr-defined]
        email_inbox_id=world.email_inbox.id,
    )
    first = await ingest(rt, inbound(chat.inbox.id, chat_id="v-sales", text="Ship to Porto?"))
    conv_id = first.message.conversation_id
    token = message_id_for(conv_id, "shop.test", rt.settings.secret_key)
    answer = to_inbound(
        world.email_inbox.id,
        _answer(token, "Also: gift wrap?"),
        blobs=rt.blobs,
        secret=rt.settings.secret_key,
        max_bytes=10 * 2**20,
    )
    received = await ingest(rt, answer)  # type: ignore[arg-type]
    assert received.message.conversation_id == conv_id

    customer_id = first.message.customer_id
    async with rt.read_sessions() as db:
        olgas = await customer_timeline(db, world.olga, customer_id)  # type: ignore[arg-type]
        with pytest.raises(NotFound):
            await customer_timeline(db, world.ana, customer_id)  # type: ignore[arg-type]
        metrics = await customer_metrics(
            db,
            customer_id,
            await visible_inbox_ids(db, world.olga),  # type: ignore[arg-type]
        )
    assert [(e.message.text, e.channel) for e in olgas.entries] == [
        ("Ship to Porto?", "live_chat"),
        ("Also: gift wrap?", "email"),
    ]
    assert metrics.conversations == 1


async def test_a_bounced_follow_up_marks_the_chat_reply_failed(
    rt: Runtime, world: World, smtp: tuple[Recorder, SmtpSettings]
) -> None:
    # The follow-up goes out from the email inbox, so its bounce comes back
    # there; the reply it returns is the chat's, and the chat's agent must see
    # that the customer never got it by email.
    recorder, server = smtp
    await set_up_email(rt, world)
    chat = await chat_inbox(rt, world, email_inbox_id=world.email_inbox.id)
    started = await do_start_visitor(rt, chat.inbox.id, display_name="Maria")
    first = await ingest(
        rt, inbound(chat.inbox.id, chat_id=started.visitor.public_id, text="Where is it?")
    )
    await do_leave_follow_up_email(rt, started.visitor.id, "maria@example.test")
    reply = await do_post_reply(rt, world.ana, first.message.conversation_id, "Shipped today.")
    assert await send_through(rt, world, server) == 1
    sent = recorder.received[-1].content
    assert isinstance(sent, bytes)
    assert await delivery_of(rt, reply.id) == (Delivery.SENT, None)

    report = to_inbound(
        world.email_inbox.id,
        postfix_dsn(sent, report_id="<dsn-chat@mx.shop.test>", to="support@shop.test"),
        blobs=rt.blobs,
        secret=rt.settings.secret_key,
        max_bytes=10 * 2**20,
    )
    assert isinstance(report, InboundMessage)
    await ingest(rt, report)
    delivery, reason = await delivery_of(rt, reply.id)
    assert delivery is Delivery.FAILED
    assert reason is not None and "User unknown" in reason
