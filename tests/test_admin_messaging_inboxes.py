"""The admin pages for messaging inboxes: add each kind from a form, see the
webhook URL, replace secrets (the webhook then takes only the new one), edit
WhatsApp's approved templates (the composer offers them), deactivate."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from inbox.models import AuditEntry, Inbox, utcnow
from inbox.runtime import Runtime
from tests.conftest import World, csrf_of, login
from tests.helpers import captured_events
from tests.provider_support import customer_writes, with_settings
from tests.test_webhook_meta import meta_signature
from tests.webhook_support import fixture

BOT_TOKEN = "7000000001:AAH-form-bot-token"
SECRET_TOKEN = "tg_form-secret-token"
APP_SECRET = "form-meta-app-secret"
NEW_APP_SECRET = "form-meta-app-secret-rotated"
VERIFY_TOKEN = "form-meta-verify-token"
ACCESS_TOKEN = "EAAG-form-access-token"
AUTH_TOKEN = "form-twilio-auth-token"
SIGNING_SECRET = "form-api-signing-secret"
SECRETS = (
    BOT_TOKEN,
    SECRET_TOKEN,
    APP_SECRET,
    NEW_APP_SECRET,
    VERIFY_TOKEN,
    ACCESS_TOKEN,
    AUTH_TOKEN,
    SIGNING_SECRET,
)
META = {"app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN, "access_token": ACCESS_TOKEN}
FORMS: dict[str, dict[str, Any]] = {
    "telegram": {"bot_token": BOT_TOKEN, "secret_token": SECRET_TOKEN},
    "whatsapp": {
        **META,
        "phone_number_id": "106540352242922",
        "template_name": ["order_update", ""],
        "template_language": ["en_US", ""],
        "template_body_params": ["2", ""],
    },
    "messenger": META,
    "instagram": META,
    "sms": {
        "auth_token": AUTH_TOKEN,
        "phone_number": "+1 415-555-0100",
        "account_sid": "AC" + "0" * 32,
    },
    "api": {"signing_secret": SIGNING_SECRET, "outbound_webhook_url": "https://hooks.shop.test/x"},
}
SECRET_FIELDS = {
    "bot_token",
    "secret_token",
    "app_secret",
    "verify_token",
    "access_token",
    "auth_token",
    "signing_secret",
}
TEMPLATE_NOTICE = "WhatsApp allows only an approved template"


async def as_admin(client: httpx.AsyncClient) -> str:
    await login(client, "admin@example.test")
    return await csrf_of(client)


async def add(
    client: httpx.AsyncClient, world: World, kind: str, token: str, **changes: Any
) -> httpx.Response:
    data = {
        "name": f"Our {kind}",
        "team_ids": [str(world.support.id)],  # type: ignore[attr-defined]
        **FORMS[kind],
        **changes,
        "csrf_token": token,
    }
    return await client.post(f"/admin/inboxes/messaging/{kind}", data=data)


async def added(client: httpx.AsyncClient, world: World, kind: str, token: str) -> str:
    """The new inbox's settings page URL."""
    response = await add(client, world, kind, token)
    assert response.status_code == 303, response.text
    return str(response.headers["location"])


def inbox_id_of(url: str) -> int:
    return int(url.split("/")[3])


async def inbox_of(rt: Runtime, inbox_id: int) -> Inbox:
    async with rt.read_sessions() as db:
        inbox = await db.get(Inbox, inbox_id)
    assert inbox is not None
    return inbox


def no_secret_in(*texts: str) -> None:
    for text in texts:
        leaked = [secret for secret in SECRETS if secret in text]
        assert not leaked, leaked


