"""Presence: who is viewing or typing to a customer, shown live, per customer across channels.

Through real sockets on a real server (as test_live_ui), plus the tracker's
expiry on its own. Presence is never stored: these tests never look at the
database for it.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets
from starlette.applications import Starlette

from inbox.channels.ingest import ingest
from inbox.queries_board import Presence, presence_for
from inbox.realtime import socket_presence
from inbox.realtime.presence import (
    Activity,
    Availability,
    PresenceChange,
    PresenceReport,
    PresenceTracker,
)
from inbox.runtime import Runtime
from tests.conftest import World
from tests.helpers import inbound
from tests.live import serve
from tests.test_live_ui import is_presence, oob, recv_presence, signed_in


@pytest.fixture
async def base_url(app: Starlette) -> AsyncIterator[str]:
    async with serve(app) as url:
        yield url


@pytest.fixture
async def maria(rt: Runtime, world: World) -> tuple[int, int, int]:
    """One customer, written to by email and by live chat: (customer, email conv, chat conv)."""
    by_email = await ingest(rt, inbound(world.email_inbox.id, email="maria@example.test"))
    by_chat = await ingest(
        rt, inbound(world.chat_inbox.id, chat_id="visitor-7", email="maria@example.test")
    )
    assert by_email.message.customer_id == by_chat.message.customer_id
    return (
        by_email.message.customer_id,
        by_email.message.conversation_id,
        by_chat.message.conversation_id,
    )


def text_of(batch: str) -> str:
    """What the agent reads in a batch: its text, whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]*>", " ", batch)).split())


async def say(ws: Any, state: str) -> None:
    await ws.send(json.dumps({"presence": state}))


async def test_a_colleague_on_another_channel_of_the_same_customer_shows_live(
    base_url: str, world: World, maria: tuple[int, int, int]
) -> None:
    _, email_conv, chat_conv = maria
    async with (
        signed_in(base_url, "ana") as ana,
        signed_in(base_url, "ben") as ben,
        ben.watch(f"/conversations/{chat_conv}") as ben_ws,
    ):
        async with ana.watch(f"/conversations/{email_conv}") as ana_ws:
            opened = await recv_presence(ben_ws)
            assert oob(opened) == [("true", "presence")]
            assert text_of(opened) == "Ana has this customer's Email conversation open"
            # The one opening the page sees Ben already there, in its first render.
            page = await ana.http.get(f"/conversations/{email_conv}")
            assert "Ben</strong> has this customer's" in page.text

            await say(ana_ws, "typing")
            typing = await recv_presence(ben_ws)
            assert text_of(typing) == "Ana is replying to this customer on Email"
            # Typing goes on, renewed: nothing changes on Ben's screen.
            await say(ana_ws, "typing")
            await say(ana_ws, "idle")
            assert text_of(await recv_presence(ben_ws)) == (
                "Ana has this customer's Email conversation open"
            )
        # Ana closed her page: gone at once, not after a timeout.
        left = await recv_presence(ben_ws, within=2.0)
        assert oob(left) == [("true", "presence")] and text_of(left) == ""


async def test_in_the_same_conversation_it_says_viewing_and_typing_here(
    base_url: str, world: World, maria: tuple[int, int, int]
) -> None:
    _, email_conv, _ = maria
    async with (
        signed_in(base_url, "ana") as ana,
        signed_in(base_url, "ben") as ben,
        ben.watch(f"/conversations/{email_conv}") as ben_ws,
        ana.watch(f"/conversations/{email_conv}") as ana_ws,
    ):
        assert text_of(await recv_presence(ben_ws)) == "Ana is viewing this conversation"
        # Ana's page showed Ben from the start; never herself.
        page = (await ana.http.get(f"/conversations/{email_conv}")).text
        assert "<strong>Ben</strong> is viewing this conversation" in page
        assert "<strong>Ana</strong>" not in page
        await say(ana_ws, "typing")
        assert text_of(await recv_presence(ben_ws)) == "Ana is typing here…"


