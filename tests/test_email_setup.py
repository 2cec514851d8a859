"""Admins set up email inboxes through the API; passwords go in and never come out."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from inbox.actions.mail import do_quarantine_mail, do_save_checkpoint
from inbox.models import AuditEntry, Inbox
from inbox.runtime import Runtime
from tests.conftest import World
from tests.test_api_support import bearer

PASSWORD = "imap-pass-7Qx!"


def settings(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Support email",
        "config": {
            "address": "Support@Shop.test",
            "display_name": "Shop support",
            "imap": {"host": "imap.shop.test", "port": 993, "security": "ssl", "username": "s"},
            "smtp": {"host": "smtp.shop.test", "port": 587, "security": "starttls"},
        },
        "secrets": {"imap_password": PASSWORD},
        "team_ids": [],
    }
    body.update(changes)
    return body


async def test_an_admin_adds_an_email_inbox_and_the_password_never_comes_back(
    client: httpx.AsyncClient, rt: Runtime, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    created = await client.post(
        "/api/v1/inboxes/email",
        json=settings(team_ids=[world.support.id]),
        headers=bearer(world, "admin"),
    )
    assert created.status_code == 201, created.text
    answer = created.json()
    assert answer["config"]["address"] == "support@shop.test"
    assert answer["config"]["folder"] == "INBOX" and answer["config"]["max_message_mb"] == 25
    assert answer["passwords_set"] == {"imap": True, "smtp": False}
    inbox_id = answer["inbox"]["id"]
    read = await client.get(
        f"/api/v1/inboxes/{inbox_id}/email-settings", headers=bearer(world, "admin")
    )
    assert read.status_code == 200 and read.json() == answer
    async with rt.read_sessions() as db:
        inbox = await db.get(Inbox, inbox_id)
        audit = (await db.scalars(select(AuditEntry))).all()
    assert inbox is not None and inbox.secrets == {"imap_password": PASSWORD}
    for text in (created.text, read.text, caplog.text, repr([a.data for a in audit])):
        assert PASSWORD not in text
    # Ana is in the team: the new inbox is hers to see.
    mine = await client.get("/api/v1/inboxes", headers=bearer(world, "ana"))
    assert inbox_id in [i["id"] for i in mine.json()["inboxes"]]


async def test_only_admins_may(client: httpx.AsyncClient, world: World) -> None:
    for who in ("lead", "ana"):
        refused = await client.post(
            "/api/v1/inboxes/email", json=settings(), headers=bearer(world, who)
        )
        assert refused.status_code == 403, refused.text


@pytest.mark.parametrize(
    ("path", "value", "says"),
    [
        (("config", "imap", "port"), 0, "greater than or equal to 1"),
        (("config", "imap", "port"), "993", "valid integer"),
        (("config", "smtp", "host"), "smtp://smtp.shop.test", "host name"),
        (("config", "address"), "not-an-address", "not an email address"),
        (("config", "display_name"), "Shop\r\nBcc: x@evil.test", "one line"),
        (("config", "folder"), "IN\x00BOX", "control characters"),
        (("config", "imap", "security"), "tls-please", "ssl"),
    ],
)
async def test_bad_settings_are_refused_with_the_field_and_reason(
    client: httpx.AsyncClient, world: World, path: tuple[str, ...], value: Any, says: str
) -> None:
    body = settings()
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    refused = await client.post("/api/v1/inboxes/email", json=body, headers=bearer(world, "admin"))
    assert refused.status_code == 422, refused.text
    assert says in refused.text and ".".join(path) in refused.text


async def test_the_imap_password_is_required(client: httpx.AsyncClient, world: World) -> None:
    refused = await client.post(
        "/api/v1/inboxes/email", json=settings(secrets={}), headers=bearer(world, "admin")
    )
    assert refused.status_code == 400 and "imap_password" in refused.text


async def test_a_blank_password_keeps_the_stored_one(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    admin = bearer(world, "admin")
    created = (await client.post("/api/v1/inboxes/email", json=settings(), headers=admin)).json()
    inbox_id = created["inbox"]["id"]
    config = {**created["config"], "folder": "Support"}
    changed = await client.post(
        f"/api/v1/inboxes/{inbox_id}/email-settings",
        json={"config": config, "secrets": {"imap_password": "", "smtp_password": "smtp-pass"}},
        headers=admin,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["config"]["folder"] == "Support"
    assert changed.json()["passwords_set"] == {"imap": True, "smtp": True}
    async with rt.read_sessions() as db:
        inbox = await db.get(Inbox, inbox_id)
    assert inbox is not None
    assert inbox.secrets == {"imap_password": PASSWORD, "smtp_password": "smtp-pass"}


async def test_health_shows_each_folder_and_the_quarantine(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    admin = bearer(world, "admin")
    created = (await client.post("/api/v1/inboxes/email", json=settings(), headers=admin)).json()
    inbox_id = created["inbox"]["id"]
    await do_save_checkpoint(
        rt, inbox_id, "INBOX", uidvalidity=1, last_uid=12, highest_modseq=None, synced=12
    )
    await do_quarantine_mail(
        rt, inbox_id, folder="INBOX", uid=9, raw_sha256=None, size=10, error="no headers"
    )
    health = await client.get(f"/api/v1/inboxes/{inbox_id}/mail-health", headers=admin)
    assert health.status_code == 200, health.text
    (folder,) = health.json()["folders"]
    assert folder["folder"] == "INBOX" and folder["messages_synced"] == 12
    assert folder["last_error"] is None and health.json()["quarantined"] == 1
    # Not an email inbox: not found, like an absent one.
    other = await client.get(f"/api/v1/inboxes/{world.chat_inbox.id}/mail-health", headers=admin)
    assert other.status_code == 404
