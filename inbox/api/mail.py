"""Email inboxes for admins: create, change settings, and see each folder's sync health."""

from __future__ import annotations

from sqlalchemy import func, select

from inbox.actions.agents import check_admin
from inbox.actions.inboxes import do_create_email_inbox, do_update_email_settings
from inbox.channels.email.settings import email_config
from inbox.errors import NotFound
from inbox.models import ChannelKind, Inbox, MailSyncState, QuarantinedMail

from .mail_schemas import (
    EmailInboxIn,
    EmailInboxOut,
    EmailSettingsIn,
    FolderHealthOut,
    MailHealthOut,
    PasswordsSet,
)
from .registry import Call, Endpoint
from .serialise import inbox_out


def _email_inbox_out(inbox: Inbox) -> EmailInboxOut:
    return EmailInboxOut(
        inbox=inbox_out(inbox),
        config=email_config(inbox.config),
        passwords_set=PasswordsSet(
            imap=bool(inbox.secrets.get("imap_password")),
            smtp=bool(inbox.secrets.get("smtp_password")),
        ),
    )


async def _email_inbox(call: Call) -> Inbox:
    check_admin(call.agent)
    inbox_id = call.path_id("email inbox")
    async with call.rt.read_sessions() as db:
        inbox = await db.get(Inbox, inbox_id)
    if inbox is None or inbox.channel is not ChannelKind.EMAIL:
        raise NotFound("email inbox not found")
    return inbox


async def create_email_inbox(call: Call) -> EmailInboxOut:
    """Add an email inbox (admins). Passwords are stored, never returned or logged."""
    body = call.body_as(EmailInboxIn)
    inbox = await do_create_email_inbox(
        call.rt,
        call.agent,
        name=body.name,
        config=body.config,
        secrets=body.secrets,
        team_ids=list(body.team_ids),
    )
    return _email_inbox_out(inbox)


async def get_email_settings(call: Call) -> EmailInboxOut:
    """An email inbox's settings (admins); whether passwords are set, never their values."""
    return _email_inbox_out(await _email_inbox(call))


async def update_email_settings(call: Call) -> EmailInboxOut:
    """Change an email inbox's settings (admins); a blank password keeps the stored one."""
    inbox = await _email_inbox(call)
    body = call.body_as(EmailSettingsIn)
    updated = await do_update_email_settings(
        call.rt, call.agent, inbox.id, body.config, body.secrets
    )
    return _email_inbox_out(updated)


async def get_mail_health(call: Call) -> MailHealthOut:
    """Each folder's last sync, last success and last error, and the quarantine's size."""
    inbox = await _email_inbox(call)
    async with call.rt.read_sessions() as db:
        states = (
            await db.scalars(
                select(MailSyncState)
                .where(MailSyncState.inbox_id == inbox.id)
                .order_by(MailSyncState.folder)
            )
        ).all()
        waiting = await db.scalar(
            select(func.count())
            .select_from(QuarantinedMail)
            .where(QuarantinedMail.inbox_id == inbox.id, QuarantinedMail.resolved_at.is_(None))
        )
    return MailHealthOut(
        inbox_id=inbox.id,
        folders=[
            FolderHealthOut(
                folder=s.folder,
                messages_synced=s.messages_synced,
                last_sync_at=s.last_sync_at,
                last_success_at=s.last_success_at,
                last_error=s.last_error,
                last_error_at=s.last_error_at,
            )
            for s in states
        ],
        quarantined=int(waiting or 0),
    )


_ADMIN = (403,)

ENDPOINTS = [
    Endpoint(
        "POST",
        "/inboxes/email",
        "Add an email inbox",
        create_email_inbox,
        EmailInboxOut,
        tag="email",
        status=201,
        body=EmailInboxIn,
        errors=(*_ADMIN, 404),
    ),
    Endpoint(
        "GET",
        "/inboxes/{id:int}/email-settings",
        "An email inbox's settings",
        get_email_settings,
        EmailInboxOut,
        tag="email",
        errors=_ADMIN,
    ),
    Endpoint(
        "POST",
        "/inboxes/{id:int}/email-settings",
        "Change an email inbox's settings",
        update_email_settings,
        EmailInboxOut,
        tag="email",
        body=EmailSettingsIn,
        errors=_ADMIN,
    ),
    Endpoint(
        "GET",
        "/inboxes/{id:int}/mail-health",
        "An email inbox's sync health",
        get_mail_health,
        MailHealthOut,
        tag="email",
        errors=_ADMIN,
    ),
]
