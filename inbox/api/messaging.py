"""Messaging inboxes for admins: Telegram, WhatsApp, Messenger, Instagram, SMS and API.

Each is created with the secrets its webhook checks and the ones replies are
sent with, plus the non-secret settings sending needs (WhatsApp's phone
number id and templates, Twilio's account SID, the API channel's outbound
webhook URL, a stand-in `api_base_url`). Secrets are write-only: stored in
the inbox's secrets, never returned, logged or audited; the answer says only
which are set.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from pydantic import Field, HttpUrl, field_validator

from inbox.actions.inboxes import do_create_inbox
from inbox.channels.reply_windows import TemplateSpec
from inbox.errors import BadRequest
from inbox.models import ChannelKind, Inbox
from inbox.profiles.identities import normalise_phone

from .registry import Call, Endpoint
from .schemas import Id, InboxOut, RequestBody, ResponseBody
from .serialise import inbox_out

Secret = Annotated[str, Field(min_length=1, max_length=500)]
Url = Annotated[HttpUrl, Field(max_length=500)]
# Settings kept in the inbox's (non-secret) config; every other field of an
# input below, beyond name and teams, is a secret.
CONFIG_FIELDS = (
    "phone_number",
    "phone_number_id",
    "graph_api_version",
    "templates",
    "account_sid",
    "outbound_webhook_url",
    "api_base_url",
)


class _MessagingInboxIn(RequestBody):
    name: str = Field(min_length=1, max_length=200)
    team_ids: list[Id] = Field(default_factory=list, description="Teams that may see it.")
    api_base_url: Url | None = Field(
        default=None,
        description="Where the provider's API is reached, if not its public address "
        "(an egress proxy, or a test's stand-in).",
    )


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
    access_token: Secret | None = Field(
        default=None, description="The page's (or WhatsApp system user's) token: sends replies."
    )
    graph_api_version: str | None = Field(
        default=None,
        pattern=r"^v[0-9]{1,3}\.[0-9]{1,3}$",
        description="The Graph API version replies use (default v21.0).",
    )


class WhatsAppInboxIn(MetaInboxIn):
    phone_number_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[0-9]+$",
        description="The business number's id in the WhatsApp Cloud API: replies go from it.",
    )
    templates: list[TemplateSpec] = Field(
        default_factory=list,
        max_length=200,
        description="Approved message templates agents may send outside the 24-hour "
        "window: `name`, `language` (e.g. en_US) and `body_params`, how many {{n}} "
        "parameters the body takes.",
    )


class SmsInboxIn(_MessagingInboxIn):
    auth_token: Secret = Field(
        description="The Twilio account's auth token: signs webhooks, authenticates replies."
    )
    account_sid: str | None = Field(
        default=None,
        pattern=r"^AC[0-9a-fA-F]{32}$",
        description="The Twilio account SID (AC…): replies are sent under it.",
    )
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


class ApiInboxIn(_MessagingInboxIn):
    signing_secret: Secret = Field(
        description="Shared with your integration: signs its requests to the inbox, and "
        "the inbox's replies to `outbound_webhook_url` (docs/api-channel.md)."
    )
    outbound_webhook_url: Url | None = Field(
        default=None,
        description="Where agents' replies are POSTed, signed; none: replies are not sent.",
    )


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
        webhook_path=f"/webhooks/{inbox.channel.value}/{inbox.id}",
        secrets_set=sorted(name for name, value in inbox.secrets.items() if value),
        phone_number=number if isinstance(number, str) else None,
        settings={k: v for k, v in inbox.config.items() if k in CONFIG_FIELDS},
    )


async def _create(
    call: Call, body: _MessagingInboxIn, channel: ChannelKind, config: dict[str, Any]
) -> MessagingInboxOut:
    secret_names = set(type(body).model_fields) - set(_MessagingInboxIn.model_fields)
    secret_names -= set(CONFIG_FIELDS)
    secrets = {name: value for name in sorted(secret_names) if (value := getattr(body, name))}
    config = {**_config(body), **config}
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


def _config(body: _MessagingInboxIn) -> dict[str, Any]:
    """The body's non-secret settings that were given, as JSON."""
    given = body.model_dump(mode="json", include=set(CONFIG_FIELDS), exclude_none=True)
    if isinstance(body.api_base_url, HttpUrl):
        given["api_base_url"] = str(body.api_base_url).rstrip("/")
    return {k: v for k, v in given.items() if v not in ([], "")}


async def create_telegram_inbox(call: Call) -> MessagingInboxOut:
    """Add a Telegram bot inbox (admins). Tokens are stored, never returned or logged."""
    return await _create(call, call.body_as(TelegramInboxIn), ChannelKind.TELEGRAM, {})


def _meta(channel: ChannelKind) -> Callable[[Call], Awaitable[MessagingInboxOut]]:
    model = WhatsAppInboxIn if channel is ChannelKind.WHATSAPP else MetaInboxIn

    async def create(call: Call) -> MessagingInboxOut:
        return await _create(call, call.body_as(model), channel, {})

    create.__name__ = f"create_{channel.value}_inbox"
    create.__doc__ = (
        f"Add a {channel.value} inbox (admins). Secrets are stored, never returned or logged."
    )
    return create


async def create_sms_inbox(call: Call) -> MessagingInboxOut:
    """Add a Twilio SMS inbox (admins). The auth token is stored, never returned or logged."""
    body = call.body_as(SmsInboxIn)
    return await _create(call, body, ChannelKind.SMS, {"phone_number": body.phone_number})


async def create_api_inbox(call: Call) -> MessagingInboxOut:
    """Add an API channel inbox (admins). The signing secret is stored, never returned."""
    return await _create(call, call.body_as(ApiInboxIn), ChannelKind.API, {})


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
