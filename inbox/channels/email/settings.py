"""An email inbox's settings: what the admin enters, validated, and how it is stored.

The non-secret part goes to `Inbox.config`, the passwords to `Inbox.secrets`,
which is never rendered, returned by the API, logged or audited. Passwords
are write-only: leaving one blank on an update keeps the stored one.

The automatic acknowledgement (sent by inbox/actions/auto_reply.py) is off
unless an admin turns it on; `stamp_acknowledgement` records when that
happened, so mail from before it is never acknowledged.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from inbox.channels.email.smtp_send import SmtpSettings

Security = Literal["ssl", "starttls", "none"]

# A host name or an IP literal; anything with spaces, slashes or a scheme is a mistake.
_HOST = re.compile(r"^[A-Za-z0-9.\-:\[\]]{1,253}$")
# IMAP mailbox names are 7-bit (modified UTF-7 on the wire); control characters never.
_FOLDER = re.compile(r"^[^\x00-\x1f\x7f]{1,255}$")


class MailServer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    host: str = Field(description="Host name or IP address.")
    port: int = Field(ge=1, le=65535)
    security: Security = Field(
        default="ssl", description="`ssl` (implicit TLS), `starttls`, or `none` (tests only)."
    )
    username: str = Field(default="", max_length=320)

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        value = value.strip()
        if not _HOST.match(value):
            raise ValueError("must be a host name or IP address, without a scheme or port")
        return value


DEFAULT_ACKNOWLEDGEMENT = (
    "Thank you for your message. We have received it and will answer as soon as we can."
)
MAX_ACKNOWLEDGEMENT = 2000
# Line breaks and tabs are the text's own; other controls are mistakes (or worse).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class Acknowledgement(BaseModel):
    """An automatic "we got your message" for each new email conversation."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    enabled: bool = Field(default=False, description="Off unless an admin turns it on.")
    text: str = Field(
        default=DEFAULT_ACKNOWLEDGEMENT,
        max_length=MAX_ACKNOWLEDGEMENT,
        description="Plain text, sent as the body. Blank (when off) means the default.",
    )
    enabled_at: datetime | None = Field(
        default=None,
        # Stored as JSON text; read back as a datetime.
        strict=False,
        description="When it was turned on (set by the server; ignored on input). "
        "Mail that arrived before it is never acknowledged.",
        json_schema_extra={"readOnly": True},
    )

    @field_validator("text")
    @classmethod
    def _text(cls, value: str, info: ValidationInfo) -> str:
        value = value.replace("\r\n", "\n").replace("\r", "\n").strip()
        if _CONTROL.search(value):
            raise ValueError("must be plain text, without control characters")
        if not value:
            if info.data.get("enabled"):
                raise ValueError("write the acknowledgement, or turn it off")
            return DEFAULT_ACKNOWLEDGEMENT
        return value

    @field_validator("enabled_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class EmailConfig(BaseModel):
    """What `Inbox.config` holds for an email inbox."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    address: str = Field(description="The inbox's address: replies are sent From it.")
    display_name: str = Field(default="", max_length=200)
    imap: MailServer
    smtp: MailServer
    folder: str = Field(default="INBOX", description="The IMAP folder to take mail from.")
    max_message_mb: int = Field(
        default=25, ge=1, le=100, description="Larger messages are quarantined, not imported."
    )
    # Configs stored before it existed validate with it off.
    acknowledgement: Acknowledgement = Field(default_factory=Acknowledgement)

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        try:
            checked = validate_email(
                value.strip(), check_deliverability=False, test_environment=True
            )
        except EmailNotValidError as exc:
            raise ValueError(f"not an email address: {exc}") from None
        return checked.normalized.lower()

    @field_validator("folder")
    @classmethod
    def _folder(cls, value: str) -> str:
        if not _FOLDER.match(value):
            raise ValueError("a folder name has 1 to 255 characters and no control characters")
        return value

    @field_validator("display_name")
    @classmethod
    def _display_name(cls, value: str) -> str:
        # It ends up in a From header: no line breaks, ever.
        if any(c in value for c in "\r\n\x00"):
            raise ValueError("must be one line")
        return value.strip()


class EmailSecrets(BaseModel):
    """What `Inbox.secrets` holds for an email inbox (write-only)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    imap_password: str = Field(default="", max_length=1024, repr=False)
    # Blank: the SMTP server takes the IMAP password (the usual case).
    smtp_password: str = Field(default="", max_length=1024, repr=False)


def email_config(config: dict[str, Any]) -> EmailConfig | None:
    """The stored settings, or None for an inbox not set up yet (demo and older inboxes)."""
    if not config:
        return None
    try:
        return EmailConfig.model_validate(config)
    except ValidationError:
        # Written by an older version or by hand: the admin sets it up again.
        return None


def stamp_acknowledgement(
    entered: EmailConfig, stored: EmailConfig | None, now: datetime
) -> EmailConfig:
    """The settings to store: `enabled_at` kept while the acknowledgement stays on,
    `now` when it is turned on, cleared when it is off.

    Whatever the caller sent as `enabled_at` is ignored: it decides which mail
    counts as history. Whole seconds, because IMAP arrival times have no more,
    and mail that arrives in the second it is turned on counts as new.
    """
    ack = entered.acknowledgement
    before = stored.acknowledgement if stored is not None else None
    kept = before.enabled_at if before is not None and before.enabled else None
    enabled_at = (kept or now.astimezone(UTC).replace(microsecond=0)) if ack.enabled else None
    return entered.model_copy(
        update={"acknowledgement": ack.model_copy(update={"enabled_at": enabled_at})}
    )


def merged_secrets(stored: dict[str, Any], entered: EmailSecrets) -> dict[str, Any]:
    """The secrets to store after an update: a blank field keeps what was stored."""
    merged = dict(stored)
    for name, value in entered.model_dump().items():
        if value:
            merged[name] = value
    return merged


def imap_username(config: EmailConfig) -> str:
    """Most providers log in with the address itself."""
    return config.imap.username or config.address


def smtp_settings(config: EmailConfig, secrets: dict[str, Any]) -> SmtpSettings:
    password = secrets.get("smtp_password") or secrets.get("imap_password") or None
    return SmtpSettings(
        host=config.smtp.host,
        port=config.smtp.port,
        username=config.smtp.username or imap_username(config),
        password=password,
        security=config.smtp.security,
    )
