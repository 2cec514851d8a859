"""Messaging inboxes for admins: Telegram, WhatsApp, Messenger, Instagram, SMS and API.

Each is created with the secrets its webhook checks and the ones replies are
sent with, plus the non-secret settings sending needs (WhatsApp's phone
number id and templates, Twilio's account SID, the API channel's outbound
webhook URL, a stand-in `api_base_url`). Secrets are write-only: stored in
the inbox's secrets, never returned, logged or audited; the answer says only
which are set. The inputs are shared with the admin pages
(`inbox.channels.messaging_settings`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import Field

from inbox.actions.messaging_inboxes import do_create_messaging_inbox
from inbox.channels.messaging_settings import (
    CONFIG_FIELDS,
    INPUTS,
    ApiInboxIn,
    MessagingInboxIn,
    MetaInboxIn,
    SmsInboxIn,
    TelegramInboxIn,
    WhatsAppInboxIn,
    webhook_path,
)
from inbox.models import ChannelKind, Inbox

from .registry import Call, Endpoint
from .schemas import InboxOut, ResponseBody
from .serialise import inbox_out

__all__ = ["ApiInboxIn", "MetaInboxIn", "SmsInboxIn", "TelegramInboxIn", "WhatsAppInboxIn"]


class MessagingInboxOut(ResponseBody):
    inbox: InboxOut
    webhook_path: str = Field(description="Where the provider must send its webhooks.")
    secrets_set: list[str] = Field(description="Which secrets are stored; never their values.")
    phone_number: str | None = Field(description="The SMS number; null for other channels.")
    settings: dict[str, Any] = Field(
        description="The non-secret settings stored (phone_number_id, templates, account_sid, "
        "outbound_webhook_url, api_base_url, …)."
    )


def _out(inbox: Inbox) -> MessagingInboxOut:
    number = inbox.config.get("phone_number")
    return MessagingInboxOut(
        inbox=inbox_out(inbox),
        webhook_path=webhook_path(inbox),
        secrets_set=sorted(name for name, value in inbox.secrets.items() if value),
        phone_number=number if isinstance(number, str) else None,
        settings={k: v for k, v in inbox.config.items() if k in CONFIG_FIELDS},
    )


async def _create(call: Call, body: MessagingInboxIn, channel: ChannelKind) -> MessagingInboxOut:
    return _out(await do_create_messaging_inbox(call.rt, call.agent, channel, body))


async def create_telegram_inbox(call: Call) -> MessagingInboxOut:
    """Add a Telegram bot inbox (admins). Tokens are stored, never returned or logged."""
    return await _create(call, call.body_as(TelegramInboxIn), ChannelKind.TELEGRAM)


def _meta(channel: ChannelKind) -> Callable[[Call], Awaitable[MessagingInboxOut]]:
    model = INPUTS[channel]

    async def create(call: Call) -> MessagingInboxOut:
        return await _create(call, call.body_as(model), channel)

    create.__name__ = f"create_{channel.value}_inbox"
    create.__doc__ = (
        f"Add a {channel.value} inbox (admins). Secrets are stored, never returned or logged."
    )
    return create


async def create_sms_inbox(call: Call) -> MessagingInboxOut:
    """Add a Twilio SMS inbox (admins). The auth token is stored, never returned or logged."""
    return await _create(call, call.body_as(SmsInboxIn), ChannelKind.SMS)


async def create_api_inbox(call: Call) -> MessagingInboxOut:
    """Add an API channel inbox (admins). The signing secret is stored, never returned."""
    return await _create(call, call.body_as(ApiInboxIn), ChannelKind.API)


def _endpoint(
    channel: ChannelKind,
    summary: str,
    handler: Callable[[Call], Awaitable[MessagingInboxOut]],
    body: type[MessagingInboxIn],
) -> Endpoint:
    return Endpoint(
        "POST",
        f"/inboxes/{channel.value}",
        summary,
        handler,
        MessagingInboxOut,
        tag="messaging",
        status=201,
        body=body,
        errors=(403, 404),
    )


ENDPOINTS = [
    _endpoint(ChannelKind.TELEGRAM, "Add a Telegram inbox", create_telegram_inbox, TelegramInboxIn),
    _endpoint(
        ChannelKind.WHATSAPP, "Add a WhatsApp inbox", _meta(ChannelKind.WHATSAPP), WhatsAppInboxIn
    ),
    _endpoint(
        ChannelKind.MESSENGER, "Add a Messenger inbox", _meta(ChannelKind.MESSENGER), MetaInboxIn
    ),
    _endpoint(
        ChannelKind.INSTAGRAM, "Add an Instagram inbox", _meta(ChannelKind.INSTAGRAM), MetaInboxIn
    ),
    _endpoint(ChannelKind.SMS, "Add a Twilio SMS inbox", create_sms_inbox, SmsInboxIn),
    _endpoint(ChannelKind.API, "Add an API channel inbox", create_api_inbox, ApiInboxIn),
]
