"""Twilio SMS: saved form bodies in Twilio's documented format, signed by the
`twilio` package's own RequestValidator, through the real endpoint."""

from __future__ import annotations

import dataclasses
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
from twilio.request_validator import RequestValidator

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

AUTH_TOKEN = "12345678901234567890123456789012"
validator = RequestValidator(AUTH_TOKEN)


@pytest.fixture
async def sms_inbox(rt: Runtime, world: World) -> Inbox:
    return await make_inbox(
        rt, world, ChannelKind.SMS, {"auth_token": AUTH_TOKEN}, phone_number="+14155550100"
    )


def twilio_signature(url: str, body: bytes, token: str = AUTH_TOKEN) -> str:
    params = dict(parse_qsl(body.decode(), keep_blank_values=True))
    signature: str = RequestValidator(token).compute_signature(url, params)
    return signature


async def deliver(
    client: httpx.AsyncClient,
    inbox: Inbox,
    body: bytes,
    *,
    signed_url: str | None = None,
    signature: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    path = f"/webhooks/sms/{inbox.id}"
    if signature is None:
        signature = twilio_signature(signed_url or f"http://testserver{path}", body)
    return await client.post(
        path,
        content=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
            **(headers or {}),
        },
    )


async def test_a_text_is_stored_under_the_senders_number_and_answered_with_empty_twiml(
    client: httpx.AsyncClient, rt: Runtime, sms_inbox: Inbox
) -> None:
    response = await deliver(client, sms_inbox, fixture("sms", "text_message.txt"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    assert response.text.endswith("<Response/>")
    [message] = await stored(rt)
    assert message.inbox_id == sms_inbox.id
    assert message.external_id == "SM1f0e8ae6ade43cb3c0ce4525424e404f"
    assert message.text == "Where is my order #1042? ¡Gracias!"
    assert await sender_of(rt, message) == ("", [("phone", "+14155550123")])


async def test_an_mms_without_text_says_what_was_sent(
    client: httpx.AsyncClient, rt: Runtime, sms_inbox: Inbox
) -> None:
    response = await deliver(client, sms_inbox, fixture("sms", "mms_only.txt"))
    assert response.status_code == 200, response.text
    [message] = await stored(rt)
    assert message.text == "[image/jpeg]"


async def test_a_bad_or_missing_signature_is_401_and_stores_nothing(
    client: httpx.AsyncClient, rt: Runtime, sms_inbox: Inbox
) -> None:
    body = fixture("sms", "text_message.txt")
    url = f"http://testserver/webhooks/sms/{sms_inbox.id}"
    good = twilio_signature(url, body)
    refused = [
        await deliver(client, sms_inbox, body, signature=twilio_signature(url, body, "x" * 32)),
        await deliver(client, sms_inbox, body, signature=""),
        await deliver(client, sms_inbox, body.replace(b"%231042", b"%231043"), signature=good),
        await deliver(client, sms_inbox, body + b"&Extra=1", signature=good),
        await deliver(client, sms_inbox, body, signed_url=url + "?other=1"),
        await deliver(
            client, sms_inbox, body, signed_url=f"http://testserver/webhooks/sms/{sms_inbox.id + 1}"
        ),
        await deliver(client, sms_inbox, b"\xff\xfe=%%", signature=good),
    ]
    assert [r.status_code for r in refused] == [401] * len(refused)
    assert await stored(rt) == []


async def test_the_order_of_parameters_does_not_matter(
    client: httpx.AsyncClient, rt: Runtime, sms_inbox: Inbox
) -> None:
    pairs = parse_qsl(fixture("sms", "text_message.txt").decode(), keep_blank_values=True)
    body = urlencode(list(reversed(pairs))).encode()
    response = await deliver(client, sms_inbox, body)
    assert response.status_code == 200, response.text
    assert await count(rt, Message) == 1


async def test_behind_a_trusted_proxy_the_public_url_is_what_is_signed(
    client: httpx.AsyncClient, rt: Runtime, sms_inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = fixture("sms", "text_message.txt")
    public = f"https://inbox.example.com/webhooks/sms/{sms_inbox.id}"
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "inbox.example.com"}
    # Untrusted (the default), the forwarded headers are ignored.
    untrusted = await deliver(client, sms_inbox, body, signed_url=public, headers=forwarded)
    assert untrusted.status_code == 401
    monkeypatch.setattr(rt, "settings", dataclasses.replace(rt.settings, trust_proxy_headers=True))
    trusted = await deliver(client, sms_inbox, body, signed_url=public, headers=forwarded)
    assert trusted.status_code == 200, trusted.text
    # Twilio may sign the URL with its default port spelled out; its SDK accepts both.
    with_port = public.replace(".com/", ".com:443/")
    again = await deliver(client, sms_inbox, body, signed_url=with_port, headers=forwarded)
    assert again.status_code == 200, again.text
    spoofed = {**forwarded, "X-Forwarded-Host": "evil.example.net"}
    assert (
        await deliver(client, sms_inbox, body, signed_url=public, headers=spoofed)
    ).status_code == 401
    assert await count(rt, Message) == 1


async def test_concurrent_replays_leave_exactly_one_message(
    client: httpx.AsyncClient, rt: Runtime, sms_inbox: Inbox
) -> None:
    body = fixture("sms", "text_message.txt")
    responses = await replayed_concurrently(lambda: deliver(client, sms_inbox, body))
    assert [r.status_code for r in responses] == [200] * 5, [r.text for r in responses]
    assert await count(rt, Message) == 1
    again = await deliver(client, sms_inbox, body)
    assert again.status_code == 200
    assert await count(rt, Message) == 1


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"From": "whatsapp:+14155550123"}, "From"),
        ({"From": "12"}, "From"),
        ({"MessageSid": ""}, "MessageSid"),
        ({"Body": "   "}, "Body"),
        ({"NumMedia": "many"}, "NumMedia"),
    ],
)
async def test_invalid_messages_are_422_and_name_the_field(
    client: httpx.AsyncClient, rt: Runtime, sms_inbox: Inbox, change: dict[str, str], says: str
) -> None:
    params = dict(parse_qsl(fixture("sms", "text_message.txt").decode(), keep_blank_values=True))
    body = urlencode({**params, **change}).encode()
    response = await deliver(client, sms_inbox, body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["message"].startswith(says)
    assert await stored(rt) == []


async def test_a_signed_body_that_is_no_form_is_400(
    client: httpx.AsyncClient, rt: Runtime, sms_inbox: Inbox
) -> None:
    body = b"MessageSid=SM1&From=%2B14155550123&Body=%FF"
    url = f"http://testserver/webhooks/sms/{sms_inbox.id}"
    # Signed over what a lenient reader makes of it, so only the form is wrong.
    signature = validator.compute_signature(url, dict(parse_qsl(body.decode())))
    response = await deliver(client, sms_inbox, body, signature=signature)
    assert response.status_code == 400, response.text
    assert "form" in response.json()["error"]["message"]
    assert await stored(rt) == []
