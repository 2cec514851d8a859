"""Telegram Bot API updates, saved in the documented format, replayed through the real endpoint."""

from __future__ import annotations

import json

import httpx
import pytest

from inbox.models import ChannelKind, Inbox, Message
from inbox.runtime import Runtime
from tests.conftest import World
from tests.webhook_support import (
    count,
    fixture,
    make_inbox,
    replayed_concurrently,
    sender_of,
    stored,
)

SECRET_TOKEN = "tg-secret_9Qw3-xZ"


@pytest.fixture
async def telegram_inbox(rt: Runtime, world: World) -> Inbox:
    return await make_inbox(
        rt,
        world,
        ChannelKind.TELEGRAM,
        {"bot_token": "7000000001:AAH-test-token", "secret_token": SECRET_TOKEN},
    )


async def deliver(
    client: httpx.AsyncClient, inbox_id: int, body: bytes, token: str | None = SECRET_TOKEN
) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = token
    return await client.post(f"/webhooks/telegram/{inbox_id}", content=body, headers=headers)


async def test_a_text_message_is_stored_with_the_telegram_user(
    client: httpx.AsyncClient, rt: Runtime, telegram_inbox: Inbox
) -> None:
    response = await deliver(client, telegram_inbox.id, fixture("telegram", "text_message.json"))
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == 1
    [message] = await stored(rt)
    assert message.inbox_id == telegram_inbox.id
    assert message.external_id == "871234001"
    assert message.text == "Hola! My order #1042 has not arrived."
    assert message.received_at is not None
    assert message.received_at.isoformat() == "2026-01-01T08:30:00+00:00"
    assert await sender_of(rt, message) == ("Maria Lopez", [("telegram", "123456789")])


async def test_media_says_what_was_sent_and_a_caption_is_the_text(
    client: httpx.AsyncClient, rt: Runtime, telegram_inbox: Inbox
) -> None:
    for name in ("text_message.json", "photo_message.json", "captioned_document.json"):
        response = await deliver(client, telegram_inbox.id, fixture("telegram", name))
        assert response.status_code == 200, response.text
    messages = await stored(rt)
    assert [m.text for m in messages] == [
        "Hola! My order #1042 has not arrived.",
        "[photo]",
        "Here is the receipt",
    ]
    assert len({m.conversation_id for m in messages}) == 1
    assert await count(rt, Message) == 3


@pytest.mark.parametrize("name", ["edited_message.json", "my_chat_member.json"])
async def test_updates_without_a_customer_message_are_acknowledged_and_store_nothing(
    client: httpx.AsyncClient, rt: Runtime, telegram_inbox: Inbox, name: str
) -> None:
    response = await deliver(client, telegram_inbox.id, fixture("telegram", name))
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == 0
    assert await stored(rt) == []


async def test_a_missing_or_wrong_secret_token_is_401_and_stores_nothing(
    client: httpx.AsyncClient, rt: Runtime, telegram_inbox: Inbox
) -> None:
    body = fixture("telegram", "text_message.json")
    for token in (None, "", "wrong", SECRET_TOKEN[:-1], SECRET_TOKEN + "x"):
        response = await deliver(client, telegram_inbox.id, body, token=token)
        assert response.status_code == 401, token
        assert "Secret-Token" in response.json()["error"]["message"]
    # A broken body behind a wrong token is still only a wrong token.
    assert (await deliver(client, telegram_inbox.id, b"{nope", token="x")).status_code == 401
    assert await stored(rt) == []


async def test_a_redelivered_update_stores_nothing_new(
    client: httpx.AsyncClient, rt: Runtime, telegram_inbox: Inbox
) -> None:
    body = fixture("telegram", "text_message.json")
    first = await deliver(client, telegram_inbox.id, body)
    again = await deliver(client, telegram_inbox.id, body)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json()["stored"] == 0 and again.json()["duplicates"] == 1
    assert again.json()["message_ids"] == first.json()["message_ids"]
    assert await count(rt, Message) == 1


