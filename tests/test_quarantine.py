"""Held emails: an admin takes one in after all, dismisses it, or downloads its raw bytes."""

from __future__ import annotations

import httpx
import pytest

from inbox.actions.mail import do_quarantine_mail
from inbox.actions.quarantine import do_dismiss_quarantined, do_reprocess_quarantined
from inbox.errors import Conflict, Forbidden
from inbox.models import Message, QuarantinedMail
from inbox.runtime import Runtime
from tests.conftest import World, csrf_of, login
from tests.helpers import captured_events

GOOD = (
    b"From: Maria Lopez <maria@example.test>\r\nTo: support@shop.test\r\n"
    b"Subject: Big photo\r\nMessage-ID: <big-1@example.test>\r\n\r\nHere it is.\r\n"
)
NOBODY = b"To: support@shop.test\r\nSubject: who\r\n\r\nno sender\r\n"


async def hold(rt: Runtime, world: World, raw: bytes, error: str) -> int:
    sha = rt.blobs.put(raw)
    held = await do_quarantine_mail(
        rt, world.email_inbox.id, folder="INBOX", uid=4, raw_sha256=sha, size=len(raw), error=error
    )
    return held.id


async def test_reprocessing_takes_a_held_email_in_once_the_cause_is_gone(
    rt: Runtime, world: World
) -> None:
    # Held under an older, smaller limit; the inbox's limit now lets it in.
    held_id = await hold(rt, world, GOOD, "larger than the 1 MB limit")
    with captured_events(rt) as events:
        outcome = await do_reprocess_quarantined(rt, world.admin, held_id)
    assert outcome.message_id is not None and outcome.reason is None
    async with rt.read_sessions() as db:
        message = await db.get(Message, outcome.message_id)
        held = await db.get(QuarantinedMail, held_id)
    assert message is not None and message.text.strip() == "Here it is."
    assert held is not None and held.resolution == "reprocessed"
    assert held.message_id == outcome.message_id
    resolved = [p for p in events if p.event.type == "mail.quarantine_resolved"]
    assert [p.audience.agent_ids for p in resolved] == [frozenset({world.admin.id})]
    with pytest.raises(Conflict):
        await do_reprocess_quarantined(rt, world.admin, held_id)


async def test_what_still_cannot_be_taken_in_stays_held_with_the_reason(
    rt: Runtime, world: World
) -> None:
    held_id = await hold(rt, world, NOBODY, "old reason")
    outcome = await do_reprocess_quarantined(rt, world.admin, held_id)
    assert outcome.message_id is None and outcome.reason == "it names no sender address"
    async with rt.read_sessions() as db:
        held = await db.get(QuarantinedMail, held_id)
    assert held is not None and held.resolved_at is None
    assert held.error == "it names no sender address"


async def test_dismissing_keeps_the_bytes_and_only_admins_may(rt: Runtime, world: World) -> None:
    held_id = await hold(rt, world, NOBODY, "no sender")
    with pytest.raises(Forbidden):
        await do_dismiss_quarantined(rt, world.lead, held_id)
    await do_dismiss_quarantined(rt, world.admin, held_id)
    async with rt.read_sessions() as db:
        held = await db.get(QuarantinedMail, held_id)
    assert held is not None and held.resolution == "dismissed"
    assert held.raw_sha256 is not None and rt.blobs.exists(held.raw_sha256)


async def test_the_inbox_page_reprocesses_and_serves_the_raw_bytes_inertly(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    held_id = await hold(rt, world, GOOD, "larger than the 1 MB limit")
    await login(client, "admin@example.test")
    token = await csrf_of(client)
    page = await client.get(f"/admin/inboxes/{world.email_inbox.id}")
    assert f"/admin/quarantine/{held_id}/reprocess" in page.text
    raw = await client.get(f"/admin/quarantine/{held_id}/raw")
    assert raw.status_code == 200 and raw.content == GOOD
    assert raw.headers["content-type"] == "application/octet-stream"
    assert raw.headers["content-disposition"].startswith("attachment;")
    assert raw.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in raw.headers["content-security-policy"]
    done = await client.post(f"/admin/quarantine/{held_id}/reprocess", data={"csrf_token": token})
    assert done.status_code == 200 and "Taken in: it is message #" in done.text
    assert f'id="quarantined-{held_id}"' not in done.text
    again = await client.post(f"/admin/quarantine/{held_id}/dismiss", data={"csrf_token": token})
    assert again.status_code == 409


async def test_agents_get_no_quarantine(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    held_id = await hold(rt, world, GOOD, "x")
    await login(client, "ana@example.test")
    assert (await client.get(f"/admin/quarantine/{held_id}/raw")).status_code == 403
