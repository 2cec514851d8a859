"""An email inbox's settings: what the admin enters, validated, and how it is stored.

The non-secret part goes to `Inbox.config`, the passwords to `Inbox.secrets`,
which is never rendered, returned by the API, logged or audited. Passwords
are write-only: leaving one blank on an update keeps the stored one.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

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
