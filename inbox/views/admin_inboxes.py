"""`/admin/inboxes`: admins add email inboxes, change their settings, and watch their health.

The forms post to the same actions as the API (`do_create_email_inbox`,
`do_update_email_settings`). A form with mistakes comes back (422) with each
field's reason beside it and what was typed kept, except the passwords,
which are never rendered back into a page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from inbox.actions.agents import check_admin
from inbox.actions.inboxes import do_create_email_inbox, do_update_email_settings
from inbox.channels.email.settings import (
    DEFAULT_ACKNOWLEDGEMENT,
    EmailConfig,
    EmailSecrets,
    email_config,
)
from inbox.channels.messaging_settings import INPUTS
from inbox.errors import BadRequest, NotFound
from inbox.models import (
    Agent,
    ChannelKind,
    Inbox,
    MailSyncState,
    QuarantinedMail,
    Team,
    utcnow,
)
from inbox.views.display import Moment, channel_label, moment
from inbox.views.forms import field_errors
from inbox.views.ids import path_id
from inbox.views.requests import require_agent, runtime
from inbox.views.templating import render

# What a new inbox's form starts with: the usual ports and limits.
_NEW_FORM = {
    "imap_port": "993",
    "smtp_port": "587",
    "folder": "INBOX",
    "max_message_mb": "25",
    "acknowledgement_text": DEFAULT_ACKNOWLEDGEMENT,
}
# The kinds added on their own page (views/admin_messaging.py), with their labels.
MESSAGING_KINDS = {kind.value: channel_label(kind.value) for kind in INPUTS}
# Form field -> where it goes in EmailConfig (and so which error belongs to it).
_SERVER_FIELDS = ("host", "port", "security", "username")
_INT_FIELDS = {"imap_port", "smtp_port", "max_message_mb"}


@dataclass(frozen=True)
class FolderHealth:
    state: MailSyncState
    last_success: Moment | None
    last_error: Moment | None


@dataclass(frozen=True)
class InboxLine:
    inbox: Inbox
    channel_label: str
    quarantined: int
    folders: list[FolderHealth]


def admin(request: Request) -> Agent:
    agent = require_agent(request)
    check_admin(agent)
    return agent


def _config_input(form: FormData) -> dict[str, Any]:
    """The form as EmailConfig's shape; numbers parsed, so errors name the field."""
    values: dict[str, Any] = {}
    for name in (
        "address",
        "display_name",
        "folder",
        "max_message_mb",
        *(f"{side}_{field}" for side in ("imap", "smtp") for field in _SERVER_FIELDS),
    ):
        raw = form.get(name)
        value: Any = raw.strip() if isinstance(raw, str) else ""
        if name in _INT_FIELDS:
            value = int(value) if value.isdigit() and len(value) <= 6 else value or None
        values[name] = value
    config: dict[str, Any] = {
        "address": values["address"],
        "display_name": values["display_name"],
        "folder": values["folder"] or "INBOX",
        "max_message_mb": values["max_message_mb"] or 25,
    }
    for side in ("imap", "smtp"):
        config[side] = {field: values[f"{side}_{field}"] for field in _SERVER_FIELDS}
    text = form.get("acknowledgement_text")
    config["acknowledgement"] = {
        # A checkbox: sent when ticked, absent when not.
        "enabled": form.get("acknowledgement_enabled") == "on",
        "text": text if isinstance(text, str) else "",
    }
    return config


def _secrets_input(form: FormData) -> dict[str, str]:
    return {
        name: value
        for name in ("imap_password", "smtp_password")
        if isinstance(value := form.get(name), str)
    }


def _parse(form: FormData) -> tuple[EmailConfig | None, EmailSecrets | None, dict[str, str]]:
    errors: dict[str, str] = {}
    config = secrets = None
    try:
        config = EmailConfig.model_validate(_config_input(form))
    except ValidationError as exc:
        errors.update(field_errors(exc))
    try:
        secrets = EmailSecrets.model_validate(_secrets_input(form))
    except ValidationError as exc:
        errors.update(field_errors(exc))
    return config, secrets, errors


async def _lines(request: Request) -> list[InboxLine]:
    now = utcnow()
    async with runtime(request).read_sessions() as db:
        inboxes = (await db.scalars(select(Inbox).order_by(Inbox.name))).all()
        states = (await db.scalars(select(MailSyncState).order_by(MailSyncState.folder))).all()
        waiting = dict(
            (
                await db.execute(
                    select(QuarantinedMail.inbox_id, func.count())
                    .where(QuarantinedMail.resolved_at.is_(None))
                    .group_by(QuarantinedMail.inbox_id)
                )
            ).all()
        )
    folders: dict[int, list[FolderHealth]] = {}
    for state in states:
        folders.setdefault(state.inbox_id, []).append(
            FolderHealth(
                state,
                moment(state.last_success_at, now) if state.last_success_at else None,
                moment(state.last_error_at, now) if state.last_error_at else None,
            )
        )
    return [
        InboxLine(
            inbox,
            channel_label(inbox.channel.value),
            int(waiting.get(inbox.id, 0)),
            folders.get(inbox.id, []),
        )
        for inbox in inboxes
    ]


