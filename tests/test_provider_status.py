"""Delivery receipts from the providers' webhooks (saved payloads in their real
formats, signed as they sign them) move a sent message to delivered and read,
never backwards, and a failure shows with its reason, live."""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import parse_qsl

import httpx
from starlette.applications import Starlette
from twilio.request_validator import RequestValidator

from inbox.models import ChannelKind, Delivery, Inbox, Message
from inbox.runtime import Runtime
from tests.conftest import World
from tests.helpers import captured_events
from tests.live import serve
from tests.provider_standin import Answer, StandIn
from tests.provider_support import (
    APP_SECRET,
    AUTH_TOKEN,
    message,
    replied,
    reply,
    send_pass,
    standin,
    state,
)
from tests.test_live_ui import oob, recv, signed_in
from tests.webhook_support import fixture

__all__ = ["standin"]

WAMID = "wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QUJDREVGMDEyMzQ1Njc4OQA="
SMS_SID = "SM00000000000000000000000000000001"


async def sent_reply(
    rt: Runtime, world: World, standin: StandIn, channel: ChannelKind, text: str = "On its way"
) -> tuple[Inbox, Message]:
    inbox, sent = await replied(rt, world, standin, channel, text)
    await send_pass(rt, inbox)
    return inbox, await message(rt, sent.id)


def meta_signed(body: bytes, secret: str = APP_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={digest}"}


async def meta_webhook(
    client: httpx.AsyncClient, inbox: Inbox, body: bytes, secret: str = APP_SECRET
) -> httpx.Response:
    return await client.post(
        f"/webhooks/{inbox.channel.value}/{inbox.id}",
        content=body,
        headers=meta_signed(body, secret),
    )


def now_ms() -> bytes:
    return str(int(time.time() * 1000) + 1000).encode()


async def test_whatsapp_statuses_move_forward_only(
    rt: Runtime, world: World, standin: StandIn, client: httpx.AsyncClient
) -> None:
    standin.script(
        "whatsapp", Answer(200, {"messaging_product": "whatsapp", "messages": [{"id": WAMID}]})
    )
    inbox, sent = await sent_reply(rt, world, standin, ChannelKind.WHATSAPP)
    assert (sent.delivery, sent.external_id) == (Delivery.SENT, WAMID)
    with captured_events(rt) as events:
        assert (
            await meta_webhook(client, inbox, fixture("whatsapp", "status_delivered.json"))
        ).status_code == 200
        assert await state(rt, sent.id) == (Delivery.DELIVERED, None)
        assert (
            await meta_webhook(client, inbox, fixture("whatsapp", "status_read.json"))
        ).status_code == 200
        assert await state(rt, sent.id) == (Delivery.READ, None)
        # Late and redelivered receipts change nothing: read stays read.
        for late in ("status_delivered.json", "status_failed.json", "status_read.json"):
            assert (await meta_webhook(client, inbox, fixture("whatsapp", late))).status_code == 200
    assert await state(rt, sent.id) == (Delivery.READ, None)
    assert [p.event.delivery for p in events] == ["delivered", "read"]  # type: ignore[attr-defined]
    assert all(world.ana.id in p.audience.agent_ids for p in events)  # type: ignore[attr-defined]


async def test_a_bad_signature_is_401_and_changes_nothing(
    rt: Runtime, world: World, standin: StandIn, client: httpx.AsyncClient
) -> None:
    standin.script("whatsapp", Answer(200, {"messages": [{"id": WAMID}]}))
    inbox, sent = await sent_reply(rt, world, standin, ChannelKind.WHATSAPP)
    body = fixture("whatsapp", "status_read.json")
    assert (await meta_webhook(client, inbox, body, secret="not the app secret")).status_code == 401
    assert await state(rt, sent.id) == (Delivery.SENT, None)


async def test_a_whatsapp_failure_shows_its_reason(
    rt: Runtime, world: World, standin: StandIn, client: httpx.AsyncClient
) -> None:
    standin.script("whatsapp", Answer(200, {"messages": [{"id": WAMID}]}))
    inbox, sent = await sent_reply(rt, world, standin, ChannelKind.WHATSAPP)
    assert (
        await meta_webhook(client, inbox, fixture("whatsapp", "status_failed.json"))
    ).status_code == 200
    assert await state(rt, sent.id) == (
        Delivery.FAILED,
        "WhatsApp could not deliver it: Message failed to send because more than 24 hours have "
        "passed since the customer last replied to this number. [code 131047]",
    )


async def test_messenger_deliveries_and_read_watermarks(
    rt: Runtime, world: World, standin: StandIn, client: httpx.AsyncClient
) -> None:
    inbox, first = await sent_reply(rt, world, standin, ChannelKind.MESSENGER)
    assert first.external_id == "m_sent0001AbCdEfGhIjKlMnOpQrStUvWxYz"
    second = await reply(rt, world, first.conversation_id, "And another thing")
    await send_pass(rt, inbox)
    # `mids` names the first; the watermark (before the second was written) covers only it.
    response = await meta_webhook(client, inbox, fixture("messenger", "delivery.json"))
    assert response.status_code == 200
    assert await state(rt, first.id) == (Delivery.DELIVERED, None)
    assert await state(rt, second.id) == (Delivery.SENT, None)
    # A read watermark from now covers everything sent before it.
    body = fixture("messenger", "read.json").replace(b"1767256309500", now_ms())
    assert (await meta_webhook(client, inbox, body)).status_code == 200
    assert await state(rt, first.id) == (Delivery.READ, None)
    assert await state(rt, second.id) == (Delivery.READ, None)
    third = await reply(rt, world, first.conversation_id, "Written later, still queued")
    assert (await meta_webhook(client, inbox, body)).status_code == 200
    assert await state(rt, third.id) == (Delivery.QUEUED, None)


async def test_an_instagram_read_marks_what_was_sent_before_it(
    rt: Runtime, world: World, standin: StandIn, client: httpx.AsyncClient
) -> None:
    inbox, sent = await sent_reply(rt, world, standin, ChannelKind.INSTAGRAM)
    body = fixture("instagram", "read.json").replace(b"1767256320000", now_ms())
    assert (await meta_webhook(client, inbox, body)).status_code == 200
    assert await state(rt, sent.id) == (Delivery.READ, None)


def twilio_headers(url: str, body: bytes, token: str = AUTH_TOKEN) -> dict[str, str]:
    params = dict(parse_qsl(body.decode(), keep_blank_values=True))
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": RequestValidator(token).compute_signature(url, params),
    }