async def test_lists_mark_the_rows_colleagues_are_on(
    base_url: str, world: World, maria: tuple[int, int, int]
) -> None:
    _, email_conv, _ = maria
    async with (
        signed_in(base_url, "ana") as ana,
        signed_in(base_url, "ben") as ben,
        ben.watch("/") as ben_list,
        ana.watch(f"/conversations/{email_conv}") as ana_ws,
    ):
        marked = await recv_presence(ben_list)
        assert oob(marked) == [(f"innerHTML:#presence-conv-{email_conv}", "")]
        assert text_of(marked) == "Ana"
        await say(ana_ws, "typing")
        assert text_of(await recv_presence(ben_list)) == "Ana typing…"
        # A list rendered now shows the mark too, on a row that keeps it
        # when a live update redraws the row.
        page = await ben.http.get("/")
        assert f'id="presence-conv-{email_conv}" hx-preserve>' in page.text
        assert 'title="Ana is typing"' in page.text


async def test_presence_stays_within_inbox_access(
    rt: Runtime, base_url: str, world: World, maria: tuple[int, int, int]
) -> None:
    customer, email_conv, _ = maria
    # Olga (sales only) serves the same customer on WhatsApp.
    by_phone = await ingest(
        rt, inbound(world.sales_inbox.id, phone="+34600111222", email="maria@example.test")
    )
    assert by_phone.message.customer_id == customer
    async with (
        signed_in(base_url, "ana") as ana,
        signed_in(base_url, "olga") as olga,
        signed_in(base_url, "admin") as admin,
        ana.watch(f"/conversations/{email_conv}") as ana_ws,
        admin.watch(f"/customers/{customer}") as admin_ws,
    ):
        assert text_of(await recv_presence(ana_ws)) == "Admin is viewing this customer's profile"
        async with olga.watch(f"/conversations/{by_phone.message.conversation_id}") as olga_ws:
            await say(olga_ws, "typing")
            # The admin sees every inbox (typing first); Ana can't see
            # sales, so hears nothing of Olga.
            assert text_of(await recv_presence(admin_ws)) == (
                "Ana has this customer's Email conversation open "
                "Olga has this customer's WhatsApp conversation open"
            )
            assert text_of(await recv_presence(admin_ws)) == (
                "Olga is replying to this customer on WhatsApp "
                "Ana has this customer's Email conversation open"
            )
            await say(ana_ws, "typing")
            olga_heard = await _presence_within(olga_ws, 0.5)
            assert olga_heard == []
        assert await _presence_within(ana_ws, 0.3) == []


async def _presence_within(ws: Any, seconds: float) -> list[str]:
    found: list[str] = []
    try:
        async with asyncio.timeout(seconds):
            while True:
                batch = await ws.recv()
                if is_presence(batch):
                    found.append(batch)
    except TimeoutError:
        return found