async def test_concurrent_replays_leave_exactly_one_message(
    client: httpx.AsyncClient, rt: Runtime, telegram_inbox: Inbox
) -> None:
    body = fixture("telegram", "text_message.json")
    responses = await replayed_concurrently(lambda: deliver(client, telegram_inbox.id, body))
    assert [r.status_code for r in responses] == [200] * 5
    assert sorted(r.json()["stored"] for r in responses) == [0, 0, 0, 0, 1]
    assert await count(rt, Message) == 1


async def test_malformed_bodies_are_400_or_422_with_a_reason(
    client: httpx.AsyncClient, rt: Runtime, telegram_inbox: Inbox
) -> None:
    bad_json = await deliver(client, telegram_inbox.id, b"{not json")
    assert bad_json.status_code == 400
    assert "not valid JSON" in bad_json.json()["error"]["message"]
    update = json.loads(fixture("telegram", "text_message.json"))
    for broken, field in (
        ({k: v for k, v in update.items() if k != "update_id"}, "update_id"),
        ({**update, "update_id": "soon"}, "update_id"),
        ({**update, "message": {**update["message"], "date": None}}, "message.date"),
        ([], "body"),
    ):
        response = await deliver(client, telegram_inbox.id, json.dumps(broken).encode())
        assert response.status_code == 422, response.text
        assert field in response.json()["error"]["message"]
    assert await stored(rt) == []


async def test_an_inbox_of_another_kind_is_404(
    client: httpx.AsyncClient, rt: Runtime, world: World, telegram_inbox: Inbox
) -> None:
    body = fixture("telegram", "text_message.json")
    email_inbox: Inbox = world.email_inbox  # type: ignore[assignment]
    for inbox_id in (email_inbox.id, 999_999, "abc"):
        response = await deliver(client, inbox_id, body)  # type: ignore[arg-type]
        assert response.status_code == 404
        assert response.json()["error"]["message"] == "no Telegram inbox with this id"
    assert await stored(rt) == []


async def _change_inbox(rt: Runtime, inbox_id: int, **values: object) -> None:
    # As an admin (or another server process) would: the row alone changes.
    async with rt.write_sessions() as session, session.begin():
        inbox = await session.get(Inbox, inbox_id)
        assert inbox is not None
        for name, value in values.items():
            setattr(inbox, name, value)


async def test_a_deactivated_inbox_refuses_the_next_delivery_at_once(
    client: httpx.AsyncClient, rt: Runtime, telegram_inbox: Inbox
) -> None:
    first = json.loads(fixture("telegram", "text_message.json"))
    assert (await deliver(client, telegram_inbox.id, json.dumps(first).encode())).status_code == 200
    await _change_inbox(rt, telegram_inbox.id, is_active=False)
    later = {**first, "update_id": first["update_id"] + 1}
    later["message"] = {**first["message"], "message_id": first["message"]["message_id"] + 1}
    response = await deliver(client, telegram_inbox.id, json.dumps(later).encode())
    assert response.status_code == 404
    assert await count(rt, Message) == 1


async def test_a_rotated_secret_token_takes_effect_at_once(
    client: httpx.AsyncClient, rt: Runtime, telegram_inbox: Inbox
) -> None:
    first = json.loads(fixture("telegram", "text_message.json"))
    assert (await deliver(client, telegram_inbox.id, json.dumps(first).encode())).status_code == 200
    rotated = "tg-rotated_7Kp2"
    await _change_inbox(
        rt,
        telegram_inbox.id,
        secrets={"bot_token": "7000000001:AAH-test-token", "secret_token": rotated},
    )
    later = {**first, "update_id": first["update_id"] + 1}
    later["message"] = {**first["message"], "message_id": first["message"]["message_id"] + 1}
    body = json.dumps(later).encode()
    old = await deliver(client, telegram_inbox.id, body)
    assert old.status_code == 401
    assert await count(rt, Message) == 1
    new = await deliver(client, telegram_inbox.id, body, token=rotated)
    assert new.status_code == 200, new.text
    assert new.json()["stored"] == 1
    assert await count(rt, Message) == 2