async def _teams(request: Request) -> list[Team]:
    async with runtime(request).read_sessions() as db:
        return list((await db.scalars(select(Team).order_by(Team.name))).all())


async def inboxes_page(request: Request) -> Response:
    return await _inboxes(request, admin(request), _NEW_FORM, {})


async def _inboxes(
    request: Request,
    agent: Agent,
    form: dict[str, str],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    """Every inbox, and the form to add an email inbox (with a failed attempt's mistakes)."""
    return render(
        request,
        "admin_inboxes.html",
        status_code=status_code,
        agent=agent,
        lines=await _lines(request),
        teams=await _teams(request),
        form=form,
        errors=errors,
        messaging_kinds=MESSAGING_KINDS,
    )


async def create_email_inbox(request: Request) -> Response:
    agent = admin(request)
    async with request.form() as form:
        config, secrets, errors = _parse(form)
        name = str(form.get("name") or "").strip()
        team_ids = [int(v) for v in form.getlist("team_ids") if isinstance(v, str) and v.isdigit()]
        kept = {k: v for k, v in form.items() if isinstance(v, str) and "password" not in k}
    if not name:
        errors["name"] = "An inbox needs a name"
    if config is None or secrets is None or errors:
        return await _inboxes(request, agent, kept, errors, status_code=422)
    try:
        inbox = await do_create_email_inbox(
            runtime(request), agent, name=name, config=config, secrets=secrets, team_ids=team_ids
        )
    except BadRequest as exc:
        reason = {"imap_password": exc.message.split(": ", 1)[-1]}
        return await _inboxes(request, agent, kept, reason, status_code=400)
    return RedirectResponse(f"/admin/inboxes/{inbox.id}", 303)


async def email_inbox(request: Request, inbox_id: int) -> Inbox:
    async with runtime(request).read_sessions() as db:
        inbox = await db.get(Inbox, inbox_id)
    if inbox is None or inbox.channel is not ChannelKind.EMAIL:
        raise NotFound("no email inbox with this id")
    return inbox


def _form_of(config: EmailConfig | None) -> dict[str, str]:
    """A stored config as form values, to fill the settings form (empty if not set up)."""
    if config is None:
        return {}
    form = {
        "address": config.address,
        "display_name": config.display_name,
        "folder": config.folder,
        "max_message_mb": str(config.max_message_mb),
    }
    for side, server in (("imap", config.imap), ("smtp", config.smtp)):
        for field in _SERVER_FIELDS:
            form[f"{side}_{field}"] = str(getattr(server, field))
    ack = config.acknowledgement
    form["acknowledgement_text"] = ack.text
    if ack.enabled:
        form["acknowledgement_enabled"] = "on"
    if ack.enabled and ack.enabled_at is not None:
        form["acknowledgement_since"] = f"{ack.enabled_at:%Y-%m-%d %H:%M} UTC"
    return form


async def email_inbox_page(request: Request) -> Response:
    agent = admin(request)
    inbox = await email_inbox(request, path_id(request, "inbox_id", "email inbox"))
    return await settings_page(request, agent, inbox, _form_of(email_config(inbox.config)), {})


async def settings_page(
    request: Request,
    agent: Agent,
    inbox: Inbox,
    form: dict[str, str],
    errors: dict[str, str],
    status_code: int = 200,
    saved: bool = False,
    notice: str | None = None,
) -> Response:
    """The email inbox's page: health, quarantine and settings (with a result to report)."""
    line = next(line for line in await _lines(request) if line.inbox.id == inbox.id)
    async with runtime(request).read_sessions() as db:
        held = (
            await db.scalars(
                select(QuarantinedMail)
                .where(QuarantinedMail.inbox_id == inbox.id, QuarantinedMail.resolved_at.is_(None))
                .order_by(QuarantinedMail.id.desc())
                .limit(50)
            )
        ).all()
    now = utcnow()
    return render(
        request,
        "admin_email_inbox.html",
        status_code=status_code,
        agent=agent,
        line=line,
        form=form,
        errors=errors,
        saved=saved,
        notice=notice,
        passwords_set={
            "imap_password": bool(inbox.secrets.get("imap_password")),
            "smtp_password": bool(inbox.secrets.get("smtp_password")),
        },
        quarantine=[(q, moment(q.created_at, now)) for q in held],
    )


async def update_email_settings(request: Request) -> Response:
    agent = admin(request)
    inbox = await email_inbox(request, path_id(request, "inbox_id", "email inbox"))
    async with request.form() as form:
        config, secrets, errors = _parse(form)
        kept = {k: v for k, v in form.items() if isinstance(v, str) and "password" not in k}
    if config is None or secrets is None or errors:
        return await settings_page(request, agent, inbox, kept, errors, status_code=422)
    updated = await do_update_email_settings(runtime(request), agent, inbox.id, config, secrets)
    return await settings_page(request, agent, updated, _form_of(config), {}, saved=True)


routes = [
    Route("/admin/inboxes", inboxes_page, methods=["GET"]),
    Route("/admin/inboxes/email", create_email_inbox, methods=["POST"]),
    Route("/admin/inboxes/{inbox_id:int}", email_inbox_page, methods=["GET"]),
    Route("/admin/inboxes/{inbox_id:int}", update_email_settings, methods=["POST"]),
]
