"""Replies in messaging inboxes go out through each provider's real HTTP API
(a stand-in on loopback that speaks its format), from a durable queue that
retries what may work later and fails, with the provider's reason, what won't."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from datetime import timedelta
from urllib.parse import parse_qs

import httpx
import pytest

from inbox.channels.api import signing
from inbox.config import Settings
from inbox.models import ChannelKind, Delivery, utcnow
from inbox.runtime import Runtime
from inbox.worker import run_worker
from tests.conftest import World, login
from tests.helpers import captured_events
from tests.provider_standin import Answer, StandIn
from tests.provider_support import (
    ACCESS_TOKEN,
    ACCOUNT_SID,
    AUTH_TOKEN,
    BOT_TOKEN,
    PHONE_NUMBER_ID,
    SECRETS,
    SIGNING_SECRET,
    customer_writes,
    message,
    messaging_inbox,
    queued_row,
    replied,
    reply,
    send_pass,
    standin,
    state,
    time_passes,
    with_settings,
)

__all__ = ["standin"]  # the fixture, imported for pytest


async def test_telegram_sends_with_the_bot_api_and_keeps_the_chat_and_message_id(
    rt: Runtime, world: World, standin: StandIn
) -> None:
    inbox, sent = await replied(rt, world, standin, ChannelKind.TELEGRAM, "Your parcel left today.")
    assert await state(rt, sent.id) == (Delivery.QUEUED, None)
    with captured_events(rt) as events:
        assert await send_pass(rt, inbox) == 1
    [request] = standin.seen
    assert (request.method, request.path) == ("POST", f"/bot{BOT_TOKEN}/sendMessage")
    assert request.json() == {"chat_id": "123456789", "text": "Your parcel left today."}
    stored = await message(rt, sent.id)
    # Accepted means sent: Telegram has no receipts. Ids are per chat, so both are kept.
    assert (stored.delivery, stored.external_id) == (Delivery.SENT, "123456789:4001")
    assert [(p.event.type, p.event.delivery) for p in events] == [  # type: ignore[attr-defined]
        ("message.delivery_changed", "sent")
    ]
    assert await send_pass(rt, inbox) == 0 and len(standin.seen) == 1


async def test_whatsapp_sends_a_text_with_the_cloud_api(
    rt: Runtime, world: World, standin: StandIn
) -> None:
    inbox, sent = await replied(rt, world, standin, ChannelKind.WHATSAPP, "It ships today.")
    assert await send_pass(rt, inbox) == 1
    [request] = standin.seen
    assert request.path == f"/v21.0/{PHONE_NUMBER_ID}/messages"
    assert request.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert request.query == ""  # the token never rides in the URL
    assert request.json() == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "16505551234",
        "type": "text",
        "text": {"preview_url": False, "body": "It ships today."},
    }
    stored = await message(rt, sent.id)
    assert stored.delivery is Delivery.SENT
    assert stored.external_id == "wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI0001"


@pytest.mark.parametrize("channel", [ChannelKind.MESSENGER, ChannelKind.INSTAGRAM])
async def test_messenger_and_instagram_send_with_the_send_api(
    rt: Runtime, world: World, standin: StandIn, channel: ChannelKind
) -> None:
    inbox, sent = await replied(rt, world, standin, channel, "We are on it.")
    assert await send_pass(rt, inbox) == 1
    [request] = standin.seen
    assert request.path == "/v21.0/me/messages"
    assert request.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"
    recipient = "6543210987654321" if channel is ChannelKind.MESSENGER else "17841400000000001"
    assert request.json() == {
        "recipient": {"id": recipient},
        "messaging_type": "RESPONSE",
        "message": {"text": "We are on it."},
    }
    stored = await message(rt, sent.id)
    assert (stored.delivery, stored.external_id) == (
        Delivery.SENT,
        "m_sent0001AbCdEfGhIjKlMnOpQrStUvWxYz",
    )


async def test_twilio_sends_an_sms_with_basic_auth_and_a_status_callback(
    rt: Runtime, world: World, standin: StandIn
) -> None:
    with_settings(rt, public_url="https://inbox.example.com")
    inbox, sent = await replied(
        rt, world, standin, ChannelKind.SMS, "Order #1042 ships today ¡hoy!"
    )
    assert await send_pass(rt, inbox) == 1
    [request] = standin.seen
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    expected = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {expected}"
    assert parse_qs(request.body.decode()) == {
        "To": ["+14155550123"],
        "From": ["+14155550100"],
        "Body": ["Order #1042 ships today ¡hoy!"],
        "StatusCallback": [f"https://inbox.example.com/webhooks/sms/{inbox.id}/status"],
    }
    stored = await message(rt, sent.id)
    assert stored.delivery is Delivery.SENT
    assert stored.external_id is not None and stored.external_id.startswith("SM")


async def test_the_api_channel_posts_a_reply_its_integration_verifies_with_the_same_code(
    rt: Runtime, world: World, standin: StandIn
) -> None:
    # The SSRF guard lets only this exact stand-in through on loopback.
    with_settings(rt, fetch_allow_hosts=(standin.base_url.removeprefix("http://"),))
    inbox, sent = await replied(rt, world, standin, ChannelKind.API, "Thanks — refunded.")
    assert await send_pass(rt, inbox) == 1
    [request] = standin.seen
    assert request.path == "/hook"
    # Exactly what inbound requests are checked with.
    assert (
        signing.check(
            SIGNING_SECRET,
            request.headers["x-inbox-timestamp"],
            request.headers["x-inbox-signature"],
            request.body,
            time.time(),
        )
        is None
    )
    assert signing.check(
        "another secret",
        request.headers["x-inbox-timestamp"],
        request.headers["x-inbox-signature"],
        request.body,
        time.time(),
    )
    assert request.json() == {
        "event": "message.reply",
        "id": str(sent.id),
        "conversation_id": sent.conversation_id,
        "recipient": {"id": "user-8812"},
        "text": "Thanks — refunded.",
    }
    assert await state(rt, sent.id) == (Delivery.SENT, None)


async def test_the_api_channel_never_posts_to_a_loopback_address_it_was_not_allowed(
    rt: Runtime, world: World, standin: StandIn
) -> None:
    inbox, sent = await replied(rt, world, standin, ChannelKind.API, "Hello")
    await send_pass(rt, inbox)
    assert standin.seen == []
    delivery, reason = await state(rt, sent.id)
    assert delivery is Delivery.FAILED
    assert (
        reason == "could not deliver to the integration: refused: 127.0.0.1 is a loopback address"
    )


async def test_a_provider_that_fails_then_recovers_gets_the_message_once(
    rt: Runtime, world: World, standin: StandIn
) -> None:
    inbox, sent = await replied(rt, world, standin, ChannelKind.WHATSAPP, "Retry me")
    standin.script(
        "whatsapp",
        Answer(500, {"error": {"message": "An unknown error occurred", "code": 1}}),
    )
    before = utcnow()
    assert await send_pass(rt, inbox) == 0
    assert await state(rt, sent.id) == (Delivery.QUEUED, None)
    row = await queued_row(rt, sent.id)
    assert row.attempts == 1
    assert row.last_error == "WhatsApp is unavailable: An unknown error occurred [code 1]"
    # The email queue's backoff: the first retry waits 30 seconds.
    assert timedelta(seconds=29) <= row.next_attempt_at - before <= timedelta(seconds=32)
    assert await send_pass(rt, inbox) == 0 and len(standin.seen) == 1  # not before its time
    await time_passes(rt, timedelta(seconds=31))
    assert await send_pass(rt, inbox) == 1
    assert len(standin.seen) == 2
    assert standin.seen[0].body == standin.seen[1].body  # the same request both times
    assert await state(rt, sent.id) == (Delivery.SENT, None)
    await time_passes(rt, timedelta(days=1))
    assert await send_pass(rt, inbox) == 0 and len(standin.seen) == 2


async def test_a_429_is_retried_when_the_provider_says(
    rt: Runtime, world: World, standin: StandIn
) -> None:
    inbox, first = await replied(rt, world, standin, ChannelKind.SMS, "One")
    busy = {"code": 20429, "message": "Too Many Requests", "status": 429}
    standin.script("twilio", Answer(429, busy, {"Retry-After": "0"}))
    assert await send_pass(rt, inbox) == 0
    assert await send_pass(rt, inbox) == 1  # Retry-After: 0, so due at once
    assert await state(rt, first.id) == (Delivery.SENT, None)
    second = await reply(rt, world, first.conversation_id, "Two")
    standin.script("twilio", Answer(429, busy, {"Retry-After": "120"}))
    before = utcnow()
    await send_pass(rt, inbox)
    wait = (await queued_row(rt, second.id)).next_attempt_at - before
    assert timedelta(seconds=119) <= wait <= timedelta(seconds=122)


async def test_a_permanent_refusal_fails_at_once_with_the_providers_reason_on_the_page(
    rt: Runtime, world: World, standin: StandIn, client: httpx.AsyncClient
) -> None:
    inbox, sent = await replied(rt, world, standin, ChannelKind.WHATSAPP, "Hello")
    standin.script(
        "whatsapp",
        Answer(
            400,
            {
                "error": {
                    "message": "(#131030) Recipient phone number not in allowed list",
                    "type": "OAuthException",
                    "code": 131030,
                    "error_data": {
                        "messaging_product": "whatsapp",
                        "details": "Recipient phone number not in allowed list: Add recipient "
                        "phone number to recipient list and try again.",
                    },
                    "fbtrace_id": "AI1X3FqyGkV1UvDm5zFJuWx",
                }
            },
        ),
    )
    with captured_events(rt) as events:
        assert await send_pass(rt, inbox) == 0
    reason = (
        "WhatsApp refused the message: (#131030) Recipient phone number not in allowed list "
        "(Recipient phone number not in allowed list: Add recipient phone number to recipient "
        "list and try again.) [code 131030]"
    )
    assert await state(rt, sent.id) == (Delivery.FAILED, reason)
    assert [p.event.delivery for p in events] == ["failed"]  # type: ignore[attr-defined]
    await time_passes(rt, timedelta(days=1))
    assert await send_pass(rt, inbox) == 0 and len(standin.seen) == 1  # never retried
    await login(client, "ana@example.test")
    page = await client.get(f"/conversations/{sent.conversation_id}")
    assert "Not delivered: WhatsApp refused the message: (#131030) Recipient phone" in page.text
    api = await client.get(f"/api/v1/conversations/{sent.conversation_id}")
    [out] = [m for m in api.json()["messages"] if m["id"] == sent.id]
    assert (out["delivery"], out["delivery_error"]) == ("failed", reason)


async def test_an_unreachable_provider_is_retried_and_no_secret_reaches_logs_or_pages(
    rt: Runtime,
    world: World,
    standin: StandIn,
    client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)  # as the worker logs
    closed = "http://127.0.0.1:9"  # discard: nothing listens
    telegram = await messaging_inbox(rt, world, ChannelKind.TELEGRAM, closed)
    inbound = await customer_writes(rt, telegram)
    sent = await reply(rt, world, inbound.conversation_id, "Anyone there?")
    await send_pass(rt, telegram)
    row = await queued_row(rt, sent.id)
    assert row.last_error == "could not reach Telegram (ConnectError)"
    assert await state(rt, sent.id) == (Delivery.QUEUED, None)
    # A refusal and successes, logged as the worker logs.
    standin.script(
        "telegram",
        Answer(400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}),
    )
    for channel in (ChannelKind.TELEGRAM, ChannelKind.WHATSAPP, ChannelKind.SMS):
        inbox = await messaging_inbox(rt, world, channel, standin.base_url)
        conv = (await customer_writes(rt, inbox, text=f"hi {channel}")).conversation_id
        await reply(rt, world, conv, "One")
        await send_pass(rt, inbox)
    assert "Bad Request: chat not found" in caplog.text  # the reason is logged…
    await login(client, "admin@example.test")
    shown = [
        caplog.text,
        (await client.get(f"/conversations/{inbound.conversation_id}")).text,
        (await client.get(f"/api/v1/conversations/{inbound.conversation_id}")).text,
        (await client.get("/api/v1/inboxes")).text,
    ]
    for text in shown:  # …but never a credential, nor a URL that carries one
        for secret in SECRETS:
            assert secret not in text


async def test_the_worker_sends_what_a_messaging_inbox_queued(
    rt: Runtime, world: World, standin: StandIn
) -> None:
    _, sent = await replied(rt, world, standin, ChannelKind.TELEGRAM, "From the worker")
    stop = asyncio.Event()
    settings: Settings = rt.settings
    worker = asyncio.create_task(run_worker(settings, stop=stop))
    try:
        async with asyncio.timeout(15):
            while (await message(rt, sent.id)).delivery is not Delivery.SENT:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
    finally:
        stop.set()
        await worker
    assert [s.json()["text"] for s in standin.seen] == ["From the worker"]


async def test_admins_set_up_sending_and_secrets_stay_write_only(
    rt: Runtime, world: World, client: httpx.AsyncClient
) -> None:
    admin = {"Authorization": f"Bearer {world.tokens['admin']}"}
    whatsapp = await client.post(
        "/api/v1/inboxes/whatsapp",
        json={
            "name": "Shop WhatsApp",
            "app_secret": "app-secret-value-1",
            "verify_token": "verify-me",
            "access_token": "EAAG-secret-access-token",
            "phone_number_id": PHONE_NUMBER_ID,
            "templates": [{"name": "order_update", "language": "en_US", "body_params": 2}],
            "api_base_url": "http://127.0.0.1:8123/",
        },
        headers=admin,
    )
    assert whatsapp.status_code == 201, whatsapp.text
    out = whatsapp.json()
    assert out["secrets_set"] == ["access_token", "app_secret", "verify_token"]
    assert out["settings"] == {
        "phone_number_id": PHONE_NUMBER_ID,
        "templates": [{"name": "order_update", "language": "en_US", "body_params": 2}],
        "api_base_url": "http://127.0.0.1:8123",
    }
    api = await client.post(
        "/api/v1/inboxes/api",
        json={
            "name": "Shop app",
            "signing_secret": "whsec-very-secret",
            "outbound_webhook_url": "https://hooks.example.com/inbox?k=1",
        },
        headers=admin,
    )
    assert api.status_code == 201, api.text
    assert api.json()["secrets_set"] == ["signing_secret"]
    assert api.json()["settings"] == {"outbound_webhook_url": "https://hooks.example.com/inbox?k=1"}
    sms = await client.post(
        "/api/v1/inboxes/sms",
        json={
            "name": "Shop SMS",
            "auth_token": AUTH_TOKEN,
            "phone_number": "+1 415 555 0100",
            "account_sid": ACCOUNT_SID,
        },
        headers=admin,
    )
    assert sms.status_code == 201, sms.text
    assert sms.json()["settings"] == {"phone_number": "+14155550100", "account_sid": ACCOUNT_SID}
    for answer in (whatsapp, api, sms):
        for secret in ("EAAG-secret-access-token", "app-secret-value-1", "whsec-very-secret"):
            assert secret not in answer.text
        assert AUTH_TOKEN not in answer.text
    bad = await client.post(
        "/api/v1/inboxes/whatsapp",
        json={
            "name": "Bad",
            "app_secret": "a",
            "verify_token": "v",
            "templates": [{"name": "Has Spaces", "language": "en"}],
        },
        headers=admin,
    )
    assert bad.status_code == 422
    refused = await client.post(
        "/api/v1/inboxes/api",
        json={"name": "Mine", "signing_secret": "s"},
        headers={"Authorization": f"Bearer {world.tokens['ana']}"},
    )
    assert refused.status_code == 403
