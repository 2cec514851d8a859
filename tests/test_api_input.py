"""Bad input is a clear 4xx, never a 500, and never stores anything."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from inbox.actions.agents import do_deactivate_agent, do_rotate_api_token
from inbox.models import AuditEntry, Message, OutboxEvent
from inbox.queries import Cursor
from inbox.runtime import Runtime
from tests.conftest import World
from tests.test_api_support import bearer, count, error_of, new_conversation


async def test_missing_wrong_or_foreign_credentials_are_401(
    client: httpx.AsyncClient, world: World
) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer inb_not-a-real-token"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic YW5hOnB3"},
        {"Authorization": f"Bearer {world.tokens['ana'].removeprefix('inb_')}"},
    ):
        response = await client.get("/api/v1/me", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == "Bearer"
        assert error_of(response)["message"] in ("sign in first", "invalid or revoked API token")


async def test_rotated_and_deactivated_tokens_stop_working_at_once(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    old = bearer(world, "ana")
    assert (await client.get("/api/v1/me", headers=old)).status_code == 200
    new_token = await do_rotate_api_token(rt, world.ana, world.ana.id)
    assert (await client.get("/api/v1/me", headers=old)).status_code == 401
    fresh = {"Authorization": f"Bearer {new_token}"}
    assert (await client.get("/api/v1/me", headers=fresh)).status_code == 200

    ben = bearer(world, "ben")
    assert (await client.get("/api/v1/inboxes", headers=ben)).status_code == 200
    await do_deactivate_agent(rt, world.admin, world.ben.id)
    assert (await client.get("/api/v1/inboxes", headers=ben)).status_code == 401
    assert (await client.post("/api/v1/conversations/1/claim", headers=ben)).status_code == 401


async def test_malformed_json_is_400_with_a_reason_and_stores_nothing(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    conv_id = await new_conversation(rt, world.email_inbox.id, email="maria@example.test")
    before = await count(rt, Message), await count(rt, AuditEntry)
    path = f"/api/v1/conversations/{conv_id}/messages"
    malformed = (
        b'{"kind": "note", "text": ',
        b"\xff\xfe\x00",
        b"NaN",
        b"[" * 50_000,
        # Half a surrogate pair, escaped or encoded: no database can store it.
        b'{"kind": "note", "text": "\\ud800"}',
        b'{"kind": "note", "text": "\xed\xa0\x80"}',
    )
    for raw in malformed:
        response = await client.post(
            path, content=raw, headers={**bearer(world, "ana"), "Content-Type": "application/json"}
        )
        assert response.status_code == 400, raw[:20]
        assert error_of(response)["message"].startswith("request body is not valid JSON")
    assert (await count(rt, Message), await count(rt, AuditEntry)) == before
    # A whole pair is just a character outside the BMP.
    emoji = await client.post(
        path,
        content=b'{"kind": "note", "text": "\\ud83d\\ude00"}',
        headers=bearer(world, "ana"),
    )
    assert emoji.status_code == 201 and emoji.json()["message"]["text"] == "\U0001f600"


async def test_unknown_field_is_422_naming_it_and_nothing_is_stored(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    conv_id = await new_conversation(rt, world.email_inbox.id, email="maria@example.test")
    before = await count(rt, Message), await count(rt, OutboxEvent)
    response = await client.post(
        f"/api/v1/conversations/{conv_id}/messages",
        json={"kind": "note", "text": "hi", "private": True},
        headers=bearer(world, "ana"),
    )
    assert response.status_code == 422
    error = error_of(response)
    assert error["message"] == "private: Extra inputs are not permitted"
    assert error["details"]["errors"] == [
        {"field": "private", "problem": "Extra inputs are not permitted"}
    ]
    assert (await count(rt, Message), await count(rt, OutboxEvent)) == before


@pytest.mark.parametrize(
    ("action", "body", "field"),
    [
        ("messages", {"kind": "note", "text": 5}, "text"),
        ("messages", {"kind": "email", "text": "hi"}, "kind"),
        ("messages", {"text": "hi"}, "kind"),
        ("messages", {"kind": "note", "text": None}, "text"),
        ("assign", {"assignee_id": "5"}, "assignee_id"),  # strict: no strings for ints
        ("assign", {"assignee_id": True}, "assignee_id"),
        ("assign", {"assignee_id": 2**40}, "assignee_id"),
        ("assign", {"team_id": 0}, "team_id"),
        ("claim", {"force": True}, "force"),
        ("claim", [], ""),
        ("claim", "claim", ""),
    ],
)
async def test_wrong_types_are_422_naming_the_field(
    client: httpx.AsyncClient,
    rt: Runtime,
    world: World,
    action: str,
    body: object,
    field: str,
) -> None:
    conv_id = await new_conversation(rt, world.email_inbox.id, email="maria@example.test")
    before = await count(rt, OutboxEvent)
    response = await client.post(
        f"/api/v1/conversations/{conv_id}/{action}", json=body, headers=bearer(world, "lead")
    )
    assert response.status_code == 422, response.text
    assert error_of(response)["details"]["errors"][0]["field"] == field
    assert await count(rt, OutboxEvent) == before


async def test_bodies_over_one_mebibyte_are_413(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    conv_id = await new_conversation(rt, world.email_inbox.id, email="maria@example.test")
    path = f"/api/v1/conversations/{conv_id}/messages"
    headers = {**bearer(world, "ana"), "Content-Type": "application/json"}
    big = b'{"kind": "note", "text": "' + b"x" * (1024 * 1024) + b'"}'
    declared = await client.post(path, content=big, headers=headers)
    assert declared.status_code == 413
    assert error_of(declared)["message"] == "request body is larger than 1048576 bytes"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while read
        for start in range(0, len(big), 64 * 1024):
            yield big[start : start + 64 * 1024]

    streamed = await client.post(path, content=chunks(), headers=headers)
    assert streamed.status_code == 413
    # Just under the limit is fine (the action then caps the text length itself).
    fits = b'{"kind": "note", "text": "' + b"x" * 90_000 + b'"}'
    assert (await client.post(path, content=fits, headers=headers)).status_code == 201


async def test_empty_body_or_empty_object_is_fine_for_plain_actions(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    conv_id = await new_conversation(rt, world.email_inbox.id, email="maria@example.test")
    path = f"/api/v1/conversations/{conv_id}/claim"
    assert (await client.post(path, headers=bearer(world, "ana"))).status_code == 200
    assert (await client.post(path, json={}, headers=bearer(world, "ana"))).status_code == 200


def _forged(at: str, ident: str) -> str:
    return base64.urlsafe_b64encode(f"{at}|{ident}".encode()).decode().rstrip("=")


async def test_bad_cursors_are_400(client: httpx.AsyncClient, rt: Runtime, world: World) -> None:
    conv_id = await new_conversation(rt, world.email_inbox.id, email="maria@example.test")
    listed = await client.get("/api/v1/conversations", headers=bearer(world, "ana"))
    customer_id = listed.json()["conversations"][0]["customer_id"]
    now = datetime.now(UTC)
    bad = [
        "not-a-cursor!",
        "%%%",
        _forged("yesterday", "1"),
        _forged(now.replace(tzinfo=None).isoformat(), "1"),  # no zone
        _forged(now.isoformat(), "x"),
        # Well-formed but with an id no column can hold: must not reach the driver.
        Cursor(now, 10**30).encode(),
        Cursor(now, -1).encode(),
        # Can't be moved to UTC without leaving the calendar.
        _forged("0001-01-01T00:00:00+05:00", "1"),
        _forged("9999-12-31T23:59:59-05:00", "1"),
    ]
    for value in bad:
        for path, param in (
            ("/api/v1/conversations", "cursor"),
            (f"/api/v1/customers/{customer_id}/timeline", "before"),
        ):
            response = await client.get(path, params={param: value}, headers=bearer(world, "ana"))
            assert response.status_code == 400, (path, value, response.text)
            assert "cursor" in error_of(response)["message"]
    assert conv_id


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"view": "everyone"}, "view"),
        ({"status": "closed"}, "status"),
        ({"inbox_id": "email"}, "inbox_id"),
        ({"sort": "oldest"}, "sort"),
    ],
)
async def test_bad_query_parameters_are_422_naming_them(
    client: httpx.AsyncClient, world: World, params: dict[str, str], field: str
) -> None:
    response = await client.get(
        "/api/v1/conversations", params=params, headers=bearer(world, "ana")
    )
    assert response.status_code == 422
    assert error_of(response)["details"]["errors"][0]["field"] == field


async def test_timeline_limit_is_bounded(client: httpx.AsyncClient, world: World) -> None:
    for limit in ("0", "201"):
        response = await client.get(
            "/api/v1/customers/1/timeline", params={"limit": limit}, headers=bearer(world, "ana")
        )
        assert response.status_code == 422


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/conversations/abc"),
        ("GET", "/api/v1/conversations/-1"),
        ("GET", "/api/v1/conversations/1.5"),
        ("GET", "/api/v1/conversations/99999999999999999999999"),
        ("POST", "/api/v1/conversations/99999999999999999999999/claim"),
        ("POST", "/api/v1/conversations/abc/messages"),
        ("GET", "/api/v1/customers/abc"),
        ("GET", "/api/v1/customers/99999999999999999999999/timeline"),
        ("GET", "/api/v1/nothing-here"),
    ],
)
async def test_bad_path_ids_are_404(
    client: httpx.AsyncClient, world: World, method: str, path: str
) -> None:
    response = await client.request(method, path, json={}, headers=bearer(world, "ana"))
    assert response.status_code == 404
    error_of(response)


async def test_wrong_method_is_405_json(client: httpx.AsyncClient, world: World) -> None:
    response = await client.delete("/api/v1/conversations/1", headers=bearer(world, "ana"))
    assert response.status_code == 405
    error_of(response)


async def test_anonymous_callers_learn_nothing_about_input_rules(
    client: httpx.AsyncClient, world: World
) -> None:
    # Credentials are checked before the body or query is looked at.
    response = await client.get("/api/v1/conversations", params={"limit": "zero"})
    assert response.status_code == 401
    token_only = {"Authorization": "Bearer inb_nope"}
    posted = await client.post(
        "/api/v1/conversations/1/messages", content=b"{not json", headers=token_only
    )
    assert posted.status_code == 401
