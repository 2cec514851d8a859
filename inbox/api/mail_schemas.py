"""Request and response shapes for setting up email inboxes and watching their health."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from inbox.channels.email.settings import EmailConfig, EmailSecrets

from .schemas import Id, InboxOut, RequestBody, ResponseBody


class EmailInboxIn(RequestBody):
    name: str = Field(min_length=1, max_length=200)
    config: EmailConfig
    secrets: EmailSecrets
    team_ids: list[Id] = Field(default_factory=list, description="Teams that may see it.")


class EmailSettingsIn(RequestBody):
    config: EmailConfig
    secrets: EmailSecrets = Field(
        default_factory=EmailSecrets, description="Blank passwords keep the stored ones."
    )


class PasswordsSet(ResponseBody):
    """Whether each password is stored; the passwords themselves are never returned."""

    imap: bool
    smtp: bool


class EmailInboxOut(ResponseBody):
    inbox: InboxOut
    config: EmailConfig | None = Field(description="Null until the inbox is set up.")
    passwords_set: PasswordsSet


class FolderHealthOut(ResponseBody):
    folder: str
    messages_synced: int
    last_sync_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None


class MailHealthOut(ResponseBody):
    inbox_id: int
    folders: list[FolderHealthOut]
    quarantined: int = Field(description="Messages waiting in quarantine for an admin.")
