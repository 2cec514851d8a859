"""Live chat end to end: the widget's session and socket against the real app on uvicorn.

A visitor talks through /chat/session and /chat/socket exactly as the widget
does (tests/chat_support.py); agents watch their live pages through /ws.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

import httpx
import pytest
import websockets
from sqlalchemy import func, select
from starlette.applications import Starlette

from inbox.actions.customers import do_create_customer
from inbox.actions.live_chat import do_rotate_chat_secret, do_update_chat_settings
from inbox.actions.messages import do_post_note, do_post_reply
from inbox.channels.chat.settings import user_hash
from inbox.channels.ingest import ingest
from inbox.models import Customer, Delivery, Identity, IdentityKind, Message
from inbox.profiles.identities import ref
from inbox.runtime import Runtime
from tests.chat_support import SITE, Visitor, chat_inbox, expect, nothing, start, visitor
from tests.conftest import World, csrf_of, login
from tests.helpers import inbound
from tests.live import serve
from tests.test_live_ui import recv, recv_presence, signed_in
from tests.test_presence import say, text_of


@pytest.fixture
async def base_url(app: Starlette) -> AsyncIterator[str]:
    async with serve(app) as url:
        yield url


async def _message_count(rt: Runtime) -> int:
    async with rt.read_sessions() as db:
        return int(await db.scalar(select(func.count()).select_from(Message)) or 0)


async def test_a_chat_goes_live_both_ways_and_notes_stay_inside(
    base_url: str, rt: Runtime, world: World
) -> None:
    chat = await chat_inbox(rt, world)
    key = chat.inbox.config["public_key"]
    maria = await visitor(base_url, key, name="Maria")
    tom = await visitor(base_url, key, name="Tom")
    async with (
        signed_in(base_url, "ana") as ana,
        ana.watch("/") as ana_list,
        maria.socket() as maria_ws,
        tom.socket() as tom_ws,
    ):
        # Ana's page is open: someone is there to answer.
        assert (await expect(maria_ws, "status"))["agents_online"] is True
        ack = await maria.say(maria_ws, "Where is my parcel?")
        row = await recv(ana_list)
        assert "Where is my parcel?" in text_of(row) and "Maria" in text_of(row)
        async with rt.read_sessions() as db:
            first = await db.get(Message, ack["id"])
        assert first is not None and first.inbox_id == chat.inbox.id
        conv_id = first.conversation_id

        async with ana.watch(f"/conversations/{conv_id}") as ana_conv:
            await maria.say(maria_ws, "It was due Monday.")
            assert "It was due Monday." in text_of(await recv(ana_conv))

            reply = await do_post_reply(rt, world.ana, conv_id, "It ships today.")
            got = await expect(maria_ws, "message", mine=False)
            assert got["id"] == reply.id and got["text"] == "It ships today."
            # The replying agent's display name, and nothing else about agents.
            assert got["author"] == "Ana"
            assert set(got) == {"type", "id", "mine", "text", "author", "at", "client_id"}
            # Nothing else carries it: the agent sees it as sent, not queued.
            async with rt.read_sessions() as db:
                stored = await db.get(Message, reply.id)
            assert stored is not None and stored.delivery is Delivery.SENT

            await do_post_note(rt, world.ana, conv_id, "Internal: courier lost it")
            assert await nothing(maria_ws, "message")
            # Tom, another visitor of the same inbox, sees nothing of Maria's chat.
            assert await nothing(tom_ws, "message", seconds=0.1)

            # Typing, both ways.
            await maria_ws.send(json.dumps({"type": "typing"}))
            shown = await recv_presence(ana_conv)
            assert text_of(shown) == "Maria is typing in the chat…"
            await maria_ws.send(json.dumps({"type": "idle"}))
            assert text_of(await recv_presence(ana_conv)) == ""
            await say(ana_conv, "typing")
            assert (await expect(maria_ws, "typing"))["typing"] is True
            await say(ana_conv, "idle")
            assert (await expect(maria_ws, "typing"))["typing"] is False
            assert await nothing(tom_ws, "typing", seconds=0.1)


async def test_a_reconnect_resumes_and_a_resend_stores_nothing_new(
    base_url: str, rt: Runtime, world: World
) -> None:
    chat = await chat_inbox(rt, world)
    maria = await visitor(base_url, chat.inbox.config["public_key"], name="Maria")
    async with maria.socket() as ws:
        first = await maria.say(ws, "Hello?", client_id="draft-1")
    async with rt.read_sessions() as db:
        conv_id = (await db.get(Message, first["id"])).conversation_id  # type: ignore[union-attr]
    # While the widget is away, two replies.
    one = await do_post_reply(rt, world.ana, conv_id, "Hi Maria")
    two = await do_post_reply(rt, world.ana, conv_id, "How can I help?")
    stored = await _message_count(rt)
    async with maria.socket() as ws:
        missed = [await expect(ws, "message"), await expect(ws, "message")]
        assert [m["id"] for m in missed] == [one.id, two.id]
        # The widget resends what it never saw acknowledged: the same message.
        again = await maria.say(ws, "Hello?", client_id="draft-1")
        assert again["id"] == first["id"]
    assert await _message_count(rt) == stored
    # A reload (after=0) shows the whole chat again, the visitor's own lines
    # with the widget's ids so it can match what it had drawn.
    async with maria.socket(after=0) as ws:
        lines = [await expect(ws, "message") for _ in range(3)]
    assert [(m["mine"], m["text"], m["client_id"]) for m in lines] == [
        (True, "Hello?", "draft-1"),
        (False, "Hi Maria", None),
        (False, "How can I help?", None),
    ]


async def test_forged_foreign_and_unlisted_are_refused(
    base_url: str, rt: Runtime, world: World
) -> None:
    shop = await chat_inbox(rt, world)
    other = await chat_inbox(rt, world, allowed_origins=["https://other.example"])
    shop_key, other_key = shop.inbox.config["public_key"], other.inbox.config["public_key"]
    maria = await visitor(base_url, shop_key)

    async def closed_with(v: Visitor) -> int:
        async with v.socket() as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None
        return closed.value.rcvd.code

    assert await closed_with(Visitor(base_url, shop_key, "forged-token")) == 4401
    # Maria's token belongs to the shop's chat, not the other one's.
    assert (
        await closed_with(Visitor(base_url, other_key, maria.token, "https://other.example"))
        == 4401
    )
    assert await closed_with(Visitor(base_url, "no-such-key", maria.token)) == 4400
    # The session endpoint doesn't honour it for the other inbox either: a new session.
    fresh = await start(base_url, other_key, "https://other.example", token=maria.token)
    assert fresh.status_code == 200 and fresh.json()["resumed"] is False
    assert fresh.json()["token"] != maria.token
    assert fresh.headers["access-control-allow-origin"] == "https://other.example"
    # The other inbox lists its origins: the shop may not embed it.
    refused = await start(base_url, other_key, SITE)
    assert refused.status_code == 403 and "access-control-allow-origin" not in refused.headers
    with pytest.raises(websockets.InvalidStatus):
        async with Visitor(base_url, other_key, fresh.json()["token"], SITE).socket():
            pass
    # The same token resumes where it belongs.
    again = await start(base_url, shop_key, token=maria.token)
    assert again.json() | {"agents_online": False} == {
        "token": maria.token,
        "resumed": True,
        "verified": False,
        "agents_online": False,
        "socket": "/chat/socket",
    }
    # Bad input gets a reason, not a 500.
    bad = await start(base_url, "")
    assert bad.status_code == 400 and "inbox" in bad.json()["error"]
    # An admin can narrow the shop's origins later.
    await do_update_chat_settings(
        rt,
        world.admin,
        shop.inbox.id,
        allowed_origins=["https://other.example"],
        email_inbox_id=None,
    )
    assert (await start(base_url, shop_key, token=maria.token)).status_code == 403


async def test_only_a_valid_user_hash_links_the_visitor_to_a_known_customer(
    base_url: str, rt: Runtime, world: World
) -> None:
    chat = await chat_inbox(rt, world)
    key, secret = chat.inbox.config["public_key"], chat.identity_secret
    known = await do_create_customer(
        rt,
        world.admin,
        name="Maria Known",
        identities=[
            ref(IdentityKind.LIVE_CHAT, f"site:{chat.inbox.id}:user-42", verified=True),
            ref(IdentityKind.EMAIL, "maria@example.test", verified=True),
        ],
    )
    # Her earlier chat, which a verified visit shows again.
    earlier = await ingest(
        rt, inbound(chat.inbox.id, chat_id=f"site:{chat.inbox.id}:user-42", text="Earlier")
    )
    assert earlier.message.customer_id == known.id

    async def customer_of(v: Visitor, text: str) -> int:
        async with v.socket(after=0) as ws:
            ack = await v.say(ws, text)
        async with rt.read_sessions() as db:
            return (await db.get(Message, ack["id"])).customer_id  # type: ignore[union-attr]

    valid = await start(base_url, key, user_id="user-42", user_hash=user_hash("user-42", secret))
    assert valid.json()["verified"] is True
    verified = Visitor(base_url, key, valid.json()["token"])
    async with verified.socket(after=0) as ws:
        assert (await expect(ws, "message"))["text"] == "Earlier"
    assert await customer_of(verified, "It's me") == known.id

    # A wrong hash, a hash from another secret, no hash, or a claimed email:
    # each is a new customer, never the known one.
    for body in (
        {"user_id": "user-42", "user_hash": "0" * 64},
        {"user_id": "user-42", "user_hash": user_hash("user-42", "another-secret")},
        {"user_id": "user-42"},
        {"user_id": "user-43", "user_hash": user_hash("user-42", secret)},
    ):
        answer = await start(base_url, key, **body)
        assert answer.json()["verified"] is False, body
        stranger = Visitor(base_url, key, answer.json()["token"])
        async with stranger.socket(after=0) as ws:
            assert await nothing(ws, "message", seconds=0.2)  # none of Maria's chat
        assert await customer_of(stranger, "Hello") != known.id
    # A claimed email, left in the offline form, joins nobody.
    claimer = await visitor(base_url, key)
    async with claimer.socket() as ws:
        await claimer.say(ws, "I'm Maria, honest")
        await ws.send(json.dumps({"type": "email", "address": "maria@example.test"}))
        assert (await expect(ws, "follow_up"))["address"] == "maria@example.test"
    async with rt.read_sessions() as db:
        holder = await db.scalar(
            select(Identity.customer_id).where(Identity.value == "maria@example.test")
        )
        customers = await db.scalar(select(func.count()).select_from(Customer))
    assert holder == known.id and customers == 6  # Maria, four strangers, the claimer
    # Rotating the secret: hashes made with the old one stop verifying.
    await do_rotate_chat_secret(rt, world.admin, chat.inbox.id)
    stale = await start(base_url, key, user_id="user-42", user_hash=user_hash("user-42", secret))
    assert stale.json()["verified"] is False


async def test_bad_frames_get_reasons_and_the_socket_stays(
    base_url: str, rt: Runtime, world: World
) -> None:
    chat = await chat_inbox(rt, world)
    maria = await visitor(base_url, chat.inbox.config["public_key"])
    async with maria.socket() as ws:
        await ws.send("not json")
        assert (await expect(ws, "error"))["reason"] == "not JSON"
        await ws.send(json.dumps({"type": "message", "client_id": "<bad>", "text": "hi"}))
        assert "client_id" in (await expect(ws, "error"))["reason"]
        await ws.send(json.dumps({"type": "message", "client_id": "ok", "text": "x" * 6000}))
        assert "5000" in (await expect(ws, "error"))["reason"]
        await ws.send(json.dumps({"type": "email", "address": "not an address"}))
        assert "invalid email" in (await expect(ws, "error"))["reason"]
        await maria.say(ws, "Still here")


async def test_admins_create_a_chat_and_see_its_secret_once(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    admin = {"Authorization": f"Bearer {world.tokens['admin']}"}
    made = await client.post(
        "/api/v1/inboxes/live_chat",
        json={
            "name": "Shop chat",
            "team_ids": [world.support.id],
            "allowed_origins": ["https://Shop.example/"],
            "email_inbox_id": world.email_inbox.id,
        },
        headers=admin,
    )
    assert made.status_code == 201, made.text
    body = made.json()
    secret, key = body["identity_secret"], body["public_key"]
    assert body["allowed_origins"] == ["https://shop.example"]
    assert body["embed_snippet"] == (
        f'<script src="http://testserver/chat/widget.js" data-inbox="{key}" async></script>'
    )
    inbox_id = body["inbox"]["id"]
    # Never again: not in the inbox list, the settings answer, or the admin page.
    listed = await client.get("/api/v1/inboxes", headers=admin)
    changed = await client.post(
        f"/api/v1/inboxes/{inbox_id}/live_chat", json={"allowed_origins": []}, headers=admin
    )
    assert changed.status_code == 200 and changed.json()["allowed_origins"] == []
    await login(client, "admin@example.test")
    page = await client.get(f"/admin/inboxes/{inbox_id}/chat")
    assert page.status_code == 200 and "data-inbox=" in page.text
    for text in (listed.text, changed.text, page.text):
        assert secret not in text
    # Rotation answers the new one, once.
    rotated = await client.post(f"/api/v1/inboxes/{inbox_id}/live_chat/secret", headers=admin)
    assert rotated.status_code == 200 and rotated.json()["identity_secret"] != secret
    # Agents can't; bad origins and a non-email follow-up inbox are refused with reasons.
    ana = {"Authorization": f"Bearer {world.tokens['ana']}"}
    assert (
        await client.post("/api/v1/inboxes/live_chat", json={"name": "X"}, headers=ana)
    ).status_code == 403
    bad = await client.post(
        "/api/v1/inboxes/live_chat",
        json={"name": "X", "allowed_origins": ["javascript:alert(1)"]},
        headers=admin,
    )
    assert bad.status_code == 400 and "origin" in bad.text
    wrong = await client.post(
        f"/api/v1/inboxes/{inbox_id}/live_chat",
        json={"email_inbox_id": world.sales_inbox.id},
        headers=admin,
    )
    assert wrong.status_code == 400 and "email inbox" in wrong.text

    # The admin page makes one too, showing the snippet and the secret on the answer.
    csrf = await csrf_of(client)
    form = await client.post(
        "/admin/inboxes/chat",
        data={"name": "Help chat", "team_ids": str(world.support.id), "csrf_token": csrf},
    )
    assert form.status_code == 201
    shown = re.search(r'<pre class="snippet" id="chat-secret">([^<]+)</pre>', form.text)
    assert shown and "/chat/widget.js" in form.text
    saved = await client.post(
        f"/admin/inboxes/{inbox_id}/chat",
        data={"allowed_origins": "https://a.example\nhttps://b.example:8443", "csrf_token": csrf},
    )
    assert saved.status_code == 303
    refused = await client.post(
        f"/admin/inboxes/{inbox_id}/chat",
        data={"allowed_origins": "not a site", "csrf_token": csrf},
    )
    assert refused.status_code == 400 and "not an origin" in refused.text
    page = await client.get(f"/admin/inboxes/{inbox_id}/chat")
    assert "https://a.example\nhttps://b.example:8443</textarea>" in page.text
    # The widget itself is served for other sites' pages.
    widget = await client.get("/chat/widget.js")
    assert widget.status_code == 200 and widget.headers["content-type"].startswith(
        "text/javascript"
    )
    assert widget.headers["cross-origin-resource-policy"] == "cross-origin"
