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
from typing import Annotated, Any

from pydantic import BaseModel, Field, create_model

from inbox.actions.agents import check_admin
from inbox.actions.messaging_inboxes import do_create_messaging_inbox, do_update_messaging_inbox
from inbox.channels.messaging_settings import (
    CONFIG_FIELDS,
    INPUTS,
    ApiInboxIn,
    MessagingInboxIn,
    MetaInboxIn,
    SmsInboxIn,
    TelegramInboxIn,
    WhatsAppInboxIn,
    secret_names,
    webhook_path,
    with_stored_secrets,
)
from inbox.errors import NotFound
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


def update_input(model: type[MessagingInboxIn]) -> type[MessagingInboxIn]:
    """`model` for a change of settings: every secret may be left out, to keep it."""
    optional: dict[str, Any] = {}
    for name in secret_names(model):
        info = model.model_fields[name]
        kept = f"{info.description or ''} Leave it out to keep the stored one.".strip()
        annotation: Any = info.annotation
        if info.metadata:  # the field's own limits (length, pattern) still apply
            annotation = Annotated[annotation, *info.metadata]
        optional[name] = (annotation | None, Field(default=None, description=kept))
    return create_model(f"{model.__name__.removesuffix('In')}Update", __base__=model, **optional)


UPDATES = {channel: update_input(model) for channel, model in INPUTS.items()}


def _change(channel: ChannelKind) -> Callable[[Call], Awaitable[MessagingInboxOut]]:
    model = UPDATES[channel]

    async def change(call: Call) -> MessagingInboxOut:
        check_admin(call.agent)  # before the lookup: others can't probe which ids exist
        inbox_id = call.path_id("inbox")
        body: BaseModel = call.body_as(model)
        async with call.rt.read_sessions() as db:
            inbox = await db.get(Inbox, inbox_id)
        if inbox is None or inbox.channel is not channel:
            raise NotFound(f"no {channel.value} inbox with this id")
        given = body.model_dump(mode="json", exclude_none=True)
        replaced = [name for name in secret_names(INPUTS[channel]) if name in given]
        full = with_stored_secrets(channel, given, inbox.secrets)
        return _out(await do_update_messaging_inbox(call.rt, call.agent, inbox_id, full, replaced))

    change.__name__ = f"update_{channel.value}_inbox"
    change.__doc__ = (
        f"Change a {channel.value} inbox's settings (admins): name, teams and settings as "
        "given (a setting left out is cleared); of its secrets, only those given are "
        "replaced. Secrets are never returned or logged."
    )
    return change


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
    *(
        Endpoint(
            "POST",
            f"/inboxes/{channel.value}/{{id:int}}",
            f"Change a {channel.value} inbox's settings",
            _change(channel),
            MessagingInboxOut,
            tag="messaging",
            body=UPDATES[channel],
            errors=(403, 404),
        )
        for channel in INPUTS
    ),
]
