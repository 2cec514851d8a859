"""The team lead's board: workload, queue age, reassigning, and who may see it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

import httpx
from starlette.applications import Starlette

from inbox.actions.conversations import do_assign_conversation, do_set_status
from inbox.actions.messages import do_post_note
from inbox.channels.ingest import ingest
from inbox.models import Status, utcnow
from inbox.queries_board import Presence, load_board, presence_for
from inbox.realtime.presence import Availability, PresenceReport
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


async def _conversation(rt: Runtime, inbox_id: int, who: str, hours_ago: float = 0) -> int:
    received = await ingest(
        rt,
        inbound(
            inbox_id,
            email=f"{who}@customers.test",
            name=who.capitalize(),
            at=utcnow() - timedelta(hours=hours_ago),
        ),
    )
    return received.message.conversation_id


async def _setup(rt: Runtime, world: World) -> dict[str, int]:
    """Ana holds two open and one pending; Ben one open; three wait unassigned."""
    ids = {
        name: await _conversation(rt, inbox, name, hours)
        for name, inbox, hours in [
            ("a1", world.email_inbox.id, 1),
            ("a2", world.chat_inbox.id, 1),
            ("a3", world.email_inbox.id, 1),
            ("b1", world.email_inbox.id, 1),
            ("q1", world.email_inbox.id, 5),
            ("q2", world.email_inbox.id, 2),
            ("q3", world.chat_inbox.id, 0.5),
            ("sales", world.sales_inbox.id, 9),
        ]
    }
    for name in ("a1", "a2", "a3"):
        await do_assign_conversation(rt, world.lead, ids[name], assignee_id=world.ana.id)
    await do_set_status(rt, world.ana, ids["a3"], Status.PENDING)
    await do_assign_conversation(rt, world.lead, ids["b1"], assignee_id=world.ben.id)
    return ids


async def test_lead_sees_workload_and_the_unassigned_queue_age(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    await _setup(rt, world)
    response = await client.get("/api/v1/board", headers=bearer(world, "lead"))
    assert response.status_code == 200, response.text
    board = response.json()
    loads = {a["agent"]["name"]: (a["open"], a["pending"]) for a in board["agents"]}
    # Olga shares no inbox with the lead, so she is not on the lead's board.
    assert loads == {"Admin": (0, 0), "Ana": (2, 1), "Ben": (1, 0), "Lead": (0, 0)}
    # Nobody has a page open (the API is no page).
    assert all(a["presence"] == "offline" for a in board["agents"])
    active = {a["agent"]["name"]: a["last_active_at"] for a in board["agents"]}
    assert active["Ana"] is not None and active["Lead"] is not None and active["Ben"] is None
    queues = {q["inbox"]["name"]: q for q in board["queues"]}
    assert set(queues) == {"Support email", "Website chat"}
    assert queues["Support email"]["unassigned"] == 2
    assert queues["Website chat"]["unassigned"] == 1
    oldest = queues["Support email"]["oldest_at"]
    assert oldest is not None
    age = utcnow() - datetime.fromisoformat(oldest)
    assert timedelta(hours=4.9) < age < timedelta(hours=5.1)


async def test_admin_sees_everyone_and_every_inbox(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    await _setup(rt, world)
    board = (await client.get("/api/v1/board", headers=bearer(world, "admin"))).json()
    assert {a["agent"]["name"] for a in board["agents"]} == {"Admin", "Lead", "Ana", "Ben", "Olga"}
    queues = {q["inbox"]["name"]: q["unassigned"] for q in board["queues"]}
    assert queues == {"Sales WhatsApp": 1, "Support email": 2, "Website chat": 1}


async def test_agents_get_403(client: httpx.AsyncClient, app: Starlette, world: World) -> None:
    response = await client.get("/api/v1/board", headers=bearer(world, "ana"))
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "the board is for team leads and admins"
    async with browser(app, "ana") as (c, csrf):
        assert (await c.get("/board")).status_code == 403
        assert (await c.get("/board/summary", headers=HTMX)).status_code == 403
        post = await c.post(
            "/board/conversations/1/assign", data={"assignee_id": "1", "csrf_token": csrf}
        )
        assert post.status_code == 403


async def test_board_page_shows_counts_queue_and_open_conversations(
    app: Starlette, rt: Runtime, world: World
) -> None:
    ids = await _setup(rt, world)
    async with browser(app, "lead") as (c, _):
        page = await c.get("/board")
    assert page.status_code == 200
    html = page.text
    ana_row = re.search(rf'<tr id="board-agent-{world.ana.id}">(.*?)</tr>', html, re.S)
    assert ana_row is not None
    assert re.findall(r'<td class="num">(\d+)</td>', ana_row.group(1)) == ["2", "1"]
    assert "Last active" in ana_row.group(1)
    queue = re.search(rf'<tr id="board-queue-{world.email_inbox.id}">(.*?)</tr>', html, re.S)
    assert queue is not None and '<td class="num">2</td>' in queue.group(1)
    assert "5 h ago" in queue.group(1)
    open_rows = [int(i) for i in re.findall(r'id="board-conv-(\d+)"', html)]
    # Open ones in the lead's inboxes: not the pending one, not the sales one.
    assert sorted(open_rows) == sorted(ids[n] for n in ("a1", "a2", "b1", "q1", "q2", "q3"))
    assert f'id="board-conv-{ids["sales"]}"' not in html


async def test_reassigning_from_the_board_emits_conversation_assigned(
    app: Starlette, rt: Runtime, world: World
) -> None:
    ids = await _setup(rt, world)
    url = f"/board/conversations/{ids['q1']}/assign"
    async with browser(app, "lead") as (c, csrf):
        with captured_events(rt) as events:
            response = await c.post(
                url,
                data={"assignee_id": str(world.ben.id)},
                headers={**HTMX, "X-CSRF-Token": csrf},
            )
        assert response.status_code == 200, response.text
        html = response.text
        # Just the row (htmx swaps it in place), now showing Ben.
        assert html.lstrip().startswith(f'<tr id="board-conv-{ids["q1"]}">')
        assert html.rstrip().endswith("</tr>")
        assert f'<option value="{world.ben.id}" selected>Ben</option>' in html
        # The workload and queue tables reload on the event the answer raises.
        assert response.headers["HX-Trigger"] == "board-changed"
        summary = (await c.get("/board/summary", headers=HTMX)).text
        ben_row = re.search(rf'<tr id="board-agent-{world.ben.id}">(.*?)</tr>', summary, re.S)
        assert ben_row is not None
        assert re.findall(r'<td class="num">(\d+)</td>', ben_row.group(1)) == ["2", "0"]
        queue = re.search(rf'<tr id="board-queue-{world.email_inbox.id}">(.*?)</tr>', summary, re.S)
        assert queue is not None and '<td class="num">1</td>' in queue.group(1)
        # (Once assignments notify, a notification.created to Ben follows it.)
        [assigned] = [p for p in events if p.event.type == "conversation.assigned"]
        assert assigned.event.type == "conversation.assigned"
        dumped = assigned.event.model_dump()
        assert (dumped["assignee_id"], dumped["by_agent_id"], dumped["reason"]) == (
            world.ben.id,
            world.lead.id,
            "assigned",
        )
        assert world.olga.id not in assigned.audience.agent_ids

        # "Unassigned" gives it back to the queue; a plain form lands on the board.
        released = await c.post(url, data={"assignee_id": "", "csrf_token": csrf})
        assert released.status_code == 303 and released.headers["location"] == "/board"

        bad = [
            (url, {"assignee_id": "ben"}, 400),
            (url, {"assignee_id": str(world.olga.id)}, 400),  # can't see the inbox
            (
                f"/board/conversations/{ids['sales']}/assign",
                {"assignee_id": str(world.ana.id)},
                404,
            ),
            ("/board/conversations/99999999999999999999/assign", {"assignee_id": "1"}, 404),
        ]
        for path, data, status in bad:
            response = await c.post(path, data={**data, "csrf_token": csrf})
            assert response.status_code == status, (path, data, response.text)


async def test_last_active_comes_from_the_audit_log(rt: Runtime, world: World) -> None:
    conv = await _conversation(rt, world.email_inbox.id, "x")
    await do_post_note(rt, world.ben, conv, "on it")
    async with rt.read_sessions() as db:
        board = await load_board(rt, db, world.lead)
    by_name = {a.agent.name: a for a in board.agents}
    assert by_name["Ben"].last_active_at is not None
    assert by_name["Ana"].last_active_at is None


async def test_presence_is_online_if_any_page_is_in_front_else_away(rt: Runtime) -> None:
    def page(socket: str, agent_id: int, availability: Availability) -> PresenceReport:
        return PresenceReport(
            socket=socket, agent_id=agent_id, agent_name="x", availability=availability
        )

    rt.hub.presence.apply(page("a1", 3, Availability.AWAY))
    rt.hub.presence.apply(page("a2", 3, Availability.ONLINE))
    rt.hub.presence.apply(page("b1", 4, Availability.AWAY))
    assert await presence_for(rt, [3, 4, 1]) == {
        3: Presence.ONLINE,
        4: Presence.AWAY,
        1: Presence.OFFLINE,
    }
