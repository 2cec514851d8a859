"""Direct messages: only the pair ever sees them; the panel, the threads, the API, bad input."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from sqlalchemy import func, select
from starlette.applications import Starlette

from inbox.actions.direct_messages import do_send_direct_message
from inbox.channels.ingest import ingest
from inbox.models import DirectMessage, Notification
from inbox.runtime import Runtime
from tests.conftest import World, login
from tests.helpers import captured_events, inbound

HTMX = {"HX-Request": "true"}


def bearer(world: World, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.tokens[who]}"}


@asynccontextmanager
async def browser(app: Starlette, who: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c, await login(c, f"{who}@example.test")


async def _conversation(rt: Runtime, world: World, inbox_id: int | None = None) -> int:
    received = await ingest(
        rt, inbound(inbox_id or world.email_inbox.id, email="maria@example.test", text="Refund?")
    )
    return received.message.conversation_id


async def _count(rt: Runtime, model: type) -> int:
    async with rt.read_sessions() as db:
        return int(await db.scalar(select(func.count()).select_from(model)) or 0)


def dm_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'id="dm-(\d+)"', html)]


async def test_sending_tells_exactly_the_pair_and_notifies_the_recipient(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    conv_id = await _conversation(rt, world)
    with captured_events(rt) as events:
        response = await client.post(
            "/api/v1/direct-messages",
            json={
                "recipient_id": world.ben.id,
                "body": "  Can you take this one?  ",
                "conversation_id": conv_id,
            },
            headers=bearer(world, "ana"),
        )
    assert response.status_code == 201, response.text
    dm = response.json()["direct_message"]
    assert dm["body"] == "Can you take this one?"
    assert (dm["sender_id"], dm["sender_name"]) == (world.ana.id, "Ana")
    assert (dm["recipient_id"], dm["recipient_name"]) == (world.ben.id, "Ben")
    assert dm["conversation_id"] == conv_id and dm["customer_id"] is not None
    assert [(p.event.type, p.audience.agent_ids, p.audience.customer_id) for p in events] == [
        ("direct_message.created", frozenset({world.ana.id, world.ben.id}), None),
        ("notification.created", frozenset({world.ben.id}), None),
    ]
    async with rt.read_sessions() as db:
        [notification] = (await db.scalars(select(Notification))).all()
    assert notification.agent_id == world.ben.id
    assert notification.direct_message_id == dm["id"]
    assert notification.conversation_id == conv_id


async def test_a_thread_is_visible_to_the_pair_only(
    client: httpx.AsyncClient, app: Starlette, rt: Runtime, world: World
) -> None:
    await do_send_direct_message(rt, world.ana, world.ben.id, "Secret plan")
    await do_send_direct_message(rt, world.ben, world.ana.id, "Agreed")
    thread = await client.get(
        "/api/v1/direct-messages", params={"with": world.ben.id}, headers=bearer(world, "ana")
    )
    assert [m["body"] for m in thread.json()["direct_messages"]] == ["Secret plan", "Agreed"]
    from_ben = await client.get(
        "/api/v1/direct-messages", params={"with": world.ana.id}, headers=bearer(world, "ben")
    )
    assert [m["body"] for m in from_ben.json()["direct_messages"]] == ["Secret plan", "Agreed"]
    # Olga asks about either of them: only her own messages with them, i.e. none.
    for other in (world.ana.id, world.ben.id):
        response = await client.get(
            "/api/v1/direct-messages", params={"with": other}, headers=bearer(world, "olga")
        )
        assert response.status_code == 200
        assert response.json() == {"direct_messages": [], "earlier_cursor": None}
    async with browser(app, "olga") as (c, _):
        for path in ("/messages", f"/messages/{world.ana.id}", f"/messages/{world.ben.id}"):
            page = await c.get(path)
            assert page.status_code == 200
            assert "Secret plan" not in page.text and "Agreed" not in page.text
    async with browser(app, "ben") as (c, _):
        page = (await c.get(f"/messages/{world.ana.id}")).text
        assert "Secret plan" in page and "Agreed" in page
        listing = (await c.get("/messages")).text
        assert '<span class="thread-name">Ana</span>' in listing


async def test_the_panel_shows_the_dms_about_this_case_to_the_pair_only(
    app: Starlette, rt: Runtime, world: World
) -> None:
    conv_id = await _conversation(rt, world)
    other_conv = await _conversation(rt, world, world.chat_inbox.id)  # same customer, other inbox
    await do_send_direct_message(
        rt, world.ana, world.ben.id, "About this refund", conversation_id=conv_id
    )
    await do_send_direct_message(rt, world.ana, world.ben.id, "Unrelated chit-chat")
    await do_send_direct_message(
        rt, world.lead, world.ana.id, "Lead to Ana about the chat", conversation_id=other_conv
    )
    panel_url = f"/conversations/{conv_id}/direct-messages"
    async with browser(app, "ben") as (c, _):
        page = (await c.get(f"/conversations/{conv_id}")).text
        # The page has the panel: loading itself, or rendered in place if the view passes it.
        assert 'id="dm-panel"' in page
        assert f'hx-get="{panel_url}"' in page or "About this refund" in page
        panel = await c.get(panel_url, headers=HTMX)
        assert panel.status_code == 200
        assert "About this refund" in panel.text
        assert "Unrelated chit-chat" not in panel.text
        # Lead and Ana's message about the same customer is theirs, not Ben's.
        assert "Lead to Ana" not in panel.text
        # Colleagues offered: those who can see this inbox, not Ben himself nor Olga.
        offered = re.findall(r'<option value="(\d+)">', panel.text)
        assert sorted(int(i) for i in offered) == sorted(
            [world.admin.id, world.lead.id, world.ana.id]
        )
    async with browser(app, "ana") as (c, _):
        panel = (await c.get(panel_url, headers=HTMX)).text
        # Ana sees both: hers with Ben, and the lead's to her about this customer.
        assert "About this refund" in panel and "Lead to Ana about the chat" in panel
        # Only the one about the other conversation links to it.
        assert f'href="/conversations/{other_conv}">About:' in panel
        assert f'href="/conversations/{conv_id}">About:' not in panel
    async with browser(app, "admin") as (c, _):
        panel = (await c.get(panel_url, headers=HTMX)).text
        assert "About this refund" not in panel and "None yet." in panel
    async with browser(app, "olga") as (c, _):
        assert (await c.get(panel_url, headers=HTMX)).status_code == 404


async def test_sending_from_the_panel(app: Starlette, rt: Runtime, world: World) -> None:
    conv_id = await _conversation(rt, world)
    url = f"/conversations/{conv_id}/direct-messages"
    async with browser(app, "ana") as (c, csrf):
        response = await c.post(
            url,
            data={"recipient_id": str(world.ben.id), "body": "Ben, this one is yours?"},
            headers={**HTMX, "X-CSRF-Token": csrf},
        )
        assert response.status_code == 200
        assert 'id="dm-panel"' in response.text and "Ben, this one is yours?" in response.text
        plain = await c.post(
            url, data={"recipient_id": str(world.lead.id), "body": "FYI", "csrf_token": csrf}
        )
        assert plain.status_code == 303
        assert plain.headers["location"] == f"/conversations/{conv_id}#dm-panel"
    async with rt.read_sessions() as db:
        stored = (await db.scalars(select(DirectMessage).order_by(DirectMessage.id))).all()
    assert [(d.recipient_id, d.conversation_id) for d in stored] == [
        (world.ben.id, conv_id),
        (world.lead.id, conv_id),
    ]


async def test_sending_from_the_messages_page_and_marking_the_thread_read(
    app: Starlette, rt: Runtime, world: World
) -> None:
    async with browser(app, "ana") as (c, csrf):
        response = await c.post(
            "/messages",
            data={"recipient_id": str(world.ben.id), "body": "Hi Ben", "csrf_token": csrf},
        )
        assert response.status_code == 303
        assert response.headers["location"] == f"/messages/{world.ben.id}"
    async with browser(app, "ben") as (c, csrf):
        page = (await c.get(f"/messages/{world.ana.id}")).text
        assert "Hi Ben" in page and f'action="/messages/{world.ana.id}/read"' in page
        bell = (await c.get("/notifications/bell", headers=HTMX)).text
        assert 'data-count="1"' in bell
        marked = await c.post(f"/messages/{world.ana.id}/read", data={"csrf_token": csrf})
        assert marked.status_code == 303
        page = (await c.get(f"/messages/{world.ana.id}")).text
        assert f'action="/messages/{world.ana.id}/read"' not in page
        assert "bell-count" not in (await c.get("/notifications/bell", headers=HTMX)).text
    async with rt.read_sessions() as db:
        dm = await db.scalar(select(DirectMessage))
        assert dm is not None and dm.read_at is not None


async def test_bad_input_is_refused_clearly_and_nothing_is_stored(
    client: httpx.AsyncClient, app: Starlette, rt: Runtime, world: World
) -> None:
    ana = bearer(world, "ana")
    sales_conv = await _conversation(rt, world, world.sales_inbox.id)
    support_conv = await _conversation(rt, world)
    cases: list[tuple[dict[str, object], int, str]] = [
        ({"recipient_id": world.ben.id, "body": "   "}, 400, "the message is empty"),
        ({"recipient_id": world.ana.id, "body": "hi me"}, 400, "not to yourself"),
        ({"recipient_id": 999_999, "body": "hello?"}, 404, "no such colleague"),
        ({"recipient_id": "2", "body": "x"}, 422, "recipient_id"),
        ({"recipient_id": world.ben.id, "body": "x", "urgent": True}, 422, "urgent"),
        ({"body": "x"}, 422, "recipient_id"),
        ({"recipient_id": world.ben.id, "body": "x" * 10_001}, 400, "longer than"),
        # A conversation Ana can't see is not found; one Olga can't see can't be sent to her.
        (
            {"recipient_id": world.ben.id, "body": "x", "conversation_id": sales_conv},
            404,
            "conversation not found",
        ),
        (
            {"recipient_id": world.olga.id, "body": "x", "conversation_id": support_conv},
            400,
            "Olga can't see this conversation",
        ),
    ]
    for payload, status, words in cases:
        response = await client.post("/api/v1/direct-messages", json=payload, headers=ana)
        assert response.status_code == status, (payload, response.text)
        assert words in response.json()["error"]["message"], (payload, response.text)
    for params, status in [
        ({"with": "abc"}, 422),
        ({}, 422),
        ({"with": world.ana.id}, 400),
        ({"with": 999_999}, 404),
        ({"with": world.ben.id, "before": "nope"}, 400),
        ({"with": world.ben.id, "with_": 1}, 422),
    ]:
        response = await client.get("/api/v1/direct-messages", params=params, headers=ana)
        assert response.status_code == status, (params, response.text)
    async with browser(app, "ana") as (c, csrf):
        for data, status in [
            ({"recipient_id": "ben", "body": "x"}, 400),
            ({"recipient_id": "", "body": "x"}, 400),
            ({"recipient_id": str(world.ben.id)}, 400),
            ({"recipient_id": "99999999999999999999", "body": "x"}, 400),
        ]:
            response = await c.post("/messages", data={**data, "csrf_token": csrf})
            assert response.status_code == status, data
        assert (await c.get("/messages/99999999999999999999")).status_code == 404
        assert (await c.post("/messages/999999/read", data={"csrf_token": csrf})).status_code == 404
        assert (await c.get(f"/messages/{world.ana.id}")).status_code == 400
    assert await _count(rt, DirectMessage) == 0
    assert await _count(rt, Notification) == 0


async def test_api_thread_pages_backwards_with_before(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    for i in range(5):
        await do_send_direct_message(rt, world.ana, world.ben.id, f"m{i}")
    ana = bearer(world, "ana")
    bodies: list[str] = []
    params: dict[str, object] = {"with": world.ben.id, "limit": 2}
    while True:
        page = (await client.get("/api/v1/direct-messages", params=params, headers=ana)).json()
        bodies = [m["body"] for m in page["direct_messages"]] + bodies
        if page["earlier_cursor"] is None:
            break
        params["before"] = page["earlier_cursor"]
    assert bodies == ["m0", "m1", "m2", "m3", "m4"]
