"""Notifications: the list page, the bell, marking read, the API, and who is told."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from sqlalchemy import select
from starlette.applications import Starlette

from inbox.actions.conversations import do_assign_conversation
from inbox.actions.direct_messages import do_send_direct_message
from inbox.actions.messages import do_post_note
from inbox.actions.notifications import (
    do_mark_all_notifications_read,
    do_mark_notification_read,
    notify_assignment,
)
from inbox.actions.transaction import transaction
from inbox.channels.ingest import ingest
from inbox.errors import NotFound
from inbox.models import Conversation, DirectMessage, Notification, NotificationKind
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


async def _conversation(rt: Runtime, world: World, subject_text: str = "Parcel lost") -> int:
    received = await ingest(
        rt, inbound(world.email_inbox.id, email="maria@example.test", text=subject_text)
    )
    return received.message.conversation_id


async def _mentions_for_ben(rt: Runtime, world: World, n: int) -> int:
    conv_id = await _conversation(rt, world)
    for i in range(n):
        await do_post_note(rt, world.ana, conv_id, f"@ben note {i}")
    return conv_id


async def _unread(rt: Runtime, agent_id: int) -> list[int]:
    async with rt.read_sessions() as db:
        rows = await db.scalars(
            select(Notification.id)
            .where(Notification.agent_id == agent_id, Notification.read_at.is_(None))
            .order_by(Notification.id)
        )
        return list(rows.all())


def notification_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'id="notif-(\d+)"', html)]


def unread_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'id="notif-(\d+)" class="[^"]*is-unread', html)]


async def test_page_shows_unread_then_read_after_marking_one(
    app: Starlette, rt: Runtime, world: World
) -> None:
    conv_id = await _conversation(rt, world, "Where is my parcel?")
    note = await do_post_note(rt, world.ana, conv_id, "@ben can you call the courier?")
    async with browser(app, "ben") as (client, csrf):
        page = (await client.get("/notifications")).text
        assert "Ana</strong> mentioned you" in page
        assert "can you call the courier?" in page
        assert f'href="/conversations/{conv_id}#m-{note.id}"' in page
        assert "Maria Lopez" in page
        [nid] = notification_ids(page)
        assert unread_ids(page) == [nid]
        assert 'class="bell has-unread"' in page and 'data-count="1"' in page

        marked = await client.post(
            f"/notifications/{nid}/read", headers={**HTMX, "X-CSRF-Token": csrf}
        )
        assert marked.status_code == 200
        assert unread_ids(marked.text) == [] and notification_ids(marked.text) == [nid]
        # The bell, out of band, now has no count.
        assert (
            'id="notif-bell" class="bell" href="/notifications" hx-swap-oob="true"' in marked.text
        )

        unread_view = (await client.get("/notifications?unread=1")).text
        assert notification_ids(unread_view) == [] and "All caught up" in unread_view
        everything = (await client.get("/notifications")).text
        assert notification_ids(everything) == [nid] and unread_ids(everything) == []


async def test_plain_form_marks_read_and_redirects(
    app: Starlette, rt: Runtime, world: World
) -> None:
    await _mentions_for_ben(rt, world, 1)
    [nid] = await _unread(rt, world.ben.id)
    async with browser(app, "ben") as (client, csrf):
        response = await client.post(
            f"/notifications/{nid}/read", data={"csrf_token": csrf, "unread": "1"}
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/notifications?unread=1"
    assert await _unread(rt, world.ben.id) == []


async def test_mark_all_read_covers_what_the_page_showed(
    app: Starlette, rt: Runtime, world: World
) -> None:
    conv_id = await _mentions_for_ben(rt, world, 3)
    async with browser(app, "ben") as (client, csrf):
        page = (await client.get("/notifications")).text
        shown = notification_ids(page)
        assert len(shown) == 3
        newest = re.search(r'name="up_to_id" value="(\d+)"', page)
        assert newest is not None and int(newest.group(1)) == max(shown)
        # One arrives after the page was rendered: it must stay unread.
        await do_post_note(rt, world.ana, conv_id, "@ben one more")
        with captured_events(rt) as events:
            response = await client.post(
                "/notifications/read-all",
                data={"csrf_token": csrf, "up_to_id": newest.group(1)},
            )
        assert response.status_code == 303
    [late] = await _unread(rt, world.ben.id)
    assert late > max(shown)
    [read] = events
    assert read.event.type == "notification.read"
    assert read.event.model_dump()["notification_ids"] == sorted(shown)
    assert read.audience.agent_ids == frozenset({world.ben.id})


async def test_the_bell_on_every_page_loads_its_count(
    app: Starlette, rt: Runtime, world: World
) -> None:
    await _mentions_for_ben(rt, world, 2)
    async with browser(app, "ben") as (client, _):
        home = (await client.get("/")).text
        assert 'hx-get="/notifications/bell"' in home
        assert '<a href="/messages">Messages</a>' in home
        assert 'href="/board"' not in home  # agents have no board
        bell = await client.get("/notifications/bell", headers=HTMX)
        assert bell.status_code == 200
        assert 'data-count="2"' in bell.text and "2 unread notifications" in bell.text
        assert "hx-get" not in bell.text  # the answer never reloads itself
    async with browser(app, "lead") as (client, _):
        home = (await client.get("/")).text
        assert '<a href="/board">Board</a>' in home
        bell = await client.get("/notifications/bell", headers=HTMX)
        assert "bell-count" not in bell.text


async def test_marking_someone_elses_notification_is_not_found(
    app: Starlette, rt: Runtime, world: World
) -> None:
    await _mentions_for_ben(rt, world, 1)
    [nid] = await _unread(rt, world.ben.id)
    try:
        await do_mark_notification_read(rt, world.ana, nid)
    except NotFound:
        pass
    else:
        raise AssertionError("ana marked ben's notification")
    async with browser(app, "ana") as (client, csrf):
        for path in (f"/notifications/{nid}/read", "/notifications/99999999999999999999/read"):
            response = await client.post(path, headers={**HTMX, "X-CSRF-Token": csrf})
            assert response.status_code == 404, path
        bad = await client.post(
            "/notifications/read-all", data={"csrf_token": csrf, "up_to_id": "lots"}
        )
        assert bad.status_code == 400 and "up_to_id must be an id" in bad.text
        bad_filter = await client.get("/notifications?unread=maybe")
        assert bad_filter.status_code == 400
        bad_cursor = await client.get("/notifications?cursor=abc")
        assert bad_cursor.status_code == 400
    assert await _unread(rt, world.ben.id) == [nid]


async def test_marking_twice_is_harmless_and_tells_nobody_again(rt: Runtime, world: World) -> None:
    await _mentions_for_ben(rt, world, 1)
    [nid] = await _unread(rt, world.ben.id)
    with captured_events(rt) as events:
        assert await do_mark_notification_read(rt, world.ben, nid) == [nid]
        assert await do_mark_notification_read(rt, world.ben, nid) == []
        assert await do_mark_all_notifications_read(rt, world.ben) == []
    assert [p.event.type for p in events] == ["notification.read"]


async def test_api_lists_pages_and_marks_read(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    conv_id = await _mentions_for_ben(rt, world, 5)
    ben = bearer(world, "ben")
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        response = await client.get("/api/v1/notifications", params=params, headers=ben)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["unread_count"] == 5
        seen += [n["id"] for n in body["notifications"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen, reverse=True) and len(seen) == 5 == len(set(seen))
    first = (await client.get("/api/v1/notifications", headers=ben)).json()["notifications"][0]
    assert first["kind"] == "mention" and first["actor_name"] == "Ana"
    assert first["conversation_id"] == conv_id and first["excerpt"] == "@ben note 4"
    assert first["read_at"] is None

    one = await client.post(f"/api/v1/notifications/{seen[-1]}/read", headers=ben)
    assert one.status_code == 200
    assert one.json() == {"notification_ids": [seen[-1]], "unread_count": 4}
    unread = (await client.get("/api/v1/notifications?unread=true", headers=ben)).json()
    assert [n["id"] for n in unread["notifications"]] == seen[:4]

    partial = await client.post(
        "/api/v1/notifications/read-all", json={"up_to_id": seen[2]}, headers=ben
    )
    assert partial.json() == {"notification_ids": sorted(seen[2:4]), "unread_count": 2}
    rest = await client.post("/api/v1/notifications/read-all", headers=ben)
    assert rest.json() == {"notification_ids": sorted(seen[:2]), "unread_count": 0}


async def test_api_refuses_bad_input_clearly(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    await _mentions_for_ben(rt, world, 1)
    [nid] = await _unread(rt, world.ben.id)
    ana, ben = bearer(world, "ana"), bearer(world, "ben")
    assert (await client.post(f"/api/v1/notifications/{nid}/read", headers=ana)).status_code == 404
    assert (await client.post("/api/v1/notifications/abc/read", headers=ben)).status_code == 404
    bad_cursor = await client.get("/api/v1/notifications?cursor=-3", headers=ben)
    assert bad_cursor.status_code == 400
    assert (await client.get("/api/v1/notifications?limit=0", headers=ben)).status_code == 422
    unknown = await client.post(
        "/api/v1/notifications/read-all", json={"everything": True}, headers=ben
    )
    assert unknown.status_code == 422 and "everything" in unknown.json()["error"]["message"]
    wrong_type = await client.post(
        "/api/v1/notifications/read-all", json={"up_to_id": "5"}, headers=ben
    )
    assert wrong_type.status_code == 422
    assert await _unread(rt, world.ben.id) == [nid]


async def test_a_notification_on_a_conversation_you_lost_shows_no_content(
    app: Starlette, client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    conv_id = await _mentions_for_ben(rt, world, 1)
    # The conversation moves to an inbox ben can't see (as a re-route would).
    async with transaction(rt) as tx:
        conv = await tx.session.get(Conversation, conv_id)
        assert conv is not None
        conv.inbox_id = world.sales_inbox.id
    [item] = (await client.get("/api/v1/notifications", headers=bearer(world, "ben"))).json()[
        "notifications"
    ]
    assert item["subject"] is None and item["excerpt"] is None
    async with browser(app, "ben") as (c, _):
        page = (await c.get("/notifications")).text
    assert "a conversation you can no longer see" in page
    assert "note 0" not in page and f"/conversations/{conv_id}" not in page


async def test_direct_message_notification_and_reading_it_marks_the_message_read(
    rt: Runtime, world: World
) -> None:
    with captured_events(rt) as events:
        dm = await do_send_direct_message(rt, world.ana, world.ben.id, "Lunch?")
    assert [(p.event.type, p.audience.agent_ids) for p in events] == [
        ("direct_message.created", frozenset({world.ana.id, world.ben.id})),
        ("notification.created", frozenset({world.ben.id})),
    ]
    [nid] = await _unread(rt, world.ben.id)
    await do_mark_notification_read(rt, world.ben, nid)
    async with rt.read_sessions() as db:
        stored = await db.get(DirectMessage, dm.id)
        assert stored is not None and stored.read_at is not None


async def test_assignment_helper_tells_only_the_new_assignee(rt: Runtime, world: World) -> None:
    """`notify_assignment` is ready for do_assign_conversation (see the report's diff)."""
    conv_id = await _conversation(rt, world)
    conv = await do_assign_conversation(rt, world.lead, conv_id, assignee_id=world.ben.id)
    with captured_events(rt) as events:
        async with transaction(rt) as tx:
            made = await notify_assignment(tx, world.lead, conv, previous_assignee_id=None)
            assert made is not None and made.kind is NotificationKind.ASSIGNMENT
            # Taking it yourself, or keeping it, tells nobody.
            assert await notify_assignment(tx, world.ben, conv, None) is None
            assert await notify_assignment(tx, world.lead, conv, world.ben.id) is None
    [created] = events
    assert created.audience.agent_ids == frozenset({world.ben.id})
    assert created.event.model_dump()["kind"] == "assignment"


async def test_collaboration_endpoints_answer_as_documented(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    from tests.test_api_openapi import _check, _document

    doc = await _document(client, world)
    conv_id = await _mentions_for_ben(rt, world, 1)
    [nid] = await _unread(rt, world.ben.id)
    ben, lead = bearer(world, "ben"), bearer(world, "lead")
    calls = [
        ("get", "/notifications", "/api/v1/notifications", None, ben),
        ("get", "/notifications", "/api/v1/notifications?cursor=x", None, ben),
        ("post", "/notifications/{id}/read", f"/api/v1/notifications/{nid}/read", {}, ben),
        ("post", "/notifications/{id}/read", f"/api/v1/notifications/{nid}/read", {}, lead),
        ("post", "/notifications/read-all", "/api/v1/notifications/read-all", {"x": 1}, ben),
        ("post", "/notifications/read-all", "/api/v1/notifications/read-all", {}, ben),
        (
            "post",
            "/direct-messages",
            "/api/v1/direct-messages",
            {"recipient_id": world.ana.id, "body": "hi", "conversation_id": conv_id},
            ben,
        ),
        ("get", "/direct-messages", f"/api/v1/direct-messages?with={world.ana.id}", None, ben),
        ("get", "/direct-messages", "/api/v1/direct-messages?with=999", None, ben),
        ("get", "/board", "/api/v1/board", None, lead),
        ("get", "/board", "/api/v1/board", None, ben),
    ]
    statuses = []
    for method, documented, url, payload, headers in calls:
        response = await client.request(method, url, json=payload, headers=headers)
        statuses.append(response.status_code)
        _check(doc, documented, method, response)
    assert statuses == [200, 400, 200, 404, 422, 200, 201, 200, 404, 200, 403]


async def test_a_lead_assigning_notifies_the_new_assignee_alone(rt: Runtime, world: World) -> None:
    received = await ingest(rt, inbound(world.email_inbox.id, email="maria@example.test"))
    conv_id = received.message.conversation_id
    with captured_events(rt) as events:
        await do_assign_conversation(rt, world.lead, conv_id, assignee_id=world.ben.id)
    notified = [p for p in events if p.event.type == "notification.created"]
    assert len(notified) == 1 and notified[0].audience.agent_ids == frozenset({world.ben.id})
    # Taking it yourself is not news to you.
    with captured_events(rt) as events:
        await do_assign_conversation(rt, world.lead, conv_id, assignee_id=world.lead.id)
    assert [p for p in events if p.event.type == "notification.created"] == []
