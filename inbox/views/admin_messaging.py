"""`/admin/inboxes/messaging/{channel}` and `/admin/inboxes/{id}/messaging`:
admins add Telegram, WhatsApp, Messenger, Instagram, SMS and API inboxes,
see the webhook URL to give the provider, replace secrets, change settings
and WhatsApp's approved templates, and deactivate or reactivate the inbox.

The forms are validated by the API's own inputs and saved by the same
actions. A form with mistakes comes back (422) with each field's reason
beside it and what was typed kept, except secrets, which are never rendered.
"""

from __future__ import annotations

from pydantic import ValidationError
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from inbox.actions.inboxes import do_set_inbox_active
from inbox.actions.messaging_inboxes import (
    do_create_messaging_inbox,
    do_update_messaging_inbox,
)
from inbox.channels.messaging_settings import (
    INPUTS,
    secret_names,
    webhook_path,
    with_stored_secrets,
)
from inbox.errors import NotFound
from inbox.models import Agent, ChannelKind, Inbox, InboxTeamAccess, Team
from inbox.views.admin_inboxes import admin
from inbox.views.display import channel_label
from inbox.views.forms import field_errors
from inbox.views.ids import path_id
from inbox.views.messaging_form import (
    MessagingForm,
    fields_of,
    model_of,
    stored_form,
    submitted,
    takes_templates,
)
from inbox.views.requests import runtime
from inbox.views.templating import render


def _kind(request: Request) -> ChannelKind:
    raw = request.path_params.get("channel")
    kind = next((k for k in INPUTS if k.value == raw), None)
    if kind is None:
        raise NotFound("no such kind of messaging inbox")
    return kind


async def _teams(request: Request) -> list[Team]:
    async with runtime(request).read_sessions() as db:
        return list((await db.scalars(select(Team).order_by(Team.name))).all())


def _page_context(agent: Agent, kind: ChannelKind) -> dict[str, object]:
    return {
        "agent": agent,
        "kind": kind.value,
        "kind_label": channel_label(kind.value),
        "fields": fields_of(kind),
        "takes_templates": takes_templates(kind),
    }


async def _new_form(
    request: Request,
    agent: Agent,
    kind: ChannelKind,
    form: MessagingForm,
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "admin_messaging_new.html",
        status_code=status_code,
        teams=await _teams(request),
        form=form,
        errors=errors,
        secrets_set={},
        **_page_context(agent, kind),
    )


async def new_inbox_page(request: Request) -> Response:
    return await _new_form(request, admin(request), _kind(request), MessagingForm(), {})


async def create_inbox(request: Request) -> Response:
    agent = admin(request)
    kind = _kind(request)
    async with request.form() as form:
        posted = submitted(form, kind)
    try:
        body = model_of(kind).model_validate(posted.given)
    except ValidationError as exc:
        return await _new_form(request, agent, kind, posted.shown, field_errors(exc), 422)
    inbox = await do_create_messaging_inbox(runtime(request), agent, kind, body)
    return RedirectResponse(f"/admin/inboxes/{inbox.id}/messaging", 303)


async def _inbox(request: Request) -> tuple[Inbox, set[int]]:
    inbox_id = path_id(request, "inbox_id", "inbox")
    async with runtime(request).read_sessions() as db:
        inbox = await db.get(Inbox, inbox_id)
        teams = set(
            (
                await db.scalars(
                    select(InboxTeamAccess.team_id).where(InboxTeamAccess.inbox_id == inbox_id)
                )
            ).all()
        )
    if inbox is None or inbox.channel not in INPUTS:
        raise NotFound("no messaging inbox with this id")
    return inbox, teams


def webhook_url(request: Request, inbox: Inbox) -> str:
    """The address the provider is given: under the app's public URL when one is
    configured (behind a proxy the request's own host may be an internal one)."""
    base = runtime(request).settings.public_url or str(request.base_url)
    return base.rstrip("/") + webhook_path(inbox)


async def _settings(
    request: Request,
    agent: Agent,
    inbox: Inbox,
    form: MessagingForm,
    errors: dict[str, str],
    *,
    status_code: int = 200,
    notice: str | None = None,
) -> Response:
    return render(
        request,
        "admin_messaging_inbox.html",
        status_code=status_code,
        inbox=inbox,
        webhook_url=webhook_url(request, inbox),
        teams=await _teams(request),
        form=form,
        errors=errors,
        notice=notice,
        secrets_set={
            name: bool(inbox.secrets.get(name)) for name in secret_names(model_of(inbox.channel))
        },
        **_page_context(agent, inbox.channel),
    )


async def settings_page(request: Request) -> Response:
    agent = admin(request)
    inbox, teams = await _inbox(request)
    return await _settings(request, agent, inbox, stored_form(inbox, teams), {})


async def update_settings(request: Request) -> Response:
    agent = admin(request)
    inbox, _ = await _inbox(request)
    async with request.form() as form:
        posted = submitted(form, inbox.channel)
    try:
        body = with_stored_secrets(inbox.channel, posted.given, inbox.secrets)
    except ValidationError as exc:
        return await _settings(
            request, agent, inbox, posted.shown, field_errors(exc), status_code=422
        )
    updated = await do_update_messaging_inbox(
        runtime(request), agent, inbox.id, body, posted.secrets_typed
    )
    _, teams = await _inbox(request)
    return await _settings(
        request, agent, updated, stored_form(updated, teams), {}, notice="Settings saved."
    )


async def set_active(request: Request) -> Response:
    agent = admin(request)
    inbox, _ = await _inbox(request)
    async with request.form() as form:
        active = form.get("active") == "true"
    await do_set_inbox_active(runtime(request), agent, inbox.id, active)
    return RedirectResponse(f"/admin/inboxes/{inbox.id}/messaging", 303)


routes = [
    Route("/admin/inboxes/messaging/{channel}", new_inbox_page, methods=["GET"]),
    Route("/admin/inboxes/messaging/{channel}", create_inbox, methods=["POST"]),
    Route("/admin/inboxes/{inbox_id:int}/messaging", settings_page, methods=["GET"]),
    Route("/admin/inboxes/{inbox_id:int}/messaging", update_settings, methods=["POST"]),
    Route("/admin/inboxes/{inbox_id:int}/messaging/active", set_active, methods=["POST"]),
]
