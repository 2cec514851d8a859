"""The JSON event stream: live, resumable, and only what each agent may see."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import websockets
from starlette.applications import Starlette

from inbox.actions.agents import do_deactivate_agent
from inbox.actions.housekeeping import do_prune_outbox
from inbox.channels.ingest import ingest
from inbox.events import Audience, InboxAccessChanged, Published
from inbox.runtime import Runtime
from tests.conftest import World
from tests.helpers import inbound
from tests.live import serve


@pytest.fixture
async def base_url(app: Starlette) -> AsyncIterator[str]:
    async with serve(app) as url:
        yield url


def ws_url(base_url: str, since: int | None = None) -> str:
    url = base_url.replace("http://", "ws://") + "/api/v1/stream"
    return url if since is None else f"{url}?since={since}"


def bearer(world: World, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.tokens[who]}"}


async def recv(ws: Any, within: float = 5.0) -> dict[str, Any]:
    async with asyncio.timeout(within):
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] != "heartbeat":
                return frame  # type: ignore[no-any-return]


async def quiet(ws: Any, seconds: float = 0.3) -> bool:
    """True when nothing but heartbeats arrives for a while."""
    try:
        await recv(ws, seconds)
    except TimeoutError:
        return True
    return False


async def test_agents_see_each_others_actions_live(
    base_url: str, rt: Runtime, world: World
) -> None:
    received = await ingest(rt, inbound(world.email_inbox.id, email="maria@example.test"))
    conv_id = received.message.conversation_id
    async with (
        websockets.connect(ws_url(base_url), additional_headers=bearer(world, "ana")) as ana,
        websockets.connect(ws_url(base_url), additional_headers=bearer(world, "ben")) as ben,
        websockets.connect(ws_url(base_url), additional_headers=bearer(world, "olga")) as olga,
        httpx.AsyncClient(base_url=base_url, headers=bearer(world, "ben")) as api,
    ):
        claim = await api.post(f"/api/v1/conversations/{conv_id}/claim")
        assert claim.status_code == 200
        for ws in (ana, ben):
            frame = await recv(ws)
            assert frame["type"] == "conversation.assigned"
            assert frame["assignee_id"] == world.ben.id and frame["reason"] == "claimed"
            assert isinstance(frame["seq"], int)
        note = await api.post(
            f"/api/v1/conversations/{conv_id}/messages", json={"kind": "note", "text": "on it"}
        )
        assert note.status_code == 201
        assert (await recv(ana))["direction"] == "note"
        # Olga's team can't see the Support inbox: she hears nothing of it.
        assert await quiet(olga)


async def test_resume_with_since_loses_and_duplicates_nothing(
    base_url: str, rt: Runtime, world: World
) -> None:
    headers = bearer(world, "ana")
    async with websockets.connect(ws_url(base_url), additional_headers=headers) as ws:
        await ingest(rt, inbound(world.email_inbox.id, email="a@example.test"))
        first = [await recv(ws), await recv(ws)]
    last = first[-1]["seq"]
    # While Ana is away: three more conversations, one in a team she isn't in.
    for n in range(3):
        await ingest(rt, inbound(world.email_inbox.id, email=f"b{n}@example.test"))
    await ingest(rt, inbound(world.sales_inbox.id, phone="+34600000001"))
    async with websockets.connect(ws_url(base_url, since=last), additional_headers=headers) as ws:
        missed = [await recv(ws) for _ in range(6)]
        # Live events continue after the replay, without a gap or a repeat.
        await ingest(rt, inbound(world.chat_inbox.id, chat_id="v-2"))
        live = [await recv(ws), await recv(ws)]
        assert await quiet(ws)
    seqs = [f["seq"] for f in missed + live]
    assert seqs == sorted(set(seqs)) and seqs[0] > last
    assert all(f["inbox_id"] != world.sales_inbox.id for f in missed + live)
    assert [f["type"] for f in missed] == ["conversation.created", "message.created"] * 3


async def test_since_older_than_the_outbox_gets_resync(
    base_url: str, rt: Runtime, world: World
) -> None:
    await ingest(rt, inbound(world.email_inbox.id, email="a@example.test"))
    assert await do_prune_outbox(rt, older_than=timedelta(0)) > 0
    await ingest(rt, inbound(world.email_inbox.id, email="b@example.test"))
    async with websockets.connect(
        ws_url(base_url, since=1), additional_headers=bearer(world, "ana")
    ) as ws:
        frame = await recv(ws)
        assert frame["type"] == "resync" and frame["seq"] >= 2
        await ingest(rt, inbound(world.email_inbox.id, email="c@example.test"))
        assert (await recv(ws))["seq"] > frame["seq"]


async def test_bad_requests_are_refused_with_a_reason(base_url: str, world: World) -> None:
    cases: list[tuple[str, dict[str, str], int]] = [
        (ws_url(base_url), {}, 4401),
        (ws_url(base_url), {"Authorization": "Bearer inb_nope"}, 4401),
        (ws_url(base_url) + "?since=-3", bearer(world, "ana"), 4400),
    ]
    for url, headers, code in cases:
        async with websockets.connect(url, additional_headers=headers) as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await recv(ws)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == code
    # A page on another site can't open a socket that rides on our cookie.
    with pytest.raises(websockets.InvalidStatus):
        async with websockets.connect(
            ws_url(base_url),
            additional_headers=bearer(world, "ana"),
            origin="http://evil.example",  # type: ignore[arg-type]
        ):
            pass


async def test_a_deactivated_agents_stream_is_closed(
    base_url: str, rt: Runtime, world: World
) -> None:
    async with websockets.connect(ws_url(base_url), additional_headers=bearer(world, "ben")) as ws:
        await do_deactivate_agent(rt, world.admin, world.ben.id)
        assert (await recv(ws))["type"] == "agent.deactivated"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await recv(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4410


async def test_a_slow_client_is_dropped_and_can_resume(
    base_url: str, rt: Runtime, world: World
) -> None:
    rt.hub._queue_size = 5
    headers = bearer(world, "ana")
    async with websockets.connect(ws_url(base_url), additional_headers=headers) as ws:
        start = (rt.hub.last_seq or 0) + 1
        # A burst faster than the socket can be served, all in one go.
        for seq in range(start, start + 50):
            await rt.hub.publish(
                Published(seq, InboxAccessChanged(inbox_id=1), Audience(frozenset({world.ana.id})))
            )
        frames: list[dict[str, Any]] = []
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                frames.append(await recv(ws))
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4408
        assert len(frames) < 50


async def test_a_rotated_token_ends_the_stream_at_the_next_heartbeat(
    base_url: str, rt: Runtime, world: World
) -> None:
    from inbox.actions.agents import do_rotate_api_token

    async with (
        websockets.connect(ws_url(base_url), additional_headers=bearer(world, "ana")) as ana,
        websockets.connect(ws_url(base_url), additional_headers=bearer(world, "ben")) as ben,
    ):
        for ws in (ana, ben):
            assert (json.loads(await ws.recv()))["type"] == "heartbeat"  # caught up
        await do_rotate_api_token(rt, world.ana, world.ana.id)
        await rt.hub.heartbeat()  # as every process does every HEARTBEAT_SECONDS
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await recv(ana)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        # Ben's token still signs in: his idle stream only hears the heartbeat.
        assert json.loads(await ben.recv())["type"] == "heartbeat"
