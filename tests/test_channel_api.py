"""The API channel's webhook: saved payloads replayed through the real endpoint.

Requests are signed with the snippet docs/api-channel.md gives integrators,
executed from the document itself, so the documentation can't drift from
what the server checks.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from inbox.actions.inboxes import do_create_inbox
from inbox.models import (
    ChannelKind,
    Conversation,
    Customer,
    Identity,
    IdentityKind,
    Inbox,
    Message,
    OutboxEvent,
)
from inbox.runtime import Runtime
from tests.conftest import World, login
from tests.helpers import captured_events

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "api_channel"
SECRET = "whsec_test_4f9a1c2e7b"

Signer = Callable[..., dict[str, str]]


def _documented_signer() -> Signer:
    doc = (ROOT / "docs" / "api-channel.md").read_text()
    source = doc.split("```python", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(source, namespace)
    sign: Signer = namespace["sign"]
    return sign


sign = _documented_signer()


def fixture(name: str) -> bytes:
    """A saved payload's exact bytes: the signature covers them as they are."""
    return (FIXTURES / f"{name}.json").read_bytes()


@pytest.fixture
async def api_inbox(rt: Runtime, world: World) -> Inbox:
    return await do_create_inbox(
        rt,
        None,
        name="App messages",
        channel=ChannelKind.API,
        team_ids=[world.support.id],  # type: ignore[attr-defined]
        secrets={"signing_secret": SECRET},
    )