async def test_typing_lapses_by_itself_when_the_page_stops_renewing_it(
    base_url: str, world: World, maria: tuple[int, int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(socket_presence, "TYPING_TTL", 0.3)
    _, email_conv, chat_conv = maria
    async with (
        signed_in(base_url, "ana") as ana,
        signed_in(base_url, "ben") as ben,
        ben.watch(f"/conversations/{chat_conv}") as ben_ws,
        ana.watch(f"/conversations/{email_conv}") as ana_ws,
    ):
        await recv_presence(ben_ws)
        await say(ana_ws, "typing")
        assert "is replying" in text_of(await recv_presence(ben_ws))
        # No renewal: the page went quiet (closed laptop lid, lost focus for good).
        lapsed = await recv_presence(ben_ws, within=2.0)
        assert text_of(lapsed) == "Ana has this customer's Email conversation open"
        await say(ana_ws, "hidden")  # another tab in front: open, not viewed
        assert text_of(await recv_presence(ben_ws)) == ""


async def test_a_page_flooding_presence_is_throttled_not_relayed(
    base_url: str, world: World, maria: tuple[int, int, int]
) -> None:
    _, email_conv, chat_conv = maria
    async with (
        signed_in(base_url, "ana") as ana,
        signed_in(base_url, "ben") as ben,
        ben.watch(f"/conversations/{chat_conv}") as ben_ws,
        ana.watch(f"/conversations/{email_conv}") as ana_ws,
    ):
        await recv_presence(ben_ws)
        for n in range(200):
            await say(ana_ws, "typing" if n % 2 == 0 else "idle")
        await ana_ws.send("not json")
        await ana_ws.send(json.dumps({"presence": "x" * 500}))
        changes = await _presence_within(ben_ws, 1.0)
        # The burst allowance, not two hundred changes; the socket stays up.
        assert 1 <= len(changes) <= 12
        await ana_ws.ping()


async def test_the_board_shows_who_is_online_and_reloads_when_it_changes(
    rt: Runtime, base_url: str, world: World
) -> None:
    async with signed_in(base_url, "lead") as lead, signed_in(base_url, "ana") as ana:
        board = (await lead.http.get("/api/v1/board")).json()
        by_name = {a["agent"]["name"]: a["presence"] for a in board["agents"]}
        assert by_name["Ana"] == "offline"
        async with lead.watch("/board") as board_ws:
            async with ana.watch("/") as ana_ws:
                tick = await recv_presence(board_ws)
                assert oob(tick) == [("true", "board-tick")]
                assert await presence_for(rt, [world.ana.id]) == {world.ana.id: Presence.ONLINE}
                page = await lead.http.get("/board/summary")
                assert 'presence-online">Online' in page.text
                await say(ana_ws, "hidden")
                await recv_presence(board_ws)
                assert await presence_for(rt, [world.ana.id]) == {world.ana.id: Presence.AWAY}
            await recv_presence(board_ws)
            assert await presence_for(rt, [world.ana.id]) == {world.ana.id: Presence.OFFLINE}


async def test_agents_may_not_open_the_board_socket(base_url: str, world: World) -> None:
    async with signed_in(base_url, "ana") as ana:
        url = base_url.replace("http://", "ws://") + "/ws?page=board"
        async with websockets.connect(
            url,
            additional_headers={"Cookie": f"inbox_session={ana.cookie}"},
            origin=base_url,  # type: ignore[arg-type]
        ) as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400


# --- the tracker on its own --------------------------------------------------


def report(socket: str = "s1", **fields: Any) -> PresenceReport:
    values: dict[str, Any] = {
        "socket": socket,
        "agent_id": 1,
        "agent_name": "Ana",
        "availability": Availability.ONLINE,
        "customer_id": 7,
        "conversation_id": 70,
        "inbox_id": 3,
        "channel_label": "Email",
        "activity": Activity.VIEWING,
        "audience": frozenset({2}),
        "ttl": 5.0,
    }
    values.update(fields)
    return PresenceReport(**values)


async def test_a_report_not_renewed_expires_and_a_renewed_one_lives_on() -> None:
    changes: list[PresenceChange] = []
    tracker = PresenceTracker(changes.append)
    tracker.apply(report("dies", ttl=0.1))
    tracker.apply(report("lives", agent_id=4, agent_name="Ben", ttl=0.15))
    for _ in range(4):
        await asyncio.sleep(0.06)
        tracker.apply(report("lives", agent_id=4, agent_name="Ben", ttl=0.15))
    assert [m.agent_name for m in tracker.on_customer(7, 2, {3})] == ["Ben"]
    # Two arrivals and one expiry; renewals changed nothing anyone sees.
    assert [c.agent_id for c in changes] == [1, 4, 1]
    assert tracker.availability([1, 4]) == {4: Availability.ONLINE}


async def test_what_a_viewer_sees_is_filtered_by_audience_and_access() -> None:
    tracker = PresenceTracker(lambda _: None)
    tracker.apply(report("a"))
    tracker.apply(report("b", activity=Activity.TYPING))  # Ana's second tab
    assert [(m.agent_name, m.activity) for m in tracker.on_customer(7, 2, {3})] == [
        ("Ana", Activity.TYPING)
    ]
    assert tracker.on_customer(7, 5, {3}) == []  # not in the audience
    assert tracker.on_customer(7, 2, {4}) == []  # lost access to the inbox since
    tracker.apply(report("a", availability=None))
    tracker.apply(report("b", availability=None))
    assert tracker.on_customer(7, 2, {3}) == [] and tracker.availability([1]) == {}


def test_a_report_outlives_two_lost_heartbeats() -> None:
    from inbox.realtime.hub import HEARTBEAT_SECONDS
    from inbox.realtime.presence import TYPING_TTL, VIEWING_TTL

    assert VIEWING_TTL >= 3 * HEARTBEAT_SECONDS
    # The page renews typing every 3 s (static/app.js): two renewals may be late.
    assert TYPING_TTL > 2 * 3
