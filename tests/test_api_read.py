"""Reading through the API: who sees what, pagination, conversations, customers."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx

from inbox.actions.conversations import do_claim_conversation, do_set_status
from inbox.actions.customers import do_create_customer
from inbox.actions.messages import do_post_note
from inbox.channels.base import InboundAttachment
from inbox.models import Status
from inbox.profiles.identities import ref
from inbox.runtime import Runtime
from tests.conftest import World
from tests.helpers import inbound
from tests.test_api_support import (
    bearer,
    error_of,
    new_conversation,
    receive,
)

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


async def test_me_is_the_token_owner_and_shows_no_secrets(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await client.get("/api/v1/me", headers=bearer(world, "ana"))
    assert response.status_code == 200
    assert response.json() == {
        "agent": {"id": world.ana.id, "name": "Ana", "email": "ana@example.test", "role": "agent"}
    }
    lead = await client.get("/api/v1/me", headers=bearer(world, "lead"))
    assert lead.json()["agent"]["role"] == "lead"


async def test_inboxes_are_only_the_visible_ones_and_never_carry_secrets(
    client: httpx.AsyncClient, world: World
) -> None:
    def listed(response: httpx.Response) -> list[tuple[int, str, str]]:
        assert response.status_code == 200
        return [(i["id"], i["name"], i["channel"]) for i in response.json()["inboxes"]]

    ana = await client.get("/api/v1/inboxes", headers=bearer(world, "ana"))
    assert listed(ana) == [
        (world.email_inbox.id, "Support email", "email"),
        (world.chat_inbox.id, "Website chat", "live_chat"),
    ]
    olga = await client.get("/api/v1/inboxes", headers=bearer(world, "olga"))
    assert listed(olga) == [(world.sales_inbox.id, "Sales WhatsApp", "whatsapp")]
    admin = await client.get("/api/v1/inboxes", headers=bearer(world, "admin"))
    assert len(listed(admin)) == 3
    assert "hunter2" not in admin.text and "secrets" not in admin.text
    assert all(set(i) == {"id", "name", "channel"} for i in admin.json()["inboxes"])


async def test_ana_lists_support_conversations_but_not_sales_ones(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    support = await new_conversation(rt, world.email_inbox.id, email="maria@example.test")
    chat = await new_conversation(rt, world.chat_inbox.id, chat_id="visitor-1")
    sales = await new_conversation(rt, world.sales_inbox.id, phone="+34600111222")

    ana = await client.get("/api/v1/conversations", headers=bearer(world, "ana"))
    assert ana.status_code == 200
    body = ana.json()
    assert {c["id"] for c in body["conversations"]} == {support, chat}
    assert body["next_cursor"] is None
    first = next(c for c in body["conversations"] if c["id"] == support)
    assert first["inbox_name"] == "Support email" and first["channel"] == "email"
    assert first["customer_name"] == "Maria Lopez" and first["status"] == "open"
    assert first["assignee_id"] is None and first["assignee_name"] is None
    assert first["last_message_preview"].startswith("Hello, my order")
    datetime.fromisoformat(first["last_activity_at"])  # ISO 8601

    olga = await client.get("/api/v1/conversations", headers=bearer(world, "olga"))
    assert [c["id"] for c in olga.json()["conversations"]] == [sales]


async def test_olga_gets_404_for_a_support_conversation_and_its_customer(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    conv_id = await new_conversation(rt, world.email_inbox.id, email="maria@example.test")
    seen = await client.get(f"/api/v1/conversations/{conv_id}", headers=bearer(world, "ana"))
    customer_id = seen.json()["conversation"]["customer_id"]
    olga = bearer(world, "olga")
    hidden = await client.get(f"/api/v1/conversations/{conv_id}", headers=olga)
    missing = await client.get("/api/v1/conversations/999999", headers=olga)
    # Hidden and absent answer the same, so ids can't be probed.
    assert hidden.status_code == missing.status_code == 404
    assert error_of(hidden) == error_of(missing)
    claim = await client.post(f"/api/v1/conversations/{conv_id}/claim", headers=olga)
    assert claim.status_code == 404
    for path in (f"/api/v1/customers/{customer_id}", f"/api/v1/customers/{customer_id}/timeline"):
        assert (await client.get(path, headers=olga)).status_code == 404


async def test_inbox_filter_and_an_invisible_inbox_is_404(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    await new_conversation(rt, world.email_inbox.id, email="maria@example.test")
    chat = await new_conversation(rt, world.chat_inbox.id, chat_id="visitor-1")
    ana = bearer(world, "ana")
    only_chat = await client.get(
        "/api/v1/conversations", params={"inbox_id": world.chat_inbox.id}, headers=ana
    )
    assert [c["id"] for c in only_chat.json()["conversations"]] == [chat]
    for inbox_id in (world.sales_inbox.id, 424242):
        response = await client.get(
            "/api/v1/conversations", params={"inbox_id": inbox_id}, headers=ana
        )
        assert response.status_code == 404
        assert error_of(response)["message"] == "inbox not found"


async def test_paging_through_60_conversations_gives_each_once_in_order(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    for n in range(60):
        # Pairs share a timestamp, so the id tie-break is exercised too.
        at = T0 + timedelta(minutes=n // 2)
        await new_conversation(rt, world.email_inbox.id, email=f"c{n}@example.test", at=at)
    seen: list[tuple[str, int]] = []
    pages = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 25}
        if cursor:
            params["cursor"] = cursor
        response = await client.get(
            "/api/v1/conversations", params=params, headers=bearer(world, "ana")
        )
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(len(body["conversations"]))
        seen += [(c["last_activity_at"], c["id"]) for c in body["conversations"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == [25, 25, 10]
    assert len({i for _, i in seen}) == 60
    keys = [(datetime.fromisoformat(at), i) for at, i in seen]
    assert keys == sorted(keys, reverse=True)


async def test_views_and_status_filters(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    mine = await new_conversation(rt, world.email_inbox.id, email="a@example.test")
    theirs = await new_conversation(rt, world.email_inbox.id, email="b@example.test")
    free = await new_conversation(rt, world.email_inbox.id, email="c@example.test")
    done = await new_conversation(rt, world.email_inbox.id, email="d@example.test")
    await do_claim_conversation(rt, world.ana, mine)
    await do_claim_conversation(rt, world.ben, theirs)
    await do_set_status(rt, world.ana, done, Status.RESOLVED)

    async def ids(**params: str) -> set[int]:
        response = await client.get(
            "/api/v1/conversations", params=params, headers=bearer(world, "ana")
        )
        assert response.status_code == 200, response.text
        return {c["id"] for c in response.json()["conversations"]}

    assert await ids() == {mine, theirs, free}
    assert await ids(view="mine") == {mine}
    assert await ids(view="unassigned") == {free}
    assert await ids(status="resolved") == {done}
    assert await ids(status="any") == {mine, theirs, free, done}
    assert await ids(view="unassigned", status="any") == {free, done}


async def test_conversation_detail_lists_messages_oldest_first(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    first = inbound(
        world.email_inbox.id,
        email="maria@example.test",
        text="First",
        html='<p onclick="x()">First</p><script>alert(1)</script>',
        at=T0,
    )
    conv_id = await receive(rt, first)
    photo = InboundAttachment("photo.jpg", "image/jpeg", 2048, "ab" * 32)
    second = inbound(world.email_inbox.id, email="maria@example.test", text="Second", at=T0)
    await receive(rt, replace(second, attachments=(photo,)))
    await do_post_note(rt, world.ben, conv_id, "Looking into it")

    response = await client.get(f"/api/v1/conversations/{conv_id}", headers=bearer(world, "ana"))
    assert response.status_code == 200
    body = response.json()
    assert body["conversation"]["id"] == conv_id
    messages = body["messages"]
    assert [m["text"] for m in messages] == ["First", "Second", "Looking into it"]
    assert [m["direction"] for m in messages] == ["inbound", "inbound", "note"]
    assert "<script" not in messages[0]["html"] and "onclick" not in messages[0]["html"]
    assert messages[1]["html"] is None
    attachment_id = messages[1]["attachments"][0]["id"]
    assert messages[1]["attachments"] == [
        {
            "id": attachment_id,
            "filename": "photo.jpg",
            "content_type": "image/jpeg",
            "size": 2048,
            "url": f"/attachments/{attachment_id}",
        }
    ]
    note = messages[2]
    assert note["sender_agent_id"] == world.ben.id and note["delivery"] is None
    assert {note["conversation_id"], note["inbox_id"]} == {conv_id, world.email_inbox.id}


async def test_customer_profile_and_timeline_pages(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    customer = await do_create_customer(
        rt,
        None,
        name="Maria Lopez",
        identities=[ref("email", "maria@example.test", verified=True)],
        attributes={"plan": "pro"},
        tags=["VIP", "returning"],
    )
    for n in range(54):
        message = inbound(
            world.email_inbox.id, email="maria@example.test", text=f"m{n}", at=T0 + timedelta(n)
        )
        conv_id = await receive(rt, message)
    await do_post_note(rt, world.ben, conv_id, "m54")
    ana = bearer(world, "ana")
    response = await client.get(f"/api/v1/customers/{customer.id}", headers=ana)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["customer"] == {
        "id": customer.id,
        "name": "Maria Lopez",
        "attributes": {"plan": "pro"},
        "tags": ["returning", "vip"],
        "identities": [{"kind": "email", "value": "maria@example.test", "verified": True}],
        "version": 1,
        "merged_into_id": None,
    }
    assert [e["text"] for e in body["timeline"]] == [f"m{n}" for n in range(5, 55)]
    entry = body["timeline"][0]
    assert entry["inbox_name"] == "Support email" and entry["channel"] == "email"
    assert entry["sender_name"] == "Maria Lopez" and entry["direction"] == "inbound"
    last = body["timeline"][-1]
    assert (last["sender_name"], last["direction"], last["sender_agent_id"]) == (
        "Ben",
        "note",
        world.ben.id,
    )

    older = await client.get(
        f"/api/v1/customers/{customer.id}/timeline",
        params={"before": body["earlier_cursor"], "limit": 3},
        headers=ana,
    )
    assert older.status_code == 200
    assert [e["text"] for e in older.json()["entries"]] == ["m2", "m3", "m4"]
    oldest = await client.get(
        f"/api/v1/customers/{customer.id}/timeline",
        params={"before": older.json()["earlier_cursor"]},
        headers=ana,
    )
    assert [e["text"] for e in oldest.json()["entries"]] == ["m0", "m1"]
    assert oldest.json()["earlier_cursor"] is None


async def test_timeline_holds_only_the_channels_the_agent_may_see(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    await receive(rt, inbound(world.email_inbox.id, email="maria@example.test", text="by email"))
    sales = inbound(
        world.sales_inbox.id, phone="+34600111222", email="maria@example.test", text="by phone"
    )
    await receive(rt, sales)
    admin = await client.get("/api/v1/conversations", headers=bearer(world, "admin"))
    customer_ids = {c["customer_id"] for c in admin.json()["conversations"]}
    assert len(customer_ids) == 1  # one customer across both channels
    path = f"/api/v1/customers/{customer_ids.pop()}/timeline"

    async def texts(who: str) -> list[str]:
        response = await client.get(path, headers=bearer(world, who))
        assert response.status_code == 200
        return [e["text"] for e in response.json()["entries"]]

    assert await texts("ana") == ["by email"]
    assert await texts("olga") == ["by phone"]
    assert sorted(await texts("admin")) == ["by email", "by phone"]
