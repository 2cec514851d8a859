"""`/notifications`: the agent's mentions, direct messages and assignments, and the bell.

Marking read is a POST (a GET never writes). htmx gets the list and the bell
back; a plain form is redirected to the list it came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from inbox.actions.notifications import (
    do_mark_all_notifications_read,
    do_mark_notification_read,
)
from inbox.errors import BadRequest
from inbox.models import Agent, utcnow
from inbox.queries_notifications import (
    NotificationRow,
    decode_cursor,
    list_notifications,
    unread_count,
)
from inbox.views.display import Moment, moment
from inbox.views.fragments import vary_on_htmx, wants_fragment
from inbox.views.ids import MAX_BIG_ID, form_id, path_id
from inbox.views.requests import require_agent, runtime
from inbox.views.templating import is_htmx, render, render_block

PAGE_SIZE = 30
KIND_LABELS = {
    "mention": "mentioned you",
    "direct_message": "wrote to you",
    "assignment": "assigned you",
}


@dataclass(frozen=True)
class NotificationItem:
    row: NotificationRow
    verb: str
    when: Moment


@dataclass(frozen=True)
class NotificationsPage:
    unread_only: bool
    items: list[NotificationItem]
    unread: int
    more_url: str | None
    # Mark-all covers what this page showed, not what arrived since.
    newest_id: int | None

    @property
    def url(self) -> str:
        return list_url(self.unread_only)


def list_url(unread_only: bool, cursor: str | None = None) -> str:
    params = {"unread": "1"} if unread_only else {}
    if cursor:
        params["cursor"] = cursor
    return "/notifications" + (f"?{urlencode(params)}" if params else "")


def _unread_flag(value: object) -> bool:
    if value in (None, "", "0", "false"):
        return False
    if value in ("1", "true"):
        return True
    raise BadRequest("unread must be 1 or 0")


async def _page(request: Request, agent: Agent, unread_only: bool, cursor: str | None) -> Response:
    async with runtime(request).read_sessions() as db:
        result = await list_notifications(
            db, agent, unread_only=unread_only, before_id=decode_cursor(cursor), limit=PAGE_SIZE
        )
        unread = await unread_count(db, agent)
    now = utcnow()
    page = NotificationsPage(
        unread_only=unread_only,
        items=[
            NotificationItem(
                r, KIND_LABELS[r.notification.kind.value], moment(r.notification.created_at, now)
            )
            for r in result.rows
        ],
        unread=unread,
        more_url=list_url(unread_only, result.next_cursor) if result.next_cursor else None,
        newest_id=result.rows[0].notification.id if result.rows and cursor is None else None,
    )
    if wants_fragment(request):
        # "Load more" appends items; everything else replaces the list (and the bell).
        block = "items" if cursor is not None else "listing"
        return vary_on_htmx(
            render_block(
                request,
                "notifications.html",
                block,
                page=page,
                agent=agent,
                unread_notifications=unread,
                fragment=True,  # the bell rides along out of band
            )
        )
    return vary_on_htmx(
        render(request, "notifications.html", page=page, agent=agent, unread_notifications=unread)
    )


async def notifications_page(request: Request) -> Response:
    agent = require_agent(request)
    unread_only = _unread_flag(request.query_params.get("unread"))
    return await _page(request, agent, unread_only, request.query_params.get("cursor") or None)


async def bell(request: Request) -> Response:
    """The header's bell with the unread count; every page loads it after rendering."""
    agent = require_agent(request)
    async with runtime(request).read_sessions() as db:
        unread = await unread_count(db, agent)
    response = render(request, "_notification_bell.html", unread_notifications=unread)
    response.headers["Cache-Control"] = "no-store"
    return response


async def _after_marking(request: Request, agent: Agent, unread_only: bool) -> Response:
    if not is_htmx(request):
        return RedirectResponse(list_url(unread_only), 303)
    return await _page(request, agent, unread_only, None)


async def mark_read(request: Request) -> Response:
    agent = require_agent(request)
    notification_id = path_id(request, "notification_id", "notification", limit=MAX_BIG_ID)
    async with request.form() as form:
        unread_only = _unread_flag(form.get("unread"))
    await do_mark_notification_read(runtime(request), agent, notification_id)
    return await _after_marking(request, agent, unread_only)


async def mark_all_read(request: Request) -> Response:
    agent = require_agent(request)
    async with request.form() as form:
        unread_only = _unread_flag(form.get("unread"))
        up_to_id = form_id(form, "up_to_id", limit=MAX_BIG_ID)
    await do_mark_all_notifications_read(runtime(request), agent, up_to_id=up_to_id)
    return await _after_marking(request, agent, unread_only)


routes = [
    Route("/notifications", notifications_page, methods=["GET"]),
    Route("/notifications/bell", bell, methods=["GET"]),
    Route("/notifications/{notification_id:int}/read", mark_read, methods=["POST"]),
    Route("/notifications/read-all", mark_all_read, methods=["POST"]),
]
