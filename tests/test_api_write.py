"""Changing things through the API: claims, assignment, status, messages, CSRF."""

from __future__ import annotations

import httpx

from inbox.models import Message
from inbox.runtime import Runtime
from tests.conftest import World
from tests.test_api_support import bearer, count, error_of, new_conversation, sign_in


async def test_claim_then_a_colleague_gets_409_naming_the_holder(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    conv_id = await new_conversation(rt, world.email_inbox.id, email="maria@example.test")
    path = f"/api/v1/conversations/{conv_id}/claim"
    claimed = await client.post(path, headers=bearer(world, "ana"))
    assert claimed.status_code == 200, claimed.text
    conversation = claimed.json()["conversation"]
    assert conversation["assignee_id"] == world.ana.id
    assert conversation["assignee_name"] == "Ana"

    clash = await client.post(path, json={}, headers=bearer(world, "ben"))
    assert clash.status_code == 409
    error = error_of(clash)
    assert error["message"] == "already claimed by Ana"
    assert error["details"] == {"assignee_id": world.ana.id}

    again = await client.post(path, headers=bearer(world, "ana"))
    assert again.status_code == 200  # claiming what you hold is harmless


async def test_release_resolve_reopen_round_trip(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    conv_id = await new_conversation(rt, world.email_inbox.id, email="maria@example.test")
    base = f"/api/v1/conversations/{conv_id}"
    ana = bearer(world, "ana")
    versions = []
    expected = [
        ("claim", "open", world.ana.id),
        ("resolve", "resolved", world.ana.id),
        ("reopen", "open", world.ana.id),
        ("release", "open", None),
    ]
    for action, status, assignee in expected:
        response = await client.post(f"{base}/{action}", json={}, headers=ana)
        assert response.status_code == 200, (action, response.text)
        conversation = response.json()["conversation"]
        assert (conversation["status"], conversation["assignee_id"]) == (status, assignee)
        versions.append(conversation["version"])
    assert versions == sorted(versions) and len(set(versions)) == 4


async def test_agent_cannot_release_or_resolve_a_colleagues_conversation(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    conv_id = await new_conversation(rt, world.email_inbox.id, email="maria@example.test")
    base = f"/api/v1/conversations/{conv_id}"
    await client.post(f"{base}/claim", headers=bearer(world, "ana"))
    release = await client.post(f"{base}/release", headers=bearer(world, "ben"))
    assert release.status_code == 403
    resolve = await client.post(f"{base}/resolve", headers=bearer(world, "ben"))
    assert resolve.status_code == 409
    # A lead may step in.
    led = await client.post(f"{base}/resolve", headers=bearer(world, "lead"))
    assert led.status_code == 200 and led.json()["conversation"]["status"] == "resolved"


async def test_only_leads_assign_to_someone_else(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    conv_id = await new_conversation(rt, world.email_inbox.id, email="maria@example.test")
    path = f"/api/v1/conversations/{conv_id}/assign"
    refused = await client.post(
        path, json={"assignee_id": world.ben.id}, headers=bearer(world, "ana")
    )
    assert refused.status_code == 403
    assert error_of(refused)["message"] == "only a lead or admin may assign to someone else"

    to_self = await client.post(
        path, json={"assignee_id": world.ana.id}, headers=bearer(world, "ana")
    )
    assert to_self.status_code == 200
    assert to_self.json()["conversation"]["assignee_id"] == world.ana.id

    by_lead = await client.post(
        path,
        json={"assignee_id": world.ben.id, "team_id": world.support.id},
        headers=bearer(world, "lead"),
    )
    assert by_lead.status_code == 200, by_lead.text
    conversation = by_lead.json()["conversation"]
    assert (conversation["assignee_id"], conversation["assignee_name"]) == (world.ben.id, "Ben")
    assert conversation["team_id"] == world.support.id


async def test_assign_needs_someone_who_can_see_the_inbox(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    conv_id = await new_conversation(rt, world.email_inbox.id, email="maria@example.test")
    path = f"/api/v1/conversations/{conv_id}/assign"
    lead = bearer(world, "lead")
    nobody = await client.post(path, json={}, headers=lead)
    assert nobody.status_code == 400
    olga = await client.post(path, json={"assignee_id": world.olga.id}, headers=lead)
    assert olga.status_code == 400
    no_team = await client.post(path, json={"team_id": 999}, headers=lead)
    assert no_team.status_code == 404


async def test_posting_a_note_and_reading_it_back(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    conv_id = await new_conversation(rt, world.email_inbox.id, email="maria@example.test")
    posted = await client.post(
        f"/api/v1/conversations/{conv_id}/messages",
        json={"kind": "note", "text": "  Checking with the warehouse  "},
        headers=bearer(world, "ben"),
    )
    assert posted.status_code == 201, posted.text
    message = posted.json()["message"]
    assert message["direction"] == "note" and message["text"] == "Checking with the warehouse"
    assert message["sender_agent_id"] == world.ben.id and message["attachments"] == []

    read = await client.get(f"/api/v1/conversations/{conv_id}", headers=bearer(world, "ana"))
    assert read.json()["messages"][-1] == message
    # A note neither claims the conversation nor changes its preview.
    assert read.json()["conversation"]["assignee_id"] is None
    assert read.json()["conversation"]["last_message_preview"].startswith("Hello")


async def test_a_reply_claims_and_is_queued_for_the_channel(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    conv_id = await new_conversation(rt, world.chat_inbox.id, chat_id="visitor-3")
    path = f"/api/v1/conversations/{conv_id}/messages"
    reply = await client.post(
        path, json={"kind": "reply", "text": "On its way!"}, headers=bearer(world, "ana")
    )
    assert reply.status_code == 201
    assert reply.json()["message"]["direction"] == "outbound"
    assert reply.json()["message"]["delivery"] == "queued"
    read = await client.get(f"/api/v1/conversations/{conv_id}", headers=bearer(world, "ana"))
    assert read.json()["conversation"]["assignee_id"] == world.ana.id
    assert read.json()["conversation"]["last_message_preview"] == "On its way!"

    over = await client.post(
        path, json={"kind": "reply", "text": "Me too"}, headers=bearer(world, "ben")
    )
    assert over.status_code == 409
    assert error_of(over)["message"] == "Ana is handling this conversation"


async def test_an_empty_message_is_refused_and_nothing_stored(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    conv_id = await new_conversation(rt, world.email_inbox.id, email="maria@example.test")
    before = await count(rt, Message)
    response = await client.post(
        f"/api/v1/conversations/{conv_id}/messages",
        json={"kind": "note", "text": "   "},
        headers=bearer(world, "ana"),
    )
    assert response.status_code == 400
    assert error_of(response)["message"] == "the message is empty"
    assert await count(rt, Message) == before


async def test_cookie_session_reads_but_must_send_csrf_to_write(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    conv_id = await new_conversation(rt, world.email_inbox.id, email="maria@example.test")
    csrf = await sign_in(client, "ana@example.test")
    me = await client.get("/api/v1/me")
    assert me.status_code == 200 and me.json()["agent"]["id"] == world.ana.id

    path = f"/api/v1/conversations/{conv_id}/messages"
    note = {"kind": "note", "text": "via the browser"}
    before = await count(rt, Message)
    refused = await client.post(path, json=note)
    assert refused.status_code == 403
    assert "CSRF" in error_of(refused)["message"]
    wrong = await client.post(path, json=note, headers={"X-CSRF-Token": "forged"})
    assert wrong.status_code == 403
    assert await count(rt, Message) == before

    accepted = await client.post(path, json=note, headers={"X-CSRF-Token": csrf})
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["message"]["sender_agent_id"] == world.ana.id


async def test_bearer_requests_need_no_csrf_and_ignore_the_cookie(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    conv_id = await new_conversation(rt, world.email_inbox.id, email="maria@example.test")
    await sign_in(client, "ana@example.test")  # a cookie rides along from here on
    claimed = await client.post(
        f"/api/v1/conversations/{conv_id}/claim", headers=bearer(world, "ben")
    )
    assert claimed.status_code == 200
    # The token decides who is acting, not the cookie.
    assert claimed.json()["conversation"]["assignee_id"] == world.ben.id
    bad = await client.get("/api/v1/me", headers={"Authorization": "Bearer inb_wrong"})
    assert bad.status_code == 401  # a wrong token is not rescued by the valid cookie
