"""Admins create messaging inboxes through the API with write-only secrets,
and the webhook then accepts what those secrets sign."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from inbox.models import AuditEntry, Inbox
from inbox.runtime import Runtime
from tests.conftest import World
from tests.test_api_support import bearer
from tests.webhook_support import fixture, stored

BOT_TOKEN = "7000000001:AAH-bot-token-value"
SECRET_TOKEN = "tg_secret-token-value"
APP_SECRET = "meta-app-secret-value"
VERIFY_TOKEN = "meta-verify-token-value"
ACCESS_TOKEN = "EAAG-meta-access-token-value"
AUTH_TOKEN = "twilio-auth-token-value"
SECRETS = (BOT_TOKEN, SECRET_TOKEN, APP_SECRET, VERIFY_TOKEN, ACCESS_TOKEN, AUTH_TOKEN)

BODIES: dict[str, dict[str, Any]] = {
    "telegram": {"bot_token": BOT_TOKEN, "secret_token": SECRET_TOKEN},
    "whatsapp": {
        "app_secret": APP_SECRET,
        "verify_token": VERIFY_TOKEN,
        "access_token": ACCESS_TOKEN,
    },
    "messenger": {"app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN},
    "instagram": {"app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN},
    "sms": {"auth_token": AUTH_TOKEN, "phone_number": "+1 415-555-0100"},
}


async def create(
    client: httpx.AsyncClient, world: World, channel: str, who: str = "admin", **changes: Any
) -> httpx.Response:
    body = {"name": f"Our {channel}", "team_ids": [world.support.id], **BODIES[channel], **changes}  # type: ignore[attr-defined]
    return await client.post(f"/api/v1/inboxes/{channel}", json=body, headers=bearer(world, who))


@pytest.mark.parametrize("channel", sorted(BODIES))
async def test_an_admin_creates_an_inbox_whose_secrets_are_never_shown(
    client: httpx.AsyncClient,
    rt: Runtime,
    world: World,
    channel: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    created = await create(client, world, channel)
    assert created.status_code == 201, created.text
    answer = created.json()
    inbox_id = answer["inbox"]["id"]
    assert answer["inbox"]["channel"] == channel
    assert answer["webhook_path"] == f"/webhooks/{channel}/{inbox_id}"
    expected = sorted(k for k in BODIES[channel] if k != "phone_number")
    assert answer["secrets_set"] == expected
    assert answer["phone_number"] == ("+14155550100" if channel == "sms" else None)
    async with rt.read_sessions() as db:
        inbox = await db.get(Inbox, inbox_id)
        audit = (await db.scalars(select(AuditEntry))).all()
    assert inbox is not None and sorted(inbox.secrets) == expected
    listed = await client.get("/api/v1/inboxes", headers=bearer(world, "ana"))
    assert inbox_id in [i["id"] for i in listed.json()["inboxes"]]
    for text in (created.text, listed.text, caplog.text, repr([a.data for a in audit])):
        assert not any(secret in text for secret in SECRETS)


async def test_only_admins_may_create_one(client: httpx.AsyncClient, world: World) -> None:
    for who in ("lead", "ana"):
        refused = await create(client, world, "telegram", who=who)
        assert refused.status_code == 403, refused.text


@pytest.mark.parametrize(
    ("channel", "changes", "field"),
    [
        ("telegram", {"secret_token": "has spaces"}, "secret_token"),
        ("telegram", {"bot_token": ""}, "bot_token"),
        ("whatsapp", {"app_secret": None}, "app_secret"),
        ("sms", {"phone_number": "12"}, "phone_number"),
        ("sms", {"auth_token": 5}, "auth_token"),
    ],
)
async def test_bad_settings_are_refused_with_the_field(
    client: httpx.AsyncClient, world: World, channel: str, changes: dict[str, Any], field: str
) -> None:
    refused = await create(client, world, channel, **changes)
    assert refused.status_code == 422, refused.text
    assert field in refused.text


async def test_the_created_telegram_inbox_takes_updates_signed_with_its_token(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    inbox_id = (await create(client, world, "telegram")).json()["inbox"]["id"]
    url = f"/webhooks/telegram/{inbox_id}"
    body = fixture("telegram", "text_message.json")
    wrong = await client.post(
        url, content=body, headers={"X-Telegram-Bot-Api-Secret-Token": BOT_TOKEN}
    )
    assert wrong.status_code == 401
    right = await client.post(
        url, content=body, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET_TOKEN}
    )
    assert right.status_code == 200, right.text
    assert [m.text for m in await stored(rt)] == ["Hola! My order #1042 has not arrived."]


async def test_the_created_meta_inbox_answers_the_verification_get(
    client: httpx.AsyncClient, world: World
) -> None:
    inbox_id = (await create(client, world, "instagram")).json()["inbox"]["id"]
    params = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "42"}
    answer = await client.get(f"/webhooks/instagram/{inbox_id}", params=params)
    assert (answer.status_code, answer.text) == (200, "42")


async def test_an_admin_changes_settings_and_replaces_only_the_secrets_given(
    client: httpx.AsyncClient, rt: Runtime, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    inbox_id = (await create(client, world, "telegram")).json()["inbox"]["id"]
    url = f"/webhooks/telegram/{inbox_id}"
    body = fixture("telegram", "text_message.json")
    signed = {"X-Telegram-Bot-Api-Secret-Token": SECRET_TOKEN}
    assert (await client.post(url, content=body, headers=signed)).status_code == 200

    new_secret = "tg_rotated-secret-token"
    changed = await client.post(
        f"/api/v1/inboxes/telegram/{inbox_id}",
        json={"name": "Bot desk", "team_ids": [world.support.id], "secret_token": new_secret},  # type: ignore[attr-defined]
        headers=bearer(world, "admin"),
    )
    assert changed.status_code == 200, changed.text
    answer = changed.json()
    assert answer["inbox"]["name"] == "Bot desk"
    assert answer["secrets_set"] == ["bot_token", "secret_token"]
    async with rt.read_sessions() as db:
        inbox = await db.get(Inbox, inbox_id)
        audit = (await db.scalars(select(AuditEntry))).all()
    assert inbox is not None
    assert inbox.secrets == {"bot_token": BOT_TOKEN, "secret_token": new_secret}  # kept, replaced
    for text in (changed.text, caplog.text, repr([a.data for a in audit])):
        assert not any(secret in text for secret in (*SECRETS, new_secret))

    # The old token stops working at once; the new one works.
    assert (await client.post(url, content=body, headers=signed)).status_code == 401
    again = await client.post(
        url, content=body, headers={"X-Telegram-Bot-Api-Secret-Token": new_secret}
    )
    assert again.status_code == 200, again.text


async def test_changing_settings_is_for_admins_and_for_that_channel_s_inbox(
    client: httpx.AsyncClient, world: World
) -> None:
    inbox_id = (await create(client, world, "telegram")).json()["inbox"]["id"]
    body = {"name": "Renamed"}
    for who in ("lead", "ana"):
        refused = await client.post(
            f"/api/v1/inboxes/telegram/{inbox_id}", json=body, headers=bearer(world, who)
        )
        assert refused.status_code == 403, refused.text
        unknown = await client.post(
            "/api/v1/inboxes/telegram/999999", json=body, headers=bearer(world, who)
        )
        assert unknown.status_code == 403, unknown.text
    admin = bearer(world, "admin")
    sms = {**body, "phone_number": "+14155550100"}
    for path, given in (
        (f"/api/v1/inboxes/sms/{inbox_id}", sms),
        ("/api/v1/inboxes/telegram/999999", body),
    ):
        missing = await client.post(path, json=given, headers=admin)
        assert missing.status_code == 404, missing.text
    bad = await client.post(
        f"/api/v1/inboxes/telegram/{inbox_id}", json={**body, "bot_token": ""}, headers=admin
    )
    assert bad.status_code == 422 and "bot_token" in bad.text
