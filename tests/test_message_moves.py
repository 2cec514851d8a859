"""An agent fixes threading by hand: split an email off, or move it into another conversation."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from inbox.actions.threads import do_move_message
from inbox.channels.ingest import ingest
from inbox.errors import BadRequest, NotFound
from inbox.models import Conversation, Message, ThreadRule
from inbox.runtime import Runtime
from tests.conftest import World, csrf_of, login
from tests.helpers import captured_events, inbound
from tests.live import serve
from tests.test_email_threading import details, email
from tests.test_live_ui import oob, recv, signed_in

HTMX = {"HX-Request": "true"}


async def test_split_off_into_a_new_conversation_and_move_back(rt: Runtime, world: World) -> None:
    inbox = world.email_inbox.id
    first = await ingest(rt, email(inbox, "<m1@mail.test>"))
    stray = await ingest(
        rt,
        email(inbox, "<m2@mail.test>", text="New topic: invoice", in_reply_to=("<m1@mail.test>",)),
    )
    source = first.message.conversation_id
    assert stray.message.conversation_id == source
    with captured_events(rt) as events:
        split = await do_move_message(rt, world.ana, stray.message.id, None)
    assert split.id != source and split.customer_id == first.message.customer_id
    assert [p.event.type for p in events] == ["conversation.created", "message.moved"]
    assert (await details(rt, stray.message.id)).threaded_by == ThreadRule.MOVED
    back = await do_move_message(rt, world.ana, stray.message.id, source)
    assert back.id == source
    async with rt.read_sessions() as db:
        moved = await db.get(Message, stray.message.id)
    assert moved is not None and moved.conversation_id == source


async def test_moves_stay_within_one_customer_and_inbox_and_visible_to_the_agent(
    rt: Runtime, world: World
) -> None:
    mine = await ingest(rt, email(world.email_inbox.id, "<n1@mail.test>"))
    other_customer = await ingest(
        rt, email(world.email_inbox.id, "<n2@mail.test>", sender="tom@example.test")
    )
    chat = await ingest(rt, inbound(world.chat_inbox.id, email="maria@example.test", text="hi"))
    with pytest.raises(BadRequest, match="same customer and inbox"):
        await do_move_message(
            rt, world.ana, mine.message.id, other_customer.message.conversation_id
        )
    with pytest.raises(BadRequest, match="same customer and inbox"):
        await do_move_message(rt, world.ana, mine.message.id, chat.message.conversation_id)
    with pytest.raises(NotFound):  # Olga can't see the Support inbox at all
        await do_move_message(rt, world.olga, mine.message.id, None)


async def test_the_page_offers_split_here_and_move_there_and_the_label_says_why(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    inbox = world.email_inbox.id
    first = await ingest(rt, email(inbox, "<p1@mail.test>"))
    reply = await ingest(rt, email(inbox, "<p2@mail.test>", in_reply_to=("<p1@mail.test>",)))
    other = await ingest(rt, email(inbox, "<p3@mail.test>", subject="Another thing"))
    conv = first.message.conversation_id
    await login(client, "ana@example.test")
    token = await csrf_of(client)
    page = (await client.get(f"/conversations/{conv}")).text
    assert "Threaded by In-Reply-To" in page and "Started a new conversation" in page
    assert f"/messages/{reply.message.id}/split" in page
    assert f"/messages/{other.message.id}/move" in page  # shown here, from its own thread
    moved = await client.post(
        f"/messages/{other.message.id}/move",
        data={"to_conversation": str(conv)},
        headers={**HTMX, "X-CSRF-Token": token},
    )
    assert moved.status_code == 204
    async with rt.read_sessions() as db:
        message = await db.get(Message, other.message.id)
        old = await db.get(Conversation, other.message.conversation_id)
    assert message is not None and message.conversation_id == conv and old is not None
    refused = await client.post(
        f"/messages/{first.message.id}/move",
        data={"to_conversation": str(conv)},
        headers={**HTMX, "X-CSRF-Token": token},
    )
    assert refused.status_code == 400 and "already" in refused.text


async def test_a_colleague_sees_the_move_live(rt: Runtime, world: World, app: Starlette) -> None:
    inbox = world.email_inbox.id
    first = await ingest(rt, email(inbox, "<v1@mail.test>"))
    stray = await ingest(rt, email(inbox, "<v2@mail.test>", in_reply_to=("<v1@mail.test>",)))
    conv = first.message.conversation_id
    async with (
        serve(app) as base_url,
        signed_in(base_url, "ben") as ben,
        ben.watch(f"/conversations/{conv}") as page,
    ):
        await do_move_message(rt, world.ana, stray.message.id, None)
        while ("true", f"m-{stray.message.id}") not in oob(batch := await recv(page)):
            pass
    # No longer this page's conversation: offered back with "Move here".
    assert "Moved by an agent" in batch and f"/messages/{stray.message.id}/move" in batch


async def test_a_conversations_only_message_is_not_split_off(rt: Runtime, world: World) -> None:
    alone = await ingest(rt, email(world.email_inbox.id, "<w1@mail.test>"))
    with pytest.raises(BadRequest, match="only message"):
        await do_move_message(rt, world.ana, alone.message.id, None)
