"""Providers' messaging windows: WhatsApp takes a free-form reply only within 24
hours of the customer's last message, and otherwise an approved template;
Messenger tags a late reply HUMAN_AGENT, up to 7 days. The agent is told on
the page before sending; the API refuses with the reason."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from starlette.applications import Starlette

from inbox.models import ChannelKind, Delivery, Message, utcnow
from inbox.runtime import Runtime
from tests.conftest import World, login
from tests.live import serve
from tests.provider_standin import StandIn
from tests.provider_support import (
    PHONE_NUMBER_ID,
    customer_writes,
    messaging_inbox,
    reply,
    send_pass,
    standin,
    state,
)
from tests.test_live_ui import recv, signed_in
from tests.webhook_support import count, stored

__all__ = ["standin"]

NOTICE = (
    "More than 24 hours have passed since the customer&#39;s last message: "
    "WhatsApp allows only an approved template until they write again."
)


def bearer(world: World, who: str = "ana") -> dict[str, str]:
    return {"Authorization": f"Bearer {world.tokens[who]}"}


async def test_outside_the_window_the_composer_warns_and_offers_templates(
    rt: Runtime, world: World, standin: StandIn, client: httpx.AsyncClient
) -> None:
    inbox = await messaging_inbox(rt, world, ChannelKind.WHATSAPP, standin.base_url)
    inbound = await customer_writes(rt, inbox, at=utcnow() - timedelta(hours=25))
    token = await login(client, "ana@example.test")
    url = f"/conversations/{inbound.conversation_id}"
    page = (await client.get(url)).text
    assert NOTICE in page
    send = re.search(r'<button[^>]*formaction="[^"]*/replies"[^>]*>', page)
    assert send is not None and " disabled" in send.group(0)
    assert 'order_update <span class="muted">(en_US)</span>' in page
    assert page.count('name="param"') == 2  # order_update takes two, hello_again none
    # A free-form reply posted anyway is refused with the reason, and nothing is stored.
    refused = await client.post(
        f"{url}/replies", data={"text": "Hi!", "csrf_token": token}, headers={"HX-Request": "true"}
    )
    assert refused.status_code == 409
    assert "WhatsApp allows only an approved template" in refused.text
    assert len(await stored(rt)) == 1
    # The template form sends one.
    posted = await client.post(
        f"{url}/templates",
        data={"template": "order_update", "param": ["Maria", "#1042"], "csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert posted.status_code == 200, posted.text
    assert "Template order_update (en_US): Maria | #1042" in posted.text
    assert await send_pass(rt, inbox) == 1
    [request] = standin.seen
    assert request.path == f"/v21.0/{PHONE_NUMBER_ID}/messages"
    assert request.json() == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "16505551234",
        "type": "template",
        "template": {
            "name": "order_update",
            "language": {"code": "en_US"},
            "components": [
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "text": "Maria"},
                        {"type": "text", "text": "#1042"},
                    ],
                }
            ],
        },
    }


async def test_when_the_customer_writes_again_the_open_page_lifts_the_notice(
    rt: Runtime, world: World, standin: StandIn, app: Starlette
) -> None:
    inbox = await messaging_inbox(rt, world, ChannelKind.WHATSAPP, standin.base_url)
    late = await customer_writes(rt, inbox, at=utcnow() - timedelta(hours=25))
    url = f"/conversations/{late.conversation_id}"
    async with serve(app) as base_url, signed_in(base_url, "ana") as ana, ana.watch(url) as ws:
        page = (await ana.http.get(url)).text
        assert NOTICE in page and 'id="composer-templates"' in page
        await customer_writes(rt, inbox, text="Are you there?")
        batch = ""
        while 'id="composer-state"' not in batch:
            batch = await recv(ws)
    state_part = batch[batch.index('<div id="composer-state"') :]
    assert "composer-window" not in state_part.split("</div>", 1)[0]  # no notice now
    send = re.search(r'<button id="send-reply"[^>]*>', batch)
    assert send is not None and "hx-swap-oob" in send.group(0) and "disabled" not in send.group(0)
    templates = re.search(r'<div id="reply-templates" hx-swap-oob="true">\s*</div>', batch)
    assert templates is not None  # the template forms are gone: a plain reply may go


async def test_the_api_refuses_a_free_form_reply_and_sends_a_template(
    rt: Runtime, world: World, standin: StandIn, client: httpx.AsyncClient
) -> None:
    inbox = await messaging_inbox(rt, world, ChannelKind.WHATSAPP, standin.base_url)
    inbound = await customer_writes(rt, inbox, at=utcnow() - timedelta(days=3))
    url = f"/api/v1/conversations/{inbound.conversation_id}/messages"
    refused = await client.post(url, json={"kind": "reply", "text": "Hi"}, headers=bearer(world))
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert "WhatsApp allows only an approved template" in error["message"]
    assert error["details"] == {
        "reason": "outside_window",
        "templates": ["order_update", "hello_again"],
    }
    assert await count(rt, Message) == 1
    wrong = await client.post(
        url,
        json={"kind": "reply", "template": {"name": "order_update", "params": ["only one"]}},
        headers=bearer(world),
    )
    assert wrong.status_code == 400
    assert wrong.json()["error"]["message"] == "the template order_update takes 2 parameters, not 1"
    unknown = await client.post(
        url, json={"kind": "reply", "template": {"name": "promo"}}, headers=bearer(world)
    )
    assert unknown.status_code == 400
    ok = await client.post(
        url, json={"kind": "reply", "template": {"name": "hello_again"}}, headers=bearer(world)
    )
    assert ok.status_code == 201, ok.text
    out = ok.json()["message"]
    assert (out["text"], out["delivery"]) == ("Template hello_again (es)", "queued")
    assert await send_pass(rt, inbox) == 1
    assert standin.seen[0].json()["template"] == {
        "name": "hello_again",
        "language": {"code": "es"},
        "components": [],
    }
    assert await state(rt, out["id"]) == (Delivery.SENT, None)


async def test_within_the_window_a_reply_goes_as_text_without_a_notice(
    rt: Runtime, world: World, standin: StandIn, client: httpx.AsyncClient
) -> None:
    inbox = await messaging_inbox(rt, world, ChannelKind.WHATSAPP, standin.base_url)
    inbound = await customer_writes(rt, inbox, at=utcnow() - timedelta(hours=23))
    await login(client, "ana@example.test")
    page = (await client.get(f"/conversations/{inbound.conversation_id}")).text
    assert "composer-window" not in page and "composer-templates" not in page
    sent = await reply(rt, world, inbound.conversation_id, "Just in time")
    assert sent.delivery is Delivery.QUEUED


async def test_messenger_tags_a_late_reply_and_refuses_one_after_7_days(
    rt: Runtime, world: World, standin: StandIn, client: httpx.AsyncClient
) -> None:
    inbox = await messaging_inbox(rt, world, ChannelKind.MESSENGER, standin.base_url)
    inbound = await customer_writes(rt, inbox, at=utcnow() - timedelta(days=2))
    await login(client, "ana@example.test")
    page = (await client.get(f"/conversations/{inbound.conversation_id}")).text
    assert "the reply goes with Messenger&#39;s human agent tag" in page
    await reply(rt, world, inbound.conversation_id, "Sorry for the wait")
    await send_pass(rt, inbox)
    assert standin.seen[0].json() == {
        "recipient": {"id": "6543210987654321"},
        "messaging_type": "MESSAGE_TAG",
        "tag": "HUMAN_AGENT",
        "message": {"text": "Sorry for the wait"},
    }
    old = await messaging_inbox(rt, world, ChannelKind.INSTAGRAM, standin.base_url)
    stale = await customer_writes(rt, old, at=utcnow() - timedelta(days=8))
    refused = await client.post(
        f"/api/v1/conversations/{stale.conversation_id}/messages",
        json={"kind": "reply", "text": "Too late?"},
        headers=bearer(world),
    )
    assert refused.status_code == 409
    assert "Instagram allows no reply until they write again" in refused.json()["error"]["message"]
