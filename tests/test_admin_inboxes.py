"""The admin pages for email inboxes: add, fix mistakes in place, change settings, see health."""

from __future__ import annotations

from typing import Any

import httpx

from inbox.actions.mail import do_quarantine_mail, do_record_sync_error
from inbox.models import Inbox
from inbox.runtime import Runtime
from tests.conftest import World, csrf_of, login

PASSWORD = "imap-secret-93!"


def form(**changes: str) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": "Orders",
        "address": "orders@shop.test",
        "display_name": "Shop orders",
        "imap_host": "imap.shop.test",
        "imap_port": "993",
        "imap_security": "ssl",
        "imap_username": "orders",
        "imap_password": PASSWORD,
        "folder": "INBOX",
        "smtp_host": "smtp.shop.test",
        "smtp_port": "587",
        "smtp_security": "starttls",
        "smtp_username": "orders",
        "smtp_password": "",
        "max_message_mb": "25",
    }
    values.update(changes)
    return values


async def as_admin(client: httpx.AsyncClient) -> str:
    await login(client, "admin@example.test")
    return await csrf_of(client)


async def test_an_admin_adds_an_email_inbox_from_the_page(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    token = await as_admin(client)
    page = await client.get("/admin/inboxes")
    assert page.status_code == 200 and "Add an email inbox" in page.text
    added = await client.post(
        "/admin/inboxes/email",
        data={**form(), "team_ids": [str(world.support.id)], "csrf_token": token},
    )
    assert added.status_code == 303, added.text
    settings_page = await client.get(added.headers["location"])
    assert settings_page.status_code == 200
    assert 'value="imap.shop.test"' in settings_page.text
    assert "Stored; leave blank to keep it." in settings_page.text
    assert PASSWORD not in settings_page.text
    inbox_id = int(added.headers["location"].rsplit("/", 1)[1])
    async with rt.read_sessions() as db:
        inbox = await db.get(Inbox, inbox_id)
    assert inbox is not None and inbox.secrets == {"imap_password": PASSWORD}


async def test_mistakes_come_back_beside_their_fields_and_passwords_never_do(
    client: httpx.AsyncClient, world: World
) -> None:
    token = await as_admin(client)
    refused = await client.post(
        "/admin/inboxes/email",
        data={**form(imap_port="99999", address="nope", smtp_host="smtp://x"), "csrf_token": token},
    )
    assert refused.status_code == 422
    text = refused.text
    assert 'id="e-imap_port"' in text and "less than or equal to 65535" in text
    assert "not an email address" in text and "host name" in text
    assert 'value="imap.shop.test"' in text  # what was typed is kept...
    assert PASSWORD not in text  # ...except the password


async def test_settings_change_and_a_blank_password_keeps_the_stored_one(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    token = await as_admin(client)
    added = await client.post("/admin/inboxes/email", data={**form(), "csrf_token": token})
    url = added.headers["location"]
    saved = await client.post(
        url, data={**form(folder="Support", imap_password=""), "csrf_token": token}
    )
    assert saved.status_code == 200 and "Saved." in saved.text
    assert 'value="Support"' in saved.text
    inbox_id = int(url.rsplit("/", 1)[1])
    async with rt.read_sessions() as db:
        inbox = await db.get(Inbox, inbox_id)
    assert inbox is not None and inbox.secrets["imap_password"] == PASSWORD
    assert inbox.config["folder"] == "Support"


async def test_health_and_quarantine_show_on_the_inbox_page(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    token = await as_admin(client)
    added = await client.post("/admin/inboxes/email", data={**form(), "csrf_token": token})
    url = added.headers["location"]
    inbox_id = int(url.rsplit("/", 1)[1])
    await do_record_sync_error(rt, inbox_id, "INBOX", "login refused by imap.shop.test")
    await do_quarantine_mail(
        rt, inbox_id, folder="INBOX", uid=7, raw_sha256=None, size=31, error="no headers at all"
    )
    page = (await client.get(url)).text
    assert "login refused by imap.shop.test" in page and "no headers at all" in page
    assert "1 message in quarantine." in page
    listing = (await client.get("/admin/inboxes")).text
    assert "failing: login refused" in listing


async def test_agents_and_leads_get_no_admin_pages(client: httpx.AsyncClient, world: World) -> None:
    for who in ("lead", "ana"):
        async with httpx.AsyncClient(transport=client._transport, base_url=client.base_url) as c:
            await login(c, f"{who}@example.test")
            assert (await c.get("/admin/inboxes")).status_code == 403
            token = await csrf_of(c)
            refused = await c.post("/admin/inboxes/email", data={**form(), "csrf_token": token})
            assert refused.status_code == 403


async def test_an_email_inbox_not_set_up_yet_shows_an_empty_form(
    client: httpx.AsyncClient, world: World
) -> None:
    # The world's email inbox was made without settings, as the demo's are.
    await as_admin(client)
    page = await client.get(f"/admin/inboxes/{world.email_inbox.id}")
    assert page.status_code == 200
    assert "no server settings yet" in page.text
    api = await client.get(f"/api/v1/inboxes/{world.email_inbox.id}/email-settings")
    assert api.status_code == 200 and api.json()["config"] is None
