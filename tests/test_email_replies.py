"""An agent's reply in an email inbox: composed, queued, sent, and threaded back."""

from __future__ import annotations

from datetime import timedelta
from email import message_from_bytes
from email import policy as email_policy
from email.message import Message as MimeMessage

from sqlalchemy import select

from inbox.actions.messages import do_post_reply
from inbox.channels.email.smtp_send import SmtpSettings
from inbox.channels.email.tokens import find_reply_token
from inbox.channels.ingest import ingest
from inbox.models import Delivery, Message, OutboundEmail, ThreadRule, utcnow
from inbox.runtime import Runtime
from tests.conftest import World
from tests.smtp_server import Recorder
from tests.test_email_threading import details, email
from tests.test_outbound_mail import send_through, set_up_email


async def queued(rt: Runtime, message_id: int) -> tuple[OutboundEmail, MimeMessage]:
    async with rt.read_sessions() as db:
        row = await db.get(OutboundEmail, message_id)
    assert row is not None
    with rt.blobs.open(row.raw_sha256) as f:
        return row, message_from_bytes(f.read(), policy=email_policy.default)


async def test_a_reply_answers_the_newest_email_and_the_answer_threads_back(
    rt: Runtime, world: World
) -> None:
    await set_up_email(rt, world)
    inbox = world.email_inbox.id
    first = await ingest(rt, email(inbox, "<q1@mail.test>", subject="Where is my order?"))
    conv_id = first.message.conversation_id
    reply = await do_post_reply(rt, world.ana, conv_id, "It ships today.")
    assert reply.delivery is Delivery.QUEUED
    row, sent = await queued(rt, reply.id)
    assert row.recipients == {"from": "support@shop.test", "to": ["maria@example.test"]}
    assert sent["From"] == "Shop support <support@shop.test>"
    assert sent["To"] == "maria@example.test" and sent["Subject"] == "Re: Where is my order?"
    assert sent["In-Reply-To"] == "<q1@mail.test>" and "<q1@mail.test>" in sent["References"]
    assert sent.get_content().strip() == "It ships today."  # type: ignore[attr-defined]
    # Our Message-ID carries the conversation's token, and is the reply's id.
    assert find_reply_token([sent["Message-ID"]], rt.settings.secret_key) == conv_id
    assert reply.external_id == sent["Message-ID"]
    # The customer answers it: back in the same conversation.
    answer = await ingest(
        rt, email(inbox, "<q2@mail.test>", text="Thanks!", in_reply_to=(sent["Message-ID"],))
    )
    assert answer.message.conversation_id == conv_id
    assert (await details(rt, answer.message.id)).threaded_by == ThreadRule.IN_REPLY_TO


async def test_an_inbox_without_settings_keeps_the_reply_and_says_why_it_failed(
    rt: Runtime, world: World
) -> None:
    first = await ingest(rt, email(world.email_inbox.id, "<r1@mail.test>"))
    reply = await do_post_reply(rt, world.ana, first.message.conversation_id, "Hello")
    assert reply.delivery is Delivery.FAILED
    assert reply.delivery_error is not None and "no server settings" in reply.delivery_error
    async with rt.read_sessions() as db:
        assert await db.get(OutboundEmail, reply.id) is None


async def test_imported_history_is_never_sent(rt: Runtime, world: World) -> None:
    await set_up_email(rt, world)
    first = await ingest(rt, email(world.email_inbox.id, "<s1@mail.test>"))
    old = await do_post_reply(
        rt, world.ana, first.message.conversation_id, "Old answer", at=utcnow() - timedelta(days=9)
    )
    assert old.delivery is Delivery.SENT
    async with rt.read_sessions() as db:
        assert (await db.scalars(select(OutboundEmail))).all() == []


async def test_the_worker_sends_the_queued_bytes_to_the_smtp_server(
    rt: Runtime, world: World, smtp: tuple[Recorder, SmtpSettings]
) -> None:
    recorder, server = smtp
    await set_up_email(rt, world)
    first = await ingest(rt, email(world.email_inbox.id, "<t1@mail.test>"))
    reply = await do_post_reply(rt, world.ana, first.message.conversation_id, "On its way.")
    _, composed = await queued(rt, reply.id)
    assert await send_through(rt, world, server) == 1
    (envelope,) = recorder.received
    assert envelope.rcpt_tos == ["maria@example.test"]
    assert message_from_bytes(envelope.content)["Message-ID"] == composed["Message-ID"]  # type: ignore[arg-type]
    async with rt.read_sessions() as db:
        stored = await db.get(Message, reply.id)
    assert stored is not None and stored.delivery is Delivery.SENT
    assert await send_through(rt, world, server) == 0  # sent once