@pytest.mark.parametrize("kind", sorted(FORMS))
async def test_an_admin_adds_each_kind_and_sees_its_webhook_url_but_never_its_secrets(
    client: httpx.AsyncClient,
    rt: Runtime,
    world: World,
    kind: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="inbox")
    token = await as_admin(client)
    listing = await client.get("/admin/inboxes")
    assert f'href="/admin/inboxes/messaging/{kind}"' in listing.text
    form_page = await client.get(f"/admin/inboxes/messaging/{kind}")
    assert form_page.status_code == 200 and "Add a" in form_page.text
    url = await added(client, world, kind, token)
    assert url.endswith("/messaging")
    inbox_id = inbox_id_of(url)
    page = await client.get(url)
    assert page.status_code == 200
    assert f"http://testserver/webhooks/{kind}/{inbox_id}" in page.text
    secrets = [name for name in FORMS[kind] if name in SECRET_FIELDS]
    for name in secrets:
        assert f'id="state-{name}">set<' in page.text
    inbox = await inbox_of(rt, inbox_id)
    assert inbox.channel.value == kind and inbox.name == f"Our {kind}"
    assert inbox.secrets == {name: FORMS[kind][name] for name in secrets}
    if kind == "sms":
        assert inbox.config["phone_number"] == "+14155550100"
        assert 'value="+14155550100"' in page.text
    if kind == "whatsapp":
        assert inbox.config["templates"] == [
            {"name": "order_update", "language": "en_US", "body_params": 2}
        ]
    if kind == "api":
        assert 'value="https://hooks.shop.test/x"' in page.text
    listing = await client.get("/admin/inboxes")
    assert f'href="/admin/inboxes/{inbox_id}/messaging"' in listing.text
    async with rt.read_sessions() as db:
        audit = (await db.scalars(select(AuditEntry))).all()
    no_secret_in(
        form_page.text, page.text, listing.text, caplog.text, repr([a.data for a in audit])
    )


