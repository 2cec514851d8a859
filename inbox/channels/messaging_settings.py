"""What an admin gives to set up a messaging inbox (Telegram, WhatsApp,
Messenger, Instagram, SMS, API), and how it is stored.

One set of rules for the API (`inbox/api/messaging.py`) and the admin pages
(`inbox/views/admin_messaging.py`): the same pydantic inputs validate both.
Every field of an input beyond name, teams and `CONFIG_FIELDS` is a secret,
kept in the inbox's secrets and never shown again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field, HttpUrl, field_validator

from inbox.api.schemas import Id, RequestBody
from inbox.channels.reply_windows import TemplateSpec
from inbox.errors import BadRequest
from inbox.models import ChannelKind, Inbox
from inbox.profiles.identities import normalise_phone

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


class MessagingInboxIn(RequestBody):
    name: str = Field(min_length=1, max_length=200)
    team_ids: list[Id] = Field(default_factory=list, description="Teams that may see it.")
    api_base_url: Url | None = Field(
        default=None,
        description="Where the provider's API is reached, if not its public address "
        "(an egress proxy, or a test's stand-in).",
    )


class TelegramInboxIn(MessagingInboxIn):
    bot_token: Secret = Field(description="From @BotFather; kept for sending replies.")
    secret_token: str = Field(
        min_length=1,
        max_length=256,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="The `secret_token` you pass to `setWebhook`; Telegram sends it back "
        "in `X-Telegram-Bot-Api-Secret-Token` with every update.",
    )


class MetaInboxIn(MessagingInboxIn):
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


class SmsInboxIn(MessagingInboxIn):
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


class ApiInboxIn(MessagingInboxIn):
    signing_secret: Secret = Field(
        description="Shared with your integration: signs its requests to the inbox, and "
        "the inbox's replies to `outbound_webhook_url` (docs/api-channel.md)."
    )
    outbound_webhook_url: Url | None = Field(
        default=None,
        description="Where agents' replies are POSTed, signed; none: replies are not sent.",
    )


INPUTS: dict[ChannelKind, type[MessagingInboxIn]] = {
    ChannelKind.TELEGRAM: TelegramInboxIn,
    ChannelKind.WHATSAPP: WhatsAppInboxIn,
    ChannelKind.MESSENGER: MetaInboxIn,
    ChannelKind.INSTAGRAM: MetaInboxIn,
    ChannelKind.SMS: SmsInboxIn,
    ChannelKind.API: ApiInboxIn,
}


def secret_names(model: type[MessagingInboxIn]) -> list[str]:
    """The input's write-only fields, in the order it declares them."""
    return [
        name
        for name in model.model_fields
        if name not in MessagingInboxIn.model_fields and name not in CONFIG_FIELDS
    ]


def config_names(model: type[MessagingInboxIn]) -> list[str]:
    """The input's non-secret settings, in the order it declares them."""
    return [name for name in model.model_fields if name in CONFIG_FIELDS]


def stored_config(body: MessagingInboxIn) -> dict[str, Any]:
    """The body's non-secret settings that were given, as JSON."""
    given = body.model_dump(mode="json", include=set(CONFIG_FIELDS), exclude_none=True)
    if isinstance(body.api_base_url, HttpUrl):
        given["api_base_url"] = str(body.api_base_url).rstrip("/")
    return {k: v for k, v in given.items() if v not in ([], "")}


def stored_secrets(body: MessagingInboxIn) -> dict[str, str]:
    """The body's secrets that were given."""
    return {name: value for name in secret_names(type(body)) if (value := getattr(body, name))}


def with_stored_secrets(
    channel: ChannelKind, given: Mapping[str, Any], secrets: Mapping[str, Any]
) -> MessagingInboxIn:
    """A change of settings, validated as a new inbox would be: a secret not
    given again is the stored one (so replacing one needn't repeat the others)."""
    model = INPUTS[channel]
    kept = {
        name: value
        for name in secret_names(model)
        if given.get(name) in (None, "") and isinstance(value := secrets.get(name), str) and value
    }
    return model.model_validate({**given, **kept})


def webhook_path(inbox: Inbox) -> str:
    """Where the provider must send the inbox's webhooks."""
    return f"/webhooks/{inbox.channel.value}/{inbox.id}"
