"""Meta's webhooks (WhatsApp Cloud API, Messenger, Instagram): saved payloads in
Meta's documented format, signed as Meta signs them, through the real endpoints."""

from __future__ import annotations

import hashlib
import hmac
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

APP_SECRET = "3f8d1c0b9a7e6d5c4b3a29180f7e6d5c"
VERIFY_TOKEN = "verify-me-7d1f"
CHANNELS = [ChannelKind.WHATSAPP, ChannelKind.MESSENGER, ChannelKind.INSTAGRAM]


def meta_signature(secret: str, body: bytes) -> str:
    """Meta's published scheme: HMAC-SHA256 of the raw payload, hex, after `sha256=`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture
async def inboxes(rt: Runtime, world: World) -> dict[ChannelKind, Inbox]:
    secrets = {"app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN, "access_token": "EAAG-x"}
    return {kind: await make_inbox(rt, world, kind, secrets) for kind in CHANNELS}


async def deliver(
    client: httpx.AsyncClient,
    inbox: Inbox,
    body: bytes,
    *,
    secret: str = APP_SECRET,
    signature: str | None = None,
) -> httpx.Response:
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": meta_signature(secret, body) if signature is None else signature,
    }
    return await client.post(
        f"/webhooks/{inbox.channel.value}/{inbox.id}", content=body, headers=headers
    )


async def deliver_fixtures(
    client: httpx.AsyncClient, rt: Runtime, inbox: Inbox, *names: str
) -> list[Message]:
    """Each saved payload of the inbox's channel, in order; every message stored."""
    for name in names:
        response = await deliver(client, inbox, fixture(inbox.channel.value, name))
        assert response.status_code == 200, response.text
    return await stored(rt)


async def test_a_whatsapp_text_is_stored_under_the_senders_number_and_name(
    client: httpx.AsyncClient, rt: Runtime, inboxes: dict[ChannelKind, Inbox]
) -> None:
    inbox = inboxes[ChannelKind.WHATSAPP]
    response = await deliver(client, inbox, fixture("whatsapp", "text_message.json"))
    assert response.status_code == 200, response.text
    [message] = await stored(rt)
    assert message.inbox_id == inbox.id
    assert message.external_id == "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
    assert message.text == "Does it come in another color? ¿Y en azul?"
    assert await sender_of(rt, message) == ("Sheena Nelson", [("whatsapp", "+16505551234")])


async def test_every_message_of_every_entry_is_stored(
    client: httpx.AsyncClient, rt: Runtime, inboxes: dict[ChannelKind, Inbox]
) -> None:
    inbox = inboxes[ChannelKind.WHATSAPP]
    response = await deliver(client, inbox, fixture("whatsapp", "two_entries.json"))
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == 3
    messages = await stored(rt)
    assert [m.text for m in messages] == ["[image]", "the invoice", "Track my order"]
    assert (await sender_of(rt, messages[2]))[1] == [("whatsapp", "+447700900123")]
    assert messages[0].customer_id == messages[1].customer_id != messages[2].customer_id


async def test_a_statuses_only_payload_stores_nothing(
    client: httpx.AsyncClient, rt: Runtime, inboxes: dict[ChannelKind, Inbox]
) -> None:
    response = await deliver(
        client, inboxes[ChannelKind.WHATSAPP], fixture("whatsapp", "status_only.json")
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"stored": 0, "duplicates": 0, "message_ids": []}
    assert await stored(rt) == []


async def test_messenger_stores_customer_messages_and_skips_echoes_and_receipts(
    client: httpx.AsyncClient, rt: Runtime, inboxes: dict[ChannelKind, Inbox]
) -> None:
    messages = await deliver_fixtures(
        client, rt, inboxes[ChannelKind.MESSENGER], "text_message.json", "batched.json"
    )
    assert [m.text for m in messages] == [
        "Hi, can I change my delivery address?",
        "[image]",
        "Are you open on Sunday?",
    ]
    assert "m_echo0001" not in {m.external_id for m in messages}
    assert (await sender_of(rt, messages[0]))[1] == [("messenger", "6543210987654321")]
    assert messages[0].conversation_id == messages[1].conversation_id
    assert (await sender_of(rt, messages[2]))[1] == [("messenger", "7777000011112222")]


