"""Which conversation an inbound email lands in, and what is kept beside it.

Through the one ingest function, as the email connector calls it; the
connector's parsing is tested on its own (test_email_parse).
"""

from __future__ import annotations

from sqlalchemy import func, select

from inbox.actions.conversations import do_set_status
from inbox.channels.base import InboundEmail, InboundMessage
from inbox.channels.ingest import ingest
from inbox.models import (
    Attachment,
    Conversation,
    Customer,
    EmailDetails,
    Message,
    Status,
    ThreadRule,
)
from inbox.profiles.identities import ref
from inbox.runtime import Runtime
from tests.conftest import World
from tests.helpers import captured_events


def email(
    inbox_id: int,
    message_id: str,
    *,
    sender: str = "maria@example.test",
    subject: str = "Where is my order?",
    text: str = "Hello, my order has not arrived.",
    in_reply_to: tuple[str, ...] = (),
    references: tuple[str, ...] = (),
    token: int | None = None,
) -> InboundMessage:
    return InboundMessage(
        inbox_id=inbox_id,
        external_id=message_id,
        identities=(ref("email", sender),),
        text=text,
        sender_name=sender.split("@")[0].title(),
        subject=subject,
        email=InboundEmail(
            in_reply_to=in_reply_to,
            references=references,
            token_conversation_id=token,
            raw_sha256="ab" * 32,
            raw_size=1234,
            quoted_text="> earlier",
            from_address=sender,
            headers={"to": ["support@shop.test"]},
        ),
    )


async def details(rt: Runtime, message_id: int) -> EmailDetails:
    async with rt.read_sessions() as db:
        found = await db.get(EmailDetails, message_id)
    assert found is not None
    return found


async def test_a_reply_joins_its_thread_by_in_reply_to(rt: Runtime, world: World) -> None:
    inbox = world.email_inbox.id
    first = await ingest(rt, email(inbox, "<a1@mail.test>"))
    reply = await ingest(
        rt, email(inbox, "<a2@mail.test>", text="Any news?", in_reply_to=("<a1@mail.test>",))
    )
    assert reply.message.conversation_id == first.message.conversation_id
    assert (await details(rt, first.message.id)).threaded_by == ThreadRule.NEW
    kept = await details(rt, reply.message.id)
    assert kept.threaded_by == ThreadRule.IN_REPLY_TO
    assert kept.quoted_text == "> earlier" and kept.raw_sha256 == "ab" * 32
    assert kept.headers["in_reply_to"] == ["<a1@mail.test>"]


async def test_a_rewritten_in_reply_to_still_threads_by_references(
    rt: Runtime, world: World
) -> None:
    inbox = world.email_inbox.id
    first = await ingest(rt, email(inbox, "<b1@mail.test>"))
    reply = await ingest(
        rt,
        email(
            inbox,
            "<b3@mail.test>",
            in_reply_to=("<rewritten-by-client@mail.test>",),
            references=("<b1@mail.test>", "<unknown@mail.test>"),
        ),
    )
    assert reply.message.conversation_id == first.message.conversation_id
    assert (await details(rt, reply.message.id)).threaded_by == ThreadRule.REFERENCES


async def test_our_reply_token_threads_but_only_in_its_own_inbox(rt: Runtime, world: World) -> None:
    first = await ingest(rt, email(world.email_inbox.id, "<c1@mail.test>"))
    conv_id = first.message.conversation_id
    answered = await ingest(rt, email(world.email_inbox.id, "<c2@mail.test>", token=conv_id))
    assert answered.message.conversation_id == conv_id
    assert (await details(rt, answered.message.id)).threaded_by == ThreadRule.REPLY_TOKEN
    # A token for a conversation of another inbox threads nothing here.
    elsewhere = await ingest(rt, email(world.chat_inbox.id, "<c3@mail.test>", token=conv_id))
    assert elsewhere.message.conversation_id != conv_id


async def test_a_new_thread_from_the_same_customer_is_a_new_conversation(
    rt: Runtime, world: World
) -> None:
    inbox = world.email_inbox.id
    first = await ingest(rt, email(inbox, "<d1@mail.test>"))
    other = await ingest(rt, email(inbox, "<d2@mail.test>", subject="Invoice copy"))
    assert other.message.conversation_id != first.message.conversation_id
    assert other.message.customer_id == first.message.customer_id


async def test_a_colleague_answering_in_the_thread_is_no_new_customer(
    rt: Runtime, world: World
) -> None:
    inbox = world.email_inbox.id
    first = await ingest(rt, email(inbox, "<e1@mail.test>"))
    async with rt.read_sessions() as db:
        customers_before = await db.scalar(select(func.count()).select_from(Customer))
    cc = await ingest(
        rt,
        email(inbox, "<e2@mail.test>", sender="boss@example.test", in_reply_to=("<e1@mail.test>",)),
    )
    assert cc.message.conversation_id == first.message.conversation_id
    assert cc.message.customer_id == first.message.customer_id
    async with rt.read_sessions() as db:
        assert await db.scalar(select(func.count()).select_from(Customer)) == customers_before
    assert (await details(rt, cc.message.id)).from_address == "boss@example.test"


async def test_a_reply_to_a_resolved_thread_reopens_it(rt: Runtime, world: World) -> None:
    inbox = world.email_inbox.id
    first = await ingest(rt, email(inbox, "<f1@mail.test>"))
    conv_id = first.message.conversation_id
    await do_set_status(rt, world.ana, conv_id, Status.RESOLVED)
    with captured_events(rt) as events:
        back = await ingest(
            rt, email(inbox, "<f2@mail.test>", text="Still broken", in_reply_to=("<f1@mail.test>",))
        )
    assert back.message.conversation_id == conv_id
    async with rt.read_sessions() as db:
        conv = await db.get(Conversation, conv_id)
    assert conv is not None and conv.status is Status.OPEN
    reopened = [p.event for p in events if p.event.type == "conversation.status_changed"]
    assert [(e.previous_status, e.status) for e in reopened] == [("resolved", "open")]  # type: ignore[attr-defined]


async def test_a_redelivered_email_is_stored_once(rt: Runtime, world: World) -> None:
    inbox = world.email_inbox.id
    first = await ingest(rt, email(inbox, "<g1@mail.test>"))
    again = await ingest(rt, email(inbox, "<g1@mail.test>"))
    assert again.message.id == first.message.id and not again.created


async def test_nul_bytes_anywhere_are_dropped_not_refused(rt: Runtime, world: World) -> None:
    # PostgreSQL refuses NUL in text; SQLite would keep it. Either way: gone.
    from dataclasses import replace

    from inbox.channels.base import InboundAttachment

    message = replace(
        email(world.email_inbox.id, "<z1@mail.test>", text="he\x00llo"),
        sender_name="Ma\x00ria",
        attachments=(InboundAttachment("in\x00voice.pdf", "application/pdf\x00", 3, "ab" * 32),),
    )
    received = await ingest(rt, message)
    async with rt.read_sessions() as db:
        stored = await db.get(Message, received.message.id)
        customer = await db.get(Customer, received.message.customer_id)
        attachment = await db.scalar(select(Attachment))
    assert stored is not None and stored.text == "hello"
    assert customer is not None and customer.name == "Maria"
    assert attachment is not None and attachment.filename == "invoice.pdf"