async def deliver(
    client: httpx.AsyncClient,
    inbox_id: int,
    body: bytes,
    *,
    secret: str = SECRET,
    timestamp: int | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    signed = sign(secret, body, timestamp)
    return await client.post(
        f"/webhooks/api/{inbox_id}",
        content=body,
        headers={"Content-Type": "application/json", **signed, **(headers or {})},
    )


async def counts(rt: Runtime) -> dict[str, int]:
    async with rt.read_sessions() as db:
        return {
            model.__name__: int(await db.scalar(select(func.count()).select_from(model)) or 0)
            for model in (Message, Conversation, Customer, Identity, OutboxEvent)
        }


async def test_a_full_payload_is_stored_with_its_identities_in_order(
    client: httpx.AsyncClient, rt: Runtime, world: World, api_inbox: Inbox
) -> None:
    with captured_events(rt) as events:
        response = await deliver(client, api_inbox.id, fixture("full_message"))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["duplicate"] is False
    async with rt.read_sessions() as db:
        message = await db.get(Message, answer["message_id"])
        assert message is not None
        assert message.conversation_id == answer["conversation_id"]
        assert message.external_id == "msg_01HZX3K9Q2"
        assert message.inbox_id == api_inbox.id
        assert message.text == "My order #1042 has not arrived."
        assert message.html is not None and "<b>#1042</b>" in message.html
        assert "script" not in message.html
        assert message.received_at is not None
        assert message.received_at.isoformat() == "2026-01-01T08:30:00+00:00"
        conv = await db.get(Conversation, message.conversation_id)
        assert conv is not None and conv.subject == "Order #1042"
        customer = await db.get(Customer, message.customer_id)
        assert customer is not None and customer.name == "Maria Lopez"
        identities = (
            await db.scalars(
                select(Identity).where(Identity.customer_id == customer.id).order_by(Identity.id)
            )
        ).all()
    assert [(i.kind, i.value) for i in identities] == [
        (IdentityKind.API, "user-8812"),
        (IdentityKind.EMAIL, "maria.lopez@example.com"),
        (IdentityKind.PHONE, "+34612345678"),
    ]
    assert [e.event.type for e in events] == ["conversation.created", "message.created"]
    support = {world.admin, world.lead, world.ana, world.ben}
    assert events[-1].audience.agent_ids == {a.id for a in support}  # type: ignore[attr-defined]


async def test_a_followup_by_sender_id_joins_the_same_conversation(
    client: httpx.AsyncClient, rt: Runtime, api_inbox: Inbox
) -> None:
    first = (await deliver(client, api_inbox.id, fixture("full_message"))).json()
    second = await deliver(client, api_inbox.id, fixture("followup_message"))
    assert second.status_code == 200, second.text
    assert second.json()["conversation_id"] == first["conversation_id"]
    assert second.json()["message_id"] != first["message_id"]
    minimal = await deliver(client, api_inbox.id, fixture("minimal_message"))
    assert minimal.status_code == 200, minimal.text
    assert minimal.json()["conversation_id"] != first["conversation_id"]
    assert (await counts(rt))["Customer"] == 2


async def test_a_redelivery_stores_nothing_new(
    client: httpx.AsyncClient, rt: Runtime, api_inbox: Inbox
) -> None:
    first = await deliver(client, api_inbox.id, fixture("full_message"))
    before = await counts(rt)
    with captured_events(rt) as events:
        again = await deliver(client, api_inbox.id, fixture("full_message"))
    assert again.status_code == 200
    assert again.json() == {**first.json(), "duplicate": True}
    assert await counts(rt) == before
    assert events == []


async def test_concurrent_replays_of_one_message_store_exactly_one(
    client: httpx.AsyncClient, rt: Runtime, api_inbox: Inbox
) -> None:
    body = fixture("full_message")
    with captured_events(rt) as events:
        responses = await asyncio.gather(*(deliver(client, api_inbox.id, body) for _ in range(10)))
    assert [r.status_code for r in responses] == [200] * 10
    answers = [r.json() for r in responses]
    assert sorted(a["duplicate"] for a in answers) == [False] + [True] * 9
    assert len({(a["message_id"], a["conversation_id"]) for a in answers}) == 1
    stored = await counts(rt)
    assert (stored["Message"], stored["Conversation"], stored["Customer"]) == (1, 1, 1)
    assert [e.event.type for e in events].count("message.created") == 1


def burst(sender_id: str, n: int) -> list[bytes]:
    """n different messages from one sender, none of them stored yet."""
    return [
        json.dumps(
            {"message_id": f"burst-{i}", "sender": {"id": sender_id}, "text": f"#{i}"}
        ).encode()
        for i in range(n)
    ]


async def test_concurrent_first_messages_from_one_new_sender_all_land(
    client: httpx.AsyncClient, rt: Runtime, api_inbox: Inbox
) -> None:
    # On PostgreSQL they collide on the sender's new identity row; the
    # webhook retries ingest (idempotent), so none of them is lost or a 500.
    bodies = burst("u-1", 10)
    responses = await asyncio.gather(*(deliver(client, api_inbox.id, b) for b in bodies))
    assert [r.status_code for r in responses] == [200] * 10, [r.text for r in responses]
    assert not any(r.json()["duplicate"] for r in responses)
    stored = await counts(rt)
    assert (stored["Message"], stored["Identity"]) == (10, 1)


async def test_concurrent_first_messages_from_one_new_sender_make_one_customer(
    client: httpx.AsyncClient, rt: Runtime, api_inbox: Inbox
) -> None:
    bodies = burst("u-2", 10)
    await asyncio.gather(*(deliver(client, api_inbox.id, b) for b in bodies))
    assert (await counts(rt))["Customer"] == 1


async def test_a_bad_signature_is_401_and_stores_nothing(
    client: httpx.AsyncClient, rt: Runtime, api_inbox: Inbox
) -> None:
    body = fixture("full_message")
    before = await counts(rt)
    url = f"/webhooks/api/{api_inbox.id}"
    forged = [
        await deliver(client, api_inbox.id, body, secret="not-the-secret"),
        # Signed for one body, sent with another.
        await client.post(url, content=body.replace(b"1042", b"1043"), headers=sign(SECRET, body)),
        # Re-serialised after signing: same JSON, different bytes.
        await client.post(
            url, content=json.dumps(json.loads(body)).encode(), headers=sign(SECRET, body)
        ),
        await client.post(url, content=body),
        await client.post(url, content=body, headers={"X-Inbox-Timestamp": str(int(time.time()))}),
        await deliver(client, api_inbox.id, body, headers={"X-Inbox-Signature": "sha256=00"}),
        await deliver(client, api_inbox.id, body, headers={"X-Inbox-Timestamp": "soon"}),
    ]
    assert [r.status_code for r in forged] == [401] * len(forged)
    assert all(r.json()["error"]["status"] == 401 for r in forged)
    # Bad JSON behind a bad signature is still only a bad signature.
    assert (await deliver(client, api_inbox.id, b"{nope", secret="x")).status_code == 401
    assert await counts(rt) == before


async def test_a_stale_or_future_timestamp_is_refused(
    client: httpx.AsyncClient, rt: Runtime, api_inbox: Inbox
) -> None:
    body = fixture("minimal_message")
    now = int(time.time())
    # 302, not 301: `now` is truncated, so the server's clock may already be up
    # to a second further on, which would bring +301 back inside the window.
    for off in (-301, 302, -86_400):
        response = await deliver(client, api_inbox.id, body, timestamp=now + off)
        assert response.status_code == 401, off
        assert "window" in response.json()["error"]["message"]
    assert (await counts(rt))["Message"] == 0
    inside = await deliver(client, api_inbox.id, body, timestamp=now - 240)
    assert inside.status_code == 200, inside.text


async def test_an_inbox_of_another_kind_or_none_at_all_is_404(
    client: httpx.AsyncClient, rt: Runtime, world: World, api_inbox: Inbox
) -> None:
    body = fixture("minimal_message")
    email_inbox: Inbox = world.email_inbox  # type: ignore[assignment]
    no_secret = await do_create_inbox(rt, None, name="Unsigned", channel=ChannelKind.API)
    for inbox_id in (email_inbox.id, no_secret.id, 999_999, "abc", "1e3", 2**40):
        response = await client.post(
            f"/webhooks/api/{inbox_id}", content=body, headers=sign(SECRET, body)
        )
        assert response.status_code == 404, inbox_id
        assert response.json()["error"]["message"] == "no API inbox with this id"
    assert (await counts(rt))["Message"] == 0


async def test_malformed_json_is_400(
    client: httpx.AsyncClient, rt: Runtime, api_inbox: Inbox
) -> None:
    for body in (
        b"{not json",
        b"",
        b'{"message_id": NaN}',
        b"\xff\xfe{}",
        b"[" * 100_000,
        b'{"message_id": "x", "sender": {"id": "u"}, "text": "\\ud800"}',
    ):
        response = await deliver(client, api_inbox.id, body)
        assert response.status_code == 400, (body[:20], response.text)
        assert "not valid JSON" in response.json()["error"]["message"]
    assert (await counts(rt))["Message"] == 0


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("unknown_fields", "sender.nickname"),
        ("wrong_types", "message_id"),
        ("bad_email", "sender.email"),
    ],
)
async def test_schema_errors_are_422_and_name_the_field(
    client: httpx.AsyncClient, rt: Runtime, api_inbox: Inbox, name: str, field: str
) -> None:
    response = await deliver(client, api_inbox.id, fixture(name))
    assert response.status_code == 422, response.text
    fields = [e["field"] for e in response.json()["error"]["details"]["errors"]]
    assert field in fields
    if name == "unknown_fields":
        assert fields == ["sender.nickname", "priority"]
    assert (await counts(rt))["Message"] == 0


