"""The email sending queue: retries with growing delays, giving up with the reason shown."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from starlette.applications import Starlette

from inbox.actions.backoff import MAX_ATTEMPTS, retry_delay
from inbox.actions.inboxes import do_update_email_settings
from inbox.actions.messages import do_post_reply
from inbox.actions.outbound_mail import do_mark_email_failed, do_mark_email_sent, due_emails
from inbox.channels.email.sender import send_due
from inbox.channels.email.settings import EmailConfig, EmailSecrets, smtp_settings
from inbox.channels.email.smtp_send import SmtpSettings
from inbox.channels.ingest import ingest
from inbox.models import Delivery, Inbox, Message, utcnow
from inbox.runtime import Runtime
from tests.conftest import World
from tests.helpers import captured_events, inbound
from tests.live import serve
from tests.test_live_ui import oob, recv, signed_in

SETTINGS = EmailConfig.model_validate(
    {
        "address": "support@shop.test",
        "display_name": "Shop support",
        "imap": {"host": "127.0.0.1", "port": 1143, "security": "none"},
        "smtp": {"host": "127.0.0.1", "port": 1025, "security": "none"},
    }
)


async def set_up_email(rt: Runtime, world: World) -> None:
    await do_update_email_settings(
        rt, world.admin, world.email_inbox.id, SETTINGS, EmailSecrets(imap_password="pw")
    )


async def send_through(rt: Runtime, world: World, server: SmtpSettings) -> int:
    """One sending pass of the email inbox, with its own settings pointed at the
    test server (which takes no login); how many went out."""
    async with rt.read_sessions() as db:
        inbox = await db.get(Inbox, world.email_inbox.id)
    assert inbox is not None
    settings = replace(
        smtp_settings(SETTINGS, inbox.secrets),
        host=server.host,
        port=server.port,
        username=None,
        password=None,
    )
    return await send_due(rt, world.email_inbox.id, settings, rt.blobs)


async def queued_reply(rt: Runtime, world: World) -> int:
    await set_up_email(rt, world)
    received = await ingest(rt, inbound(world.email_inbox.id, email="maria@example.test"))
    reply = await do_post_reply(rt, world.ana, received.message.conversation_id, "It ships today.")
    return reply.id


async def delivery_of(rt: Runtime, message_id: int) -> tuple[Delivery | None, str | None]:
    async with rt.read_sessions() as db:
        message = await db.get(Message, message_id)
    assert message is not None
    return message.delivery, message.delivery_error


async def test_sent_once_and_told_live(rt: Runtime, world: World) -> None:
    message_id = await queued_reply(rt, world)
    async with rt.read_sessions() as db:
        assert [q.message_id for q in await due_emails(db, utcnow())] == [message_id]
    with captured_events(rt) as events:
        await do_mark_email_sent(rt, message_id)
        await do_mark_email_sent(rt, message_id)  # a late duplicate report changes nothing
    assert await delivery_of(rt, message_id) == (Delivery.SENT, None)
    assert [p.event.type for p in events] == ["message.delivery_changed"]
    async with rt.read_sessions() as db:
        assert await due_emails(db, utcnow()) == []


async def test_a_transient_failure_waits_longer_each_time_then_gives_up(
    rt: Runtime, world: World
) -> None:
    message_id = await queued_reply(rt, world)
    assert retry_delay(1) == timedelta(seconds=30) and retry_delay(2) == timedelta(minutes=1)
    assert retry_delay(50) == timedelta(hours=1)
    assert not await do_mark_email_failed(rt, message_id, "451 try later", permanent=False)
    async with rt.read_sessions() as db:
        assert await due_emails(db, utcnow()) == []  # not before its delay
        assert len(await due_emails(db, utcnow() + timedelta(seconds=31))) == 1
    assert await delivery_of(rt, message_id) == (Delivery.QUEUED, None)
    for _ in range(MAX_ATTEMPTS - 2):
        assert not await do_mark_email_failed(rt, message_id, "451 try later", permanent=False)
    assert await do_mark_email_failed(rt, message_id, "451 try later", permanent=False)
    assert await delivery_of(rt, message_id) == (Delivery.FAILED, "451 try later")
    async with rt.read_sessions() as db:
        assert await due_emails(db, utcnow() + timedelta(days=30)) == []


async def test_a_permanent_failure_is_shown_at_once(rt: Runtime, world: World) -> None:
    message_id = await queued_reply(rt, world)
    reason = "recipients refused (maria@example.test: 550 No such user)"
    with captured_events(rt) as events:
        assert await do_mark_email_failed(rt, message_id, reason, permanent=True)
    assert await delivery_of(rt, message_id) == (Delivery.FAILED, reason)
    (changed,) = events
    assert changed.event.delivery == "failed"  # type: ignore[attr-defined]
    assert changed.audience.agent_ids >= {world.ana.id, world.ben.id}
    assert world.olga.id not in changed.audience.agent_ids


async def test_the_conversation_page_shows_the_failure_live(
    rt: Runtime, world: World, app: Starlette
) -> None:
    message_id = await queued_reply(rt, world)
    async with rt.read_sessions() as db:
        message = await db.get(Message, message_id)
    assert message is not None
    async with (
        serve(app) as base_url,
        signed_in(base_url, "ben") as ben,
        ben.watch(f"/conversations/{message.conversation_id}") as page,
    ):
        await do_mark_email_failed(rt, message_id, "550 No such user", permanent=True)
        redrawn = await recv(page)
    assert ("true", f"m-{message_id}") in oob(redrawn)
    assert "Not delivered: 550 No such user" in redrawn
