"""Concurrent webhook deliveries, stored together (inbox/channels/webhook_batch.py):
each delivery still gets its own answer, after commit, exactly as if it came alone."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from inbox.events import MessageCreated
from inbox.models import ChannelKind, Conversation, Customer, Inbox, Message
from inbox.runtime import Runtime
from tests.conftest import World
from tests.webhook_support import count, make_inbox, stored

SECRET_TOKEN = "tg-batch-secret"


@pytest.fixture
async def telegram_inbox(rt: Runtime, world: World) -> Inbox:
    return await make_inbox(rt, world, ChannelKind.TELEGRAM, {"secret_token": SECRET_TOKEN})


def update(update_id: int, user_id: int, text: str) -> bytes:
    return json.dumps(
        {
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": 1767256200,
                "chat": {"id": user_id, "type": "private"},
                "from": {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"},
                "text": text,
            },
        }
    ).encode()


async def deliver(
    client: httpx.AsyncClient, inbox_id: int, body: bytes, token: str = SECRET_TOKEN
) -> httpx.Response:
    return await client.post(
        f"/webhooks/telegram/{inbox_id}",
        content=body,
        headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": token},
    )


async def test_concurrent_deliveries_are_each_stored_once_and_each_announced(
    client: httpx.AsyncClient, rt: Runtime, telegram_inbox: Inbox
) -> None:
    # Three customers writing at once, several messages each, in no order.
    bodies = [update(500 + n, 9000 + n % 3, f"message {n}") for n in range(12)]
    with rt.hub.subscribe() as sub:
        responses = await asyncio.gather(*(deliver(client, telegram_inbox.id, b) for b in bodies))
        assert [r.status_code for r in responses] == [200] * 12, responses[0].text
        events = [sub.queue.get_nowait() for _ in range(sub.queue.qsize())]
    assert all(r.json()["stored"] == 1 for r in responses)
    ids = [r.json()["message_ids"][0] for r in responses]
    assert len(set(ids)) == 12
    messages = await stored(rt)
    assert sorted(m.id for m in messages) == sorted(ids)
    assert {m.external_id: m.text for m in messages} == {
        str(500 + n): f"message {n}" for n in range(12)
    }
    # One customer and one conversation per Telegram user, however the batch fell.
    assert await count(rt, Customer) == 3
    assert await count(rt, Conversation) == 3
    by_user: dict[int, set[int]] = {}
    for message in messages:
        by_user.setdefault((int(message.external_id or 0) - 500) % 3, set()).add(
            message.conversation_id
        )
    assert all(len(conversations) == 1 for conversations in by_user.values())
    created = [e.event for e in events if isinstance(e.event, MessageCreated)]  # type: ignore[union-attr]
    assert sorted(e.message_id for e in created) == sorted(ids)


async def test_replays_among_concurrent_deliveries_store_nothing_twice(
    client: httpx.AsyncClient, rt: Runtime, telegram_inbox: Inbox
) -> None:
    first = await deliver(client, telegram_inbox.id, update(700, 42, "first"))
    assert first.status_code == 200
    original = first.json()["message_ids"][0]
    # The provider retries the first update (twice) while new ones arrive,
    # and one new update is itself delivered twice at once.
    bodies = [update(700, 42, "first"), update(701, 42, "second"), update(700, 42, "first")]
    bodies += [update(702, 43, "hello"), update(702, 43, "hello")]
    responses = await asyncio.gather(*(deliver(client, telegram_inbox.id, b) for b in bodies))
    assert [r.status_code for r in responses] == [200] * 5
    answers = [r.json() for r in responses]
    assert answers[0] == answers[2] == {"stored": 0, "duplicates": 1, "message_ids": [original]}
    assert answers[1]["stored"] == 1
    assert sorted(a["stored"] for a in answers[3:]) == [0, 1]
    assert answers[3]["message_ids"] == answers[4]["message_ids"]
    assert await count(rt, Message) == 3


async def test_a_refused_delivery_among_concurrent_ones_is_refused_alone(
    client: httpx.AsyncClient, rt: Runtime, telegram_inbox: Inbox
) -> None:
    bodies = [update(800 + n, 77, f"m{n}") for n in range(4)]
    sends = [deliver(client, telegram_inbox.id, b) for b in bodies]
    sends.insert(2, deliver(client, telegram_inbox.id, update(899, 77, "forged"), token="wrong"))
    sends.insert(3, deliver(client, telegram_inbox.id, b'{"update_id": -1}'))
    responses = await asyncio.gather(*sends)
    assert [r.status_code for r in responses] == [200, 200, 401, 422, 200, 200]
    assert sorted(m.external_id or "" for m in await stored(rt)) == ["800", "801", "802", "803"]