async def test_twilio_status_callbacks_with_twilios_signature(
    rt: Runtime, world: World, standin: StandIn, client: httpx.AsyncClient
) -> None:
    standin.script("twilio", Answer(201, {"sid": SMS_SID, "status": "queued"}))
    inbox, sent = await sent_reply(rt, world, standin, ChannelKind.SMS)
    path = f"/webhooks/sms/{inbox.id}/status"
    url = f"http://testserver{path}"
    delivered = fixture("sms", "status_delivered.txt")
    forged = await client.post(
        path, content=delivered, headers=twilio_headers(url, delivered, "x" * 32)
    )
    assert forged.status_code == 401
    assert await state(rt, sent.id) == (Delivery.SENT, None)
    ok = await client.post(path, content=delivered, headers=twilio_headers(url, delivered))
    assert ok.status_code == 204
    assert await state(rt, sent.id) == (Delivery.DELIVERED, None)
    # Undelivered after delivered: the carrier's word on delivery stands.
    undelivered = fixture("sms", "status_undelivered.txt")
    await client.post(path, content=undelivered, headers=twilio_headers(url, undelivered))
    assert await state(rt, sent.id) == (Delivery.DELIVERED, None)


async def test_twilio_undelivered_shows_the_reason(
    rt: Runtime, world: World, standin: StandIn, client: httpx.AsyncClient
) -> None:
    standin.script("twilio", Answer(201, {"sid": SMS_SID, "status": "queued"}))
    inbox, sent = await sent_reply(rt, world, standin, ChannelKind.SMS)
    path = f"/webhooks/sms/{inbox.id}/status"
    body = fixture("sms", "status_undelivered.txt")
    response = await client.post(
        path, content=body, headers=twilio_headers(f"http://testserver{path}", body)
    )
    assert response.status_code == 204
    assert await state(rt, sent.id) == (
        Delivery.FAILED,
        "the SMS was not delivered: unreachable destination handset (Twilio error 30003)",
    )


async def test_the_conversation_page_shows_receipts_live(
    rt: Runtime, world: World, standin: StandIn, app: Starlette
) -> None:
    standin.script("whatsapp", Answer(200, {"messages": [{"id": WAMID}]}))
    inbox, sent = await sent_reply(rt, world, standin, ChannelKind.WHATSAPP)
    async with (
        serve(app) as base_url,
        signed_in(base_url, "ana") as ana,
    ):
        page = await ana.http.get(f"/conversations/{sent.conversation_id}")
        assert 'class="delivery delivery-sent"' in page.text
        async with ana.watch(f"/conversations/{sent.conversation_id}") as socket:
            body = fixture("whatsapp", "status_read.json")
            response = await ana.http.post(
                f"/webhooks/whatsapp/{inbox.id}", content=body, headers=meta_signed(body)
            )
            assert response.status_code == 200
            redrawn = await recv(socket)
    assert ("true", f"m-{sent.id}") in oob(redrawn)
    assert 'class="delivery delivery-read"' in redrawn
