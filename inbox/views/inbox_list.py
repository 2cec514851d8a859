"""`GET /`: the inbox list with its view tabs, filters and keyset "Load more"."""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from inbox.access import visible_inbox_ids
from inbox.errors import BadRequest
from inbox.models import Agent, Inbox, Status, utcnow
from inbox.queries import VIEWS, ConversationRow, Cursor, View, list_conversations
from inbox.views.display import Moment, channel_label, moment
from inbox.views.fragments import vary_on_htmx, wants_fragment
from inbox.views.requests import require_agent, runtime
from inbox.views.templating import render, render_block

PAGE_SIZE = 25
STATUSES = ("open", "pending", "resolved", "any")
VIEW_LABELS: dict[View, str] = {"mine": "Mine", "unassigned": "Unassigned", "all": "All"}


@dataclass(frozen=True)
class Filters:
    view: View = "all"
    status: str = "open"  # one of STATUSES; "any" means no status filter
    inbox_id: int | None = None

    @property
    def status_filter(self) -> Status | None:
        return None if self.status == "any" else Status(self.status)

    def url(self, cursor: str | None = None) -> str:
        params: dict[str, str] = {"view": self.view, "status": self.status}
        if self.inbox_id is not None:
            params["inbox"] = str(self.inbox_id)
        if cursor is not None:
            params["cursor"] = cursor
        return "/?" + urlencode(params)


def parse_filters(query: QueryParams) -> tuple[Filters, Cursor | None]:
    """The filters from the query string; anything unknown is a 400, never a guess."""
    view = query.get("view") or "all"
    if view not in VIEWS:
        raise BadRequest("view must be one of: mine, unassigned, all")
    status = query.get("status") or "open"
    if status not in STATUSES:
        raise BadRequest("status must be one of: open, pending, resolved, any")
    raw_inbox = query.get("inbox") or ""
    inbox_id: int | None = None
    if raw_inbox:
        try:
            inbox_id = int(raw_inbox)
        except ValueError as exc:
            raise BadRequest("inbox must be an inbox id") from exc
    raw_cursor = query.get("cursor")
    cursor = Cursor.decode(raw_cursor) if raw_cursor else None
    return Filters(view, status, inbox_id), cursor


@dataclass(frozen=True)
class Tab:
    label: str
    url: str
    active: bool


@dataclass(frozen=True)
class ListItem:
    row: ConversationRow
    channel_label: str
    when: Moment
    url: str


@dataclass(frozen=True)
class InboxListPage:
    filters: Filters
    tabs: list[Tab]
    statuses: tuple[str, ...]
    inboxes: list[Inbox]
    items: list[ListItem]
    more_url: str | None


async def visible_inboxes(db: AsyncSession, agent: Agent) -> list[Inbox]:
    ids = await visible_inbox_ids(db, agent)
    if not ids:
        return []
    return list(
        (await db.scalars(select(Inbox).where(Inbox.id.in_(ids)).order_by(Inbox.name))).all()
    )


async def inbox_page(request: Request) -> Response:
    agent = require_agent(request)
    filters, cursor = parse_filters(request.query_params)
    async with runtime(request).read_sessions() as db:
        inboxes = await visible_inboxes(db, agent)
        if filters.inbox_id is not None and filters.inbox_id not in {i.id for i in inboxes}:
            # The same answer for an absent inbox and a hidden one, so ids can't be probed.
            raise BadRequest("inbox: there is no inbox with that id that you can see")
        result = await list_conversations(
            db,
            agent,
            view=filters.view,
            status=filters.status_filter,
            inbox_id=filters.inbox_id,
            cursor=cursor,
            limit=PAGE_SIZE,
        )
    now = utcnow()
    page = InboxListPage(
        filters=filters,
        tabs=[
            Tab(label, replace(filters, view=view).url(), view == filters.view)
            for view, label in VIEW_LABELS.items()
        ],
        statuses=STATUSES,
        inboxes=inboxes,
        items=[
            ListItem(
                row,
                channel_label(row.inbox_channel),
                moment(row.conversation.last_activity_at, now),
                f"/conversations/{row.conversation.id}",
            )
            for row in result.rows
        ],
        more_url=filters.url(result.next_cursor) if result.next_cursor else None,
    )
    if wants_fragment(request):
        # "Load more" appends rows; a tab or filter change replaces the listing.
        block = "rows" if cursor is not None else "listing"
        response = render_block(request, "inbox.html", block, page=page, agent=agent)
    else:
        response = render(request, "inbox.html", page=page, agent=agent)
    return vary_on_htmx(response)


routes = [Route("/", inbox_page, methods=["GET"])]