async def test_the_webhook_url_is_under_the_public_url_when_one_is_set(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    with_settings(rt, public_url="https://inbox.example.com")
    token = await as_admin(client)
    url = await added(client, world, "telegram", token)
    page = await client.get(url)
    assert f"https://inbox.example.com/webhooks/telegram/{inbox_id_of(url)}" in page.text


async def test_mistakes_come_back_beside_their_fields_and_secrets_never_do(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    token = await as_admin(client)
    refused = await add(
        client, world, "sms", token, phone_number="not a number", account_sid="AC12"
    )
    assert refused.status_code == 422
    text = refused.text
    assert 'id="e-phone_number"' in text and 'id="e-account_sid"' in text
    assert "String should match pattern" in text
    assert 'value="not a number"' in text  # what was typed is kept...
    no_secret_in(text)  # ...except the auth token
    missing = await add(client, world, "telegram", token, bot_token="", secret_token="a b")
    assert missing.status_code == 422
    assert re.search(r'id="e-bot_token">Field required<', missing.text)
    assert 'id="e-secret_token"' in missing.text
    bad_template = await add(
        client,
        world,
        "whatsapp",
        token,
        template_name=["Order Update"],
        template_language=["en_US"],
        template_body_params=["two"],
    )
    assert bad_template.status_code == 422
    assert 'id="e-templates_0_name"' in bad_template.text
    assert 'id="e-templates_0_body_params"' in bad_template.text
    assert 'value="Order Update"' in bad_template.text
    no_secret_in(bad_template.text)
    async with rt.read_sessions() as db:
        names = (await db.scalars(select(Inbox.name))).all()
    assert not any(name.startswith("Our ") for name in names)


async def deliver_whatsapp(client: httpx.AsyncClient, inbox_id: int, secret: str) -> int:
    body = fixture("whatsapp", "text_message.json")
    response = await client.post(
        f"/webhooks/whatsapp/{inbox_id}",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Hub-Signature-256": meta_signature(secret, body),
        },
    )
    return response.status_code


async def deliver_telegram(client: httpx.AsyncClient, inbox_id: int, secret: str) -> int:
    response = await client.post(
        f"/webhooks/telegram/{inbox_id}",
        content=fixture("telegram", "text_message.json"),
        headers={
            "Content-Type": "application/json",
            "X-Telegram-Bot-Api-Secret-Token": secret,
        },
    )
    return response.status_code


async def test_a_replaced_secret_signs_the_webhook_and_the_old_one_is_refused(
    client: httpx.AsyncClient,
    rt: Runtime,
    world: World,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="inbox")
    token = await as_admin(client)
    url = await added(client, world, "whatsapp", token)
    inbox_id = inbox_id_of(url)
    assert await deliver_whatsapp(client, inbox_id, APP_SECRET) == 200
    saved = await client.post(
        url,
        data={
            "name": "Our whatsapp",
            "team_ids": [str(world.support.id)],  # type: ignore[attr-defined]
            "app_secret": NEW_APP_SECRET,
            "verify_token": "",
            "access_token": "",
            "phone_number_id": "106540352242922",
            "csrf_token": token,
        },
    )
    assert saved.status_code == 200, saved.text
    assert "Settings saved." in saved.text and 'id="state-app_secret">set<' in saved.text
    assert await deliver_whatsapp(client, inbox_id, APP_SECRET) == 401
    assert await deliver_whatsapp(client, inbox_id, NEW_APP_SECRET) == 200
    inbox = await inbox_of(rt, inbox_id)
    # The blank ones kept what was stored.
    assert inbox.secrets == {**META, "app_secret": NEW_APP_SECRET}
    async with rt.read_sessions() as db:
        [change] = (
            await db.scalars(
                select(AuditEntry).where(AuditEntry.action == "inbox.messaging_settings_changed")
            )
        ).all()
    assert change.data["secrets_replaced"] == ["app_secret"]
    assert "templates" in change.data["changed"]  # the form listed none: all removed
    no_secret_in(saved.text, (await client.get(url)).text, caplog.text, repr(change.data))


async def test_a_new_telegram_secret_token_is_the_only_one_accepted(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    token = await as_admin(client)
    url = await added(client, world, "telegram", token)
    inbox_id = inbox_id_of(url)
    assert await deliver_telegram(client, inbox_id, SECRET_TOKEN) == 200
    saved = await client.post(
        url,
        data={"name": "Renamed bot", "secret_token": "brand_new-token", "csrf_token": token},
    )
    assert saved.status_code == 200 and 'value="Renamed bot"' in saved.text
    assert await deliver_telegram(client, inbox_id, SECRET_TOKEN) == 401
    assert await deliver_telegram(client, inbox_id, "brand_new-token") == 200
    inbox = await inbox_of(rt, inbox_id)
    assert inbox.secrets["bot_token"] == BOT_TOKEN and inbox.name == "Renamed bot"


async def test_a_bad_change_is_refused_beside_its_field_and_nothing_is_saved(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    token = await as_admin(client)
    url = await added(client, world, "telegram", token)
    refused = await client.post(
        url,
        data={
            "name": "",
            "secret_token": "has spaces",
            "api_base_url": "ftp://x",
            "csrf_token": token,
        },
    )
    assert refused.status_code == 422
    for name in ("name", "secret_token", "api_base_url"):
        assert f'id="e-{name}"' in refused.text
    assert 'value="ftp://x"' in refused.text and "has spaces" not in refused.text
    inbox = await inbox_of(rt, inbox_id_of(url))
    assert inbox.name == "Our telegram" and inbox.secrets["secret_token"] == SECRET_TOKEN
    assert "api_base_url" not in inbox.config


async def test_template_edits_reach_the_whatsapp_composer_outside_the_window(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    token = await as_admin(client)
    url = await added(client, world, "whatsapp", token)
    inbox = await inbox_of(rt, inbox_id_of(url))
    inbound = await customer_writes(rt, inbox, at=utcnow() - timedelta(hours=25))
    conversation = f"/conversations/{inbound.conversation_id}"
    async with httpx.AsyncClient(transport=client._transport, base_url=client.base_url) as ana:
        await login(ana, "ana@example.test")
        before = (await ana.get(conversation)).text
        assert TEMPLATE_NOTICE in before
        assert 'order_update <span class="muted">(en_US)</span>' in before
        assert before.count('name="param"') == 2
        # Edit the first (one parameter now), add two, then remove one of those.
        saved = await client.post(
            url,
            data={
                "name": "Our whatsapp",
                "team_ids": [str(world.support.id)],  # type: ignore[attr-defined]
                "template_name": ["order_update", "hello_again", "goodbye", ""],
                "template_language": ["en_US", "es", "en", ""],
                "template_body_params": ["1", "", "0", ""],
                "template_remove": ["2"],
                "csrf_token": token,
            },
        )
        assert saved.status_code == 200, saved.text
        assert 'value="hello_again"' in saved.text and 'value="goodbye"' not in saved.text
        after = (await ana.get(conversation)).text
        assert 'hello_again <span class="muted">(es)</span>' in after
        assert "goodbye" not in after
        assert after.count('name="param"') == 1
        # Removing the last one leaves the composer with none to offer.
        await client.post(
            url,
            data={
                "name": "Our whatsapp",
                "team_ids": [str(world.support.id)],  # type: ignore[attr-defined]
                "template_name": ["order_update", "hello_again"],
                "template_language": ["en_US", "es"],
                "template_body_params": ["1", "0"],
                "template_remove": ["0", "1"],
                "csrf_token": token,
            },
        )
        emptied = (await ana.get(conversation)).text
        assert "This inbox has no approved templates listed" in emptied
    assert (await inbox_of(rt, inbox.id)).config.get("templates") is None


async def test_teams_decide_who_sees_the_inbox(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    token = await as_admin(client)
    url = await added(client, world, "sms", token)
    inbox_id = inbox_id_of(url)
    bearer = {"Authorization": f"Bearer {world.tokens['ana']}"}
    listed = await client.get("/api/v1/inboxes", headers=bearer)
    assert inbox_id in [i["id"] for i in listed.json()["inboxes"]]
    with captured_events(rt) as events:
        moved = await client.post(
            url,
            data={
                "name": "Our sms",
                "team_ids": [str(world.sales.id)],  # type: ignore[attr-defined]
                "phone_number": "+14155550100",
                "csrf_token": token,
            },
        )
    assert moved.status_code == 200
    # Support, who lost it, hear of it as well as Sales, who gained it, and the admin.
    [changed] = events
    assert changed.event.type == "inbox.access_changed"
    people = ("admin", "lead", "ana", "ben", "olga")
    assert changed.audience.agent_ids == {getattr(world, who).id for who in people}
    listed = await client.get("/api/v1/inboxes", headers=bearer)
    assert inbox_id not in [i["id"] for i in listed.json()["inboxes"]]


async def test_a_deactivated_inbox_refuses_its_webhook_until_reactivated(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    token = await as_admin(client)
    url = await added(client, world, "telegram", token)
    inbox_id = inbox_id_of(url)
    off = await client.post(f"{url}/active", data={"active": "false", "csrf_token": token})
    assert off.status_code == 303
    page = (await client.get(url)).text
    assert 'id="inactive"' in page and "Reactivate inbox" in page
    assert "(inactive)" in (await client.get("/admin/inboxes")).text
    assert await deliver_telegram(client, inbox_id, SECRET_TOKEN) == 404
    on = await client.post(f"{url}/active", data={"active": "true", "csrf_token": token})
    assert on.status_code == 303
    assert "Deactivate inbox" in (await client.get(url)).text
    assert await deliver_telegram(client, inbox_id, SECRET_TOKEN) == 200
    async with rt.read_sessions() as db:
        actions = (
            await db.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.action.like("inbox.%activated"))
                .order_by(AuditEntry.id)
            )
        ).all()
    assert actions == ["inbox.deactivated", "inbox.reactivated"]


async def test_agents_and_leads_get_403_everywhere(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    url = f"/admin/inboxes/{world.sales_inbox.id}/messaging"  # type: ignore[attr-defined]
    for who in ("lead", "ana"):
        async with httpx.AsyncClient(transport=client._transport, base_url=client.base_url) as c:
            await login(c, f"{who}@example.test")
            token = await csrf_of(c)
            assert (await c.get("/admin/inboxes/messaging/telegram")).status_code == 403
            assert (await c.get(url)).status_code == 403
            refused = [
                await add(c, world, "telegram", token),
                await c.post(url, data={"name": "Mine", "csrf_token": token}),
                await c.post(f"{url}/active", data={"active": "false", "csrf_token": token}),
            ]
            assert [r.status_code for r in refused] == [403, 403, 403]
    inbox = await inbox_of(rt, world.sales_inbox.id)  # type: ignore[attr-defined]
    assert inbox.name == "Sales WhatsApp" and inbox.is_active


async def test_every_form_needs_the_csrf_token(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    token = await as_admin(client)
    url = await added(client, world, "telegram", token)
    refused = [
        await client.post("/admin/inboxes/messaging/sms", data={"name": "x", **FORMS["sms"]}),
        await client.post(url, data={"name": "Renamed", "secret_token": "other"}),
        await client.post(f"{url}/active", data={"active": "false"}),
        await client.post(url, data={"name": "Renamed", "csrf_token": "forged"}),
    ]
    assert [r.status_code for r in refused] == [403, 403, 403, 403]
    inbox = await inbox_of(rt, inbox_id_of(url))
    assert inbox.name == "Our telegram" and inbox.is_active
    assert inbox.secrets["secret_token"] == SECRET_TOKEN


async def test_an_unknown_kind_or_another_channels_inbox_is_404(
    client: httpx.AsyncClient, world: World
) -> None:
    await as_admin(client)
    assert (await client.get("/admin/inboxes/messaging/email")).status_code == 404
    assert (await client.get("/admin/inboxes/messaging/fax")).status_code == 404
    email = f"/admin/inboxes/{world.email_inbox.id}/messaging"  # type: ignore[attr-defined]
    assert (await client.get(email)).status_code == 404
