"""What the sending and receipt tests share: a stand-in provider, messaging
inboxes pointed at it, a customer's conversation, and one sending pass."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from inbox.actions.messages import do_post_reply
from inbox.channels.base import InboundMessage
from inbox.channels.ingest import ingest
from inbox.channels.provider_sender import make_client, send_due
from inbox.models import ChannelKind, Delivery, IdentityKind, Inbox, Message, OutboundSend, utcnow
from inbox.profiles.identities import ref
from inbox.runtime import Runtime
from tests.conftest import World
from tests.provider_standin import StandIn, provider_standin
from tests.webhook_support import make_inbox

BOT_TOKEN = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
ACCESS_TOKEN = "EAAGm0PX4ZCpsBAKZBZCtestPageAccessTokenZDZD"
APP_SECRET = "d3b07384d113edec49eaa6238ad5ff00"
AUTH_TOKEN = "12345678901234567890123456789012"
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
SIGNING_SECRET = "whsec_api_channel_signing_secret_0001"
PHONE_NUMBER_ID = "106540352242922"
SECRETS = (BOT_TOKEN, ACCESS_TOKEN, APP_SECRET, AUTH_TOKEN, SIGNING_SECRET)

# The identity each channel's customer writes with.
CUSTOMERS = {
    ChannelKind.TELEGRAM: (IdentityKind.TELEGRAM, "123456789"),
    ChannelKind.WHATSAPP: (IdentityKind.WHATSAPP, "+16505551234"),
    ChannelKind.MESSENGER: (IdentityKind.MESSENGER, "6543210987654321"),
    ChannelKind.INSTAGRAM: (IdentityKind.INSTAGRAM, "17841400000000001"),
    ChannelKind.SMS: (IdentityKind.PHONE, "+14155550123"),
    ChannelKind.API: (IdentityKind.API, "user-8812"),
}
TEMPLATES = [
    {"name": "order_update", "language": "en_US", "body_params": 2},
    {"name": "hello_again", "language": "es", "body_params": 0},
]


@pytest.fixture
async def standin() -> AsyncIterator[StandIn]:
    async with provider_standin() as running:
        yield running


async def messaging_inbox(rt: Runtime, world: World, channel: ChannelKind, base_url: str) -> Inbox:
    """An inbox of `channel`, set up for sending, with its provider API at `base_url`."""
    secrets: dict[str, str]
    config: dict[str, Any] = {"api_base_url": base_url}
    if channel is ChannelKind.TELEGRAM:
        secrets = {"bot_token": BOT_TOKEN, "secret_token": "tg-secret"}
    elif channel is ChannelKind.SMS:
        secrets = {"auth_token": AUTH_TOKEN}
        config |= {"phone_number": "+14155550100", "account_sid": ACCOUNT_SID}
    elif channel is ChannelKind.API:
        secrets = {"signing_secret": SIGNING_SECRET}
        config = {"outbound_webhook_url": f"{base_url}/hook"}
    else:
        secrets = {"app_secret": APP_SECRET, "verify_token": "vt", "access_token": ACCESS_TOKEN}
        if channel is ChannelKind.WHATSAPP:
            config |= {"phone_number_id": PHONE_NUMBER_ID, "templates": TEMPLATES}
    return await make_inbox(rt, world, channel, secrets, **config)


async def customer_writes(
    rt: Runtime, inbox: Inbox, *, at: datetime | None = None, text: str = "Hello?"
) -> Message:
    """The channel's customer writes to `inbox` (at `at`, by default now)."""
    kind, value = CUSTOMERS[inbox.channel]
    received = await ingest(
        rt,
        InboundMessage(
            inbox_id=inbox.id,
            external_id=f"in-{inbox.id}-{text}-{at}",
            identities=(ref(kind, value),),
            text=text,
            sender_name="Maria Lopez",
            received_at=at or utcnow(),
        ),
    )
    return received.message


async def reply(rt: Runtime, world: World, conversation_id: int, text: str) -> Message:
    return await do_post_reply(rt, world.ana, conversation_id, text)  # type: ignore[arg-type]


async def replied(
    rt: Runtime, world: World, standin: StandIn, channel: ChannelKind, text: str
) -> tuple[Inbox, Message]:
    """A `channel` inbox at the stand-in, a customer who just wrote, and Ana's queued reply."""
    inbox = await messaging_inbox(rt, world, channel, standin.base_url)
    inbound = await customer_writes(rt, inbox)
    return inbox, await reply(rt, world, inbound.conversation_id, text)


async def send_pass(rt: Runtime, inbox: Inbox) -> int:
    """One pass of the worker's sender for this inbox, with its real client."""
    async with make_client(rt, inbox.channel) as client:
        return await send_due(rt, inbox.id, client)


async def message(rt: Runtime, message_id: int) -> Message:
    async with rt.read_sessions() as db:
        found = await db.get(Message, message_id)
    assert found is not None
    return found


async def state(rt: Runtime, message_id: int) -> tuple[Delivery | None, str | None]:
    found = await message(rt, message_id)
    return found.delivery, found.delivery_error


async def queued_row(rt: Runtime, message_id: int) -> OutboundSend:
    async with rt.read_sessions() as db:
        row = await db.get(OutboundSend, message_id)
    assert row is not None
    return row


async def time_passes(rt: Runtime, by: timedelta) -> None:
    """Every queued send's next attempt comes `by` sooner (instead of sleeping)."""
    async with rt.engine.begin() as conn:
        rows = (await conn.execute(OutboundSend.__table__.select())).mappings().all()
        for row in rows:
            await conn.execute(
                update(OutboundSend)
                .where(OutboundSend.message_id == row["message_id"])
                .values(next_attempt_at=row["next_attempt_at"] - by)
            )


def with_settings(rt: Runtime, **changes: Any) -> None:
    rt.settings = dataclasses.replace(rt.settings, **changes)
