"""Messaging inboxes for admins: Telegram, WhatsApp, Messenger, Instagram and SMS.

Each is created with the secrets its webhook checks (and the ones outbound
replies will need). Secrets are write-only: stored in the inbox's secrets,
never returned, logged or audited; the answer says only which are set.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from pydantic import Field, field_validator

from inbox.actions.inboxes import do_create_inbox
from inbox.errors import BadRequest
from inbox.models import ChannelKind, Inbox
from inbox.profiles.identities import normalise_phone

from .registry import Call, Endpoint
from .schemas import Id, InboxOut, RequestBody, ResponseBody
from .serialise import inbox_out

Secret = Annotated[str, Field(min_length=1, max_length=500)]


class _MessagingInboxIn(RequestBody):
    name: str = Field(min_length=1, max_length=200)
    team_ids: list[Id] = Field(default_factory=list, description="Teams that may see it.")


class TelegramInboxIn(_MessagingInboxIn):
    bot_token: Secret = Field(description="From @BotFather; kept for sending replies.")
    secret_token: str = Field(
        min_length=1,
        max_length=256,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="The `secret_token` you pass to `setWebhook`; Telegram sends it back "
        "in `X-Telegram-Bot-Api-Secret-Token` with every update.",
    )


class MetaInboxIn(_MessagingInboxIn):
    app_secret: Secret = Field(description="The Meta app's secret: signs every webhook POST.")
    verify_token: Secret = Field(
        description="Any string you choose, entered again in the app's webhook settings."
    )
    access_token: Secret | None = Field(default=None, description="For sending replies (later).")


class SmsInboxIn(_MessagingInboxIn):
    auth_token: Secret = Field(description="The Twilio account's auth token: signs webhooks.")
    phone_number: str = Field(
        min_length=1, max_length=64, description="The Twilio number, stored in E.164."
    )

    @field_validator("phone_number")
    @classmethod
    def _e164(cls, value: str) -> str:
        try:
            return normalise_phone(value)
        except BadRequest as exc:
            raise ValueError(exc.message) from exc


class MessagingInboxOut(ResponseBody):
    inbox: InboxOut
    webhook_path: str = Field(description="Where the provider must send its webhooks.")
    secrets_set: list[str] = Field(description="Which secrets are stored; never their values.")
    phone_number: str | None = Field(description="The SMS number; null for other channels.")


def _out(inbox: Inbox) -> MessagingInboxOut:
    number = inbox.config.get("phone_number")
    return MessagingInboxOut(
        inbox=inbox_out(inbox),
        webhook_path=f"/webhooks/{inbox.channel.value}/{inbox.id}",
        secrets_set=sorted(name for name, value in inbox.secrets.items() if value),
        phone_number=number if isinstance(number, str) else None,
    )


async def _create(
    call: Call, body: _MessagingInboxIn, channel: ChannelKind, config: dict[str, str]
) -> MessagingInboxOut:
    secret_names = set(type(body).model_fields) - set(_MessagingInboxIn.model_fields)
    secret_names -= set(config)
    secrets = {name: value for name in sorted(secret_names) if (value := getattr(body, name))}
    inbox = await do_create_inbox(
        call.rt,
        call.agent,
        name=body.name,
        channel=channel,
        config=config,
        secrets=secrets,
        team_ids=list(body.team_ids),
    )
    return _out(inbox)


async def create_telegram_inbox(call: Call) -> MessagingInboxOut:
    """Add a Telegram bot inbox (admins). Tokens are stored, never returned or logged."""
    return await _create(call, call.body_as(TelegramInboxIn), ChannelKind.TELEGRAM, {})


def _meta(channel: ChannelKind) -> Callable[[Call], Awaitable[MessagingInboxOut]]:
    async def create(call: Call) -> MessagingInboxOut:
        return await _create(call, call.body_as(MetaInboxIn), channel, {})

    create.__name__ = f"create_{channel.value}_inbox"
    create.__doc__ = (
        f"Add a {channel.value} inbox (admins). Secrets are stored, never returned or logged."
    )
    return create


async def create_sms_inbox(call: Call) -> MessagingInboxOut:
    """Add a Twilio SMS inbox (admins). The auth token is stored, never returned or logged."""
    body = call.body_as(SmsInboxIn)
    return await _create(call, body, ChannelKind.SMS, {"phone_number": body.phone_number})


def _endpoint(
    channel: ChannelKind,
    summary: str,
    handler: Callable[[Call], Awaitable[MessagingInboxOut]],
    body: type[_MessagingInboxIn],
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
        ChannelKind.WHATSAPP, "Add a WhatsApp inbox", _meta(ChannelKind.WHATSAPP), MetaInboxIn
    ),
    _endpoint(
        ChannelKind.MESSENGER, "Add a Messenger inbox", _meta(ChannelKind.MESSENGER), MetaInboxIn
    ),
    _endpoint(
        ChannelKind.INSTAGRAM, "Add an Instagram inbox", _meta(ChannelKind.INSTAGRAM), MetaInboxIn
    ),
    _endpoint(ChannelKind.SMS, "Add a Twilio SMS inbox", create_sms_inbox, SmsInboxIn),
]