@pytest.mark.parametrize(
    "payload",
    [
        [],
        {"message_id": "m", "sender": {"id": "u"}},
        {"message_id": "m", "sender": {"id": "u"}, "text": "   "},
        {"message_id": "", "sender": {"id": "u"}, "text": "x"},
        {"message_id": "m", "sender": {"id": "u", "phone": "12"}, "text": "x"},
        {"message_id": "m", "sender": {"id": "u"}, "text": "x", "sent_at": "2026-01-01T09:00"},
        {"message_id": "m", "sender": {"id": "u"}, "text": "x", "sent_at": "yesterday"},
        {"message_id": "m", "sender": "u", "text": "x"},
    ],
)
async def test_other_invalid_bodies_are_422(
    client: httpx.AsyncClient, rt: Runtime, api_inbox: Inbox, payload: Any
) -> None:
    response = await deliver(client, api_inbox.id, json.dumps(payload).encode())
    assert response.status_code == 422, response.text
    assert (await counts(rt))["Message"] == 0


async def test_blank_optional_identities_count_as_absent(
    client: httpx.AsyncClient, rt: Runtime, api_inbox: Inbox
) -> None:
    body = {"message_id": "m", "sender": {"id": "u", "email": "", "phone": " "}, "text": "x"}
    response = await deliver(client, api_inbox.id, json.dumps(body).encode())
    assert response.status_code == 200, response.text
    assert (await counts(rt))["Identity"] == 1


async def test_a_body_over_one_mebibyte_is_413(
    client: httpx.AsyncClient, rt: Runtime, api_inbox: Inbox
) -> None:
    text = "x" * (1024 * 1024)
    body = json.dumps({"message_id": "big", "sender": {"id": "u"}, "text": text}).encode()
    response = await deliver(client, api_inbox.id, body)
    assert response.status_code == 413
    # Without a Content-Length the limit holds while streaming.

    async def chunks() -> Any:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    streamed = await client.post(
        f"/webhooks/api/{api_inbox.id}", content=chunks(), headers=sign(SECRET, body)
    )
    assert streamed.status_code == 413
    assert (await counts(rt))["Message"] == 0


async def test_a_session_cookie_neither_helps_nor_is_needed(
    client: httpx.AsyncClient, rt: Runtime, api_inbox: Inbox
) -> None:
    """The route is exempt from CSRF because the signature, not a cookie, authenticates it."""
    await login(client, "admin@example.test")
    url = f"/webhooks/api/{api_inbox.id}"
    unsigned = await client.post(url, content=fixture("minimal_message"))
    assert unsigned.status_code == 401
    signed = await deliver(client, api_inbox.id, fixture("minimal_message"))
    assert signed.status_code == 200, signed.text


async def test_only_post_is_routed(client: httpx.AsyncClient, api_inbox: Inbox) -> None:
    assert (await client.get(f"/webhooks/api/{api_inbox.id}")).status_code == 405
