"""A connector's batch stored in one transaction: the same outcome as one message at a time.

An email sync hands ingest a hundred messages at a time. Within a batch, a
reply to a message earlier in the same batch must join its conversation, a
sender met twice must stay one customer, a message listed twice must be stored
once, and one refused message must not cost the others.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from sqlalchemy import event, func, select

from inbox.channels.base import InboundEmail, InboundMessage
from inbox.channels.ingest import ingest_batch
from inbox.errors import InboxError
from inbox.models import Conversation, Customer, EmailDetails, Identity, Message
from inbox.runtime import Runtime
from tests.conftest import World
from tests.helpers import captured_events, inbound

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def email(
    inbox_id: int,
    message_id: str,
    *,
    sender: str = "maria@example.test",
    name: str = "Maria Lopez",
    in_reply_to: tuple[str, ...] = (),
    minutes: int = 0,
    subject: str = "Order 1042",
) -> InboundMessage:
    base = inbound(
        inbox_id,
        email=sender,
        name=name,
        text=f"text of {message_id}",
        external_id=message_id,
        at=T0 + timedelta(minutes=minutes),
    )
    return dataclasses.replace(
        base,
        subject=subject,
        email=InboundEmail(in_reply_to=in_reply_to, references=in_reply_to, from_address=sender),
    )


async def count(rt: Runtime, model: type[object]) -> int:
    async with rt.read_sessions() as db:
        return int(await db.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_reply_later_in_the_same_batch_joins_its_thread(rt: Runtime, world: World) -> None:
    inbox_id = world.email_inbox.id  # type: ignore[attr-defined]
    batch = [
        email(inbox_id, "<a1@example.test>"),
        email(
            inbox_id, "<b1@example.test>", sender="li@example.test", name="Li Wei", subject="Refund"
        ),
        email(inbox_id, "<a2@example.test>", in_reply_to=("<a1@example.test>",), minutes=5),
        # A colleague of Maria's answering in the thread stays Maria's conversation.
        email(
            inbox_id,
            "<a3@example.test>",
            sender="boss@example.test",
            name="Maria's boss",
            in_reply_to=("<a2@example.test>",),
            minutes=9,
        ),
    ]
    with captured_events(rt) as events:
        results = await ingest_batch(rt, batch)
    assert all(not isinstance(r, InboxError) and r.created for r in results)
    async with rt.read_sessions() as db:
        rows = (
            await db.execute(
                select(Message.external_id, Message.conversation_id, EmailDetails.threaded_by)
                .join(EmailDetails, EmailDetails.message_id == Message.id)
                .order_by(Message.id)
            )
        ).all()
        convs = (await db.scalars(select(Conversation).order_by(Conversation.id))).all()
        customers = {c.id: c.name for c in (await db.scalars(select(Customer))).all()}
    by_id = {external_id: (conv, rule) for external_id, conv, rule in rows}
    maria_conv = by_id["<a1@example.test>"][0]
    assert by_id["<a2@example.test>"] == (maria_conv, "in_reply_to")
    assert by_id["<a3@example.test>"] == (maria_conv, "in_reply_to")
    assert by_id["<b1@example.test>"][0] != maria_conv
    assert [c.subject for c in convs] == ["Order 1042", "Refund"]
    first = next(c for c in convs if c.id == maria_conv)
    assert first.version == 4  # created, then one bump per message, as one at a time
    assert first.last_activity_at.replace(tzinfo=UTC) == T0 + timedelta(minutes=9)
    assert sorted(customers.values()) == ["Li Wei", "Maria Lopez"]
    assert await count(rt, Identity) == 2  # never the colleague in the thread
    types = [(p.event.type, getattr(p.event, "conversation_id", None)) for p in events]
    assert types[:2] == [
        ("conversation.created", maria_conv),
        ("message.created", maria_conv),
    ]
    assert [p.seq for p in events] == sorted(p.seq for p in events)
    assert [t for t, _ in types].count("message.created") == 4


async def test_one_sender_twice_in_a_batch_is_one_customer_and_chat_shares_a_conversation(
    rt: Runtime, world: World
) -> None:
    chat = world.chat_inbox.id  # type: ignore[attr-defined]
    batch = [
        inbound(chat, chat_id="visitor-77", text="Hi"),
        inbound(chat, chat_id="visitor-77", text="Anyone there?"),
        inbound(chat, chat_id="visitor-78", text="Hello"),
    ]
    results = await ingest_batch(rt, batch)
    assert all(not isinstance(r, InboxError) for r in results)
    assert await count(rt, Customer) == 2
    assert await count(rt, Conversation) == 2
    async with rt.read_sessions() as db:
        texts = (
            await db.execute(select(Message.conversation_id, Message.text).order_by(Message.id))
        ).all()
    assert texts[0][0] == texts[1][0] != texts[2][0]
    # A later batch from the same visitor continues that open conversation.
    await ingest_batch(rt, [inbound(chat, chat_id="visitor-77", text="Still waiting")])
    assert await count(rt, Conversation) == 2


async def test_a_message_twice_in_a_batch_or_again_later_is_stored_once(
    rt: Runtime, world: World
) -> None:
    inbox_id = world.email_inbox.id  # type: ignore[attr-defined]
    first = email(inbox_id, "<dup@example.test>")
    results = await ingest_batch(rt, [first, first])
    assert [not isinstance(r, InboxError) and r.created for r in results] == [True, False]
    again = await ingest_batch(rt, [email(inbox_id, "<new@example.test>"), first])
    assert [not isinstance(r, InboxError) and r.created for r in again] == [True, False]
    assert await count(rt, Message) == 2


async def test_a_refused_message_costs_only_itself(rt: Runtime, world: World) -> None:
    inbox_id = world.email_inbox.id  # type: ignore[attr-defined]
    nobody = dataclasses.replace(email(inbox_id, "<nobody@example.test>"), identities=())
    batch = [email(inbox_id, "<ok1@example.test>"), nobody, email(inbox_id, "<ok2@example.test>")]
    results = await ingest_batch(rt, batch)
    assert isinstance(results[1], InboxError)
    assert "sender's identity" in results[1].message
    assert [isinstance(r, InboxError) for r in results] == [False, True, False]
    assert await count(rt, Message) == 2


async def test_what_a_batch_returns_is_what_it_stored(rt: Runtime, world: World) -> None:
    # Rows go in as plain INSERTs and UPDATEs; what callers get back must still
    # be the stored message, whole, and the conversation as stored.
    inbox_id = world.email_inbox.id  # type: ignore[attr-defined]
    first = email(inbox_id, "<whole-1@example.test>", subject="Refund")
    reply = email(
        inbox_id, "<whole-2@example.test>", in_reply_to=("<whole-1@example.test>",), minutes=5
    )
    results = await ingest_batch(rt, [first, reply])
    returned = [r.message for r in results if not isinstance(r, InboxError)]
    assert len(returned) == 2
    columns = [c.key for c in Message.__table__.columns]
    async with rt.read_sessions() as db:
        for message in returned:
            stored = await db.get_one(Message, message.id)
            assert {c: getattr(message, c) for c in columns} == {
                c: getattr(stored, c) for c in columns
            }
        conv = await db.get_one(Conversation, returned[0].conversation_id)
    assert returned[1].conversation_id == conv.id
    assert conv.subject == "Refund"
    assert conv.last_activity_at == returned[1].created_at
    assert conv.last_message_preview == returned[1].text[:200]
    assert (conv.status.value, conv.version) == ("open", 3)  # opened, then one reply


async def test_a_sender_is_matched_on_kind_and_value_together(rt: Runtime, world: World) -> None:
    # Identities are looked up by kind and by value; a value held under another
    # kind (a visitor id that happens to equal someone's phone) matches nobody.
    chat = world.chat_inbox.id  # type: ignore[attr-defined]
    batches = [
        [inbound(chat, chat_id="+14155550100", name="Visitor")],
        [inbound(chat, phone="+14155550100", chat_id="visitor-9", name="Phone owner")],
        [inbound(chat, chat_id="+14155550100", text="Me again")],
    ]
    results = [r for batch in batches for r in await ingest_batch(rt, batch)]
    customers = [r.message.customer_id for r in results if not isinstance(r, InboxError)]
    assert customers[0] == customers[2] != customers[1]
    assert await count(rt, Customer) == 2


async def test_a_batch_of_messages_with_and_without_html_is_one_insert(
    rt: Runtime, world: World
) -> None:
    # A None left out of one row but not the next used to split the batch into
    # an INSERT per run of alike rows: one per two messages of a real mailbox.
    inbox_id = world.email_inbox.id  # type: ignore[attr-defined]
    batch = [
        dataclasses.replace(
            email(inbox_id, f"<mixed-{n}@example.test>", minutes=n),
            html="<p>hello</p>" if n % 2 else None,
            received_at=T0 if n % 3 else None,
        )
        for n in range(6)
    ]
    inserts: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO MESSAGES"):
            inserts.append(statement)

    engine = rt.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        results = await ingest_batch(rt, batch)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    stored = [r.message for r in results if not isinstance(r, InboxError)]
    assert [m.html for m in stored] == [None, "<p>hello</p>"] * 3
    assert [m.received_at is None for m in stored] == [True, False, False, True, False, False]
    assert len(inserts) == 1
