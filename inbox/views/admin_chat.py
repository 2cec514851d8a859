"""`/admin/inboxes/{id}/chat`: a live chat inbox's embed snippet, allowed origins,
email follow-up and identity secret, for admins.

The secret is shown once, on the page that answers its creation or rotation,
and never again (the settings page says only that one is set).
"""

from __future__ import annotations

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from inbox.actions.live_chat import (
    do_create_chat_inbox,
    do_rotate_chat_secret,
    do_update_chat_settings,
)
from inbox.channels.chat.settings import chat_config, embed_snippet, parse_origins
from inbox.errors import BadRequest, NotFound
from inbox.models import ChannelKind, Inbox
from inbox.views.admin_inboxes import admin
from inbox.views.ids import form_id, path_id
from inbox.views.requests import runtime
from inbox.views.templating import render


async def _page(
    request: Request,
    inbox_id: int,
    *,
    secret: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    agent = admin(request)
    async with runtime(request).read_sessions() as db:
        inbox = await db.get(Inbox, inbox_id)
        email_inboxes = list(
            (
                await db.scalars(
                    select(Inbox).where(Inbox.channel == ChannelKind.EMAIL).order_by(Inbox.name)
                )
            ).all()
        )
    config = chat_config(inbox) if inbox is not None else None
    if inbox is None or config is None:
        raise NotFound("no live chat inbox with this id")
    return render(
        request,
        "admin_chat_inbox.html",
        status_code=status_code,
        agent=agent,
        inbox=inbox,
        config=config,
        snippet=embed_snippet(str(request.base_url), config.public_key),
        email_inboxes=email_inboxes,
        secret=secret,
        error=error,
    )


async def chat_inbox_page(request: Request) -> Response:
    return await _page(request, path_id(request, "inbox_id", "inbox"))


async def create_chat_inbox(request: Request) -> Response:
    agent = admin(request)
    async with request.form() as form:
        name = str(form.get("name") or "")
        team_ids = [int(v) for v in form.getlist("team_ids") if isinstance(v, str) and v.isdigit()]
    created = await do_create_chat_inbox(runtime(request), agent, name=name, team_ids=team_ids)
    # The one time the secret is shown: on the answer to its creation.
    return await _page(request, created.inbox.id, secret=created.identity_secret, status_code=201)


async def update_chat_settings(request: Request) -> Response:
    agent = admin(request)
    inbox_id = path_id(request, "inbox_id", "inbox")
    async with request.form() as form:
        origins = str(form.get("allowed_origins") or "")
        email_inbox_id = form_id(form, "email_inbox_id")
    try:
        await do_update_chat_settings(
            runtime(request),
            agent,
            inbox_id,
            allowed_origins=parse_origins([origins]),
            email_inbox_id=email_inbox_id,
        )
    except (ValueError, BadRequest) as exc:
        reason = exc.message if isinstance(exc, BadRequest) else str(exc)
        return await _page(request, inbox_id, error=reason, status_code=400)
    return RedirectResponse(f"/admin/inboxes/{inbox_id}/chat", 303)


async def rotate_chat_secret(request: Request) -> Response:
    agent = admin(request)
    inbox_id = path_id(request, "inbox_id", "inbox")
    secret = await do_rotate_chat_secret(runtime(request), agent, inbox_id)
    return await _page(request, inbox_id, secret=secret)


routes = [
    Route("/admin/inboxes/chat", create_chat_inbox, methods=["POST"]),
    Route("/admin/inboxes/{inbox_id:int}/chat", chat_inbox_page, methods=["GET"]),
    Route("/admin/inboxes/{inbox_id:int}/chat", update_chat_settings, methods=["POST"]),
    Route("/admin/inboxes/{inbox_id:int}/chat/secret", rotate_chat_secret, methods=["POST"]),
]