async def test_instagram_stores_the_igsid_and_says_what_an_attachment_was(
    client: httpx.AsyncClient, rt: Runtime, inboxes: dict[ChannelKind, Inbox]
) -> None:
    messages = await deliver_fixtures(
        client, rt, inboxes[ChannelKind.INSTAGRAM], "text_message.json", "story_mention.json"
    )
    assert [m.text for m in messages] == [
        "Is the red jacket still available in M?",
        "[story_mention]",
    ]
    assert (await sender_of(rt, messages[0]))[1] == [("instagram", "1234567890123456")]
    assert messages[0].received_at is not None
    assert messages[0].received_at.isoformat() == "2026-01-01T08:30:00+00:00"


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        (ChannelKind.WHATSAPP, "text_message.json"),
        (ChannelKind.MESSENGER, "text_message.json"),
        (ChannelKind.INSTAGRAM, "text_message.json"),
    ],
)
async def test_a_bad_or_missing_signature_is_401_and_stores_nothing(
    client: httpx.AsyncClient,
    rt: Runtime,
    inboxes: dict[ChannelKind, Inbox],
    kind: ChannelKind,
    name: str,
) -> None:
    inbox = inboxes[kind]
    body = fixture(kind.value, name)
    signed = meta_signature(APP_SECRET, body)
    # The same JSON, re-serialised: Meta signs its bytes, so this must not pass.
    reserialised = json.dumps(json.loads(body)).encode()
    assert reserialised != body
    refused = [
        await deliver(client, inbox, body, secret="not-the-app-secret"),
        await deliver(client, inbox, body, signature=""),
        await deliver(client, inbox, body, signature=signed.removeprefix("sha256=")),
        await deliver(client, inbox, body, signature="sha1=" + signed[7:]),
        await deliver(client, inbox, body.replace(b"?", b"!"), signature=signed),
        await deliver(client, inbox, reserialised, signature=signed),
        await deliver(client, inbox, b"{nope", secret="x"),
    ]
    assert [r.status_code for r in refused] == [401] * len(refused)
    assert await stored(rt) == []
    accepted = await deliver(
        client, inbox, body, signature=signed.upper().replace("SHA256=", "sha256=")
    )
    assert accepted.status_code == 200, accepted.text


async def test_concurrent_replays_of_a_batch_store_each_message_once(
    client: httpx.AsyncClient, rt: Runtime, inboxes: dict[ChannelKind, Inbox]
) -> None:
    inbox = inboxes[ChannelKind.WHATSAPP]
    body = fixture("whatsapp", "two_entries.json")
    responses = await replayed_concurrently(lambda: deliver(client, inbox, body))
    assert [r.status_code for r in responses] == [200] * 5, [r.text for r in responses]
    assert sum(r.json()["stored"] for r in responses) == 3
    assert await count(rt, Message) == 3
    again = await deliver(client, inbox, body)
    assert again.json()["stored"] == 0 and again.json()["duplicates"] == 3
    assert await count(rt, Message) == 3


@pytest.mark.parametrize("kind", CHANNELS)
async def test_the_verification_get_echoes_the_challenge_only_for_our_token(
    client: httpx.AsyncClient, inboxes: dict[ChannelKind, Inbox], kind: ChannelKind
) -> None:
    url = f"/webhooks/{kind.value}/{inboxes[kind].id}"
    ok = await client.get(
        url,
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": VERIFY_TOKEN,
            "hub.challenge": "1158201444",
        },
    )
    assert ok.status_code == 200
    assert ok.text == "1158201444"
    assert ok.headers["content-type"].startswith("text/plain")
    for params in (
        {"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
        {},
    ):
        refused = await client.get(url, params=params)
        assert refused.status_code == 403, params
        assert refused.text != "1"


async def test_a_payload_for_another_product_or_shape_is_422(
    client: httpx.AsyncClient, rt: Runtime, inboxes: dict[ChannelKind, Inbox]
) -> None:
    messenger_body = fixture("messenger", "text_message.json")
    wrong_product = await deliver(client, inboxes[ChannelKind.INSTAGRAM], messenger_body)
    assert wrong_product.status_code == 422
    assert wrong_product.json()["error"]["message"].startswith("object:")
    no_entries = await deliver(
        client, inboxes[ChannelKind.WHATSAPP], b'{"object": "whatsapp_business_account"}'
    )
    assert no_entries.status_code == 422
    assert "entry" in no_entries.json()["error"]["message"]
    bad_number = json.loads(fixture("whatsapp", "text_message.json"))
    bad_number["entry"][0]["changes"][0]["value"]["messages"][0]["from"] = "12"
    response = await deliver(client, inboxes[ChannelKind.WHATSAPP], json.dumps(bad_number).encode())
    assert response.status_code == 422
    assert "messages.0.from" in response.json()["error"]["message"]
    bad_json = await deliver(client, inboxes[ChannelKind.MESSENGER], b"[1,")
    assert bad_json.status_code == 400
    assert await stored(rt) == []


async def test_an_inbox_of_another_channel_is_404(
    client: httpx.AsyncClient, rt: Runtime, inboxes: dict[ChannelKind, Inbox]
) -> None:
    body = fixture("messenger", "text_message.json")
    instagram = inboxes[ChannelKind.INSTAGRAM]
    response = await client.post(
        f"/webhooks/messenger/{instagram.id}",
        content=body,
        headers={"X-Hub-Signature-256": meta_signature(APP_SECRET, body)},
    )
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "no Messenger inbox with this id"
    assert await stored(rt) == []
