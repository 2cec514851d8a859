"""`GET /`: the inbox list with its view tabs, filters and keyset "Load more"."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from urllib.parse import urlencode

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from inbox.access import visible_inbox_ids
from inbox.errors import BadRequest
from inbox.models import Agent, Conversation, Inbox, Status, utcnow
from inbox.queries import VIEWS, ConversationRow, Cursor, View, list_conversations
from inbox.realtime.live_socket import LiveSocket, live_socket
from inbox.realtime.outbox import latest_seq
from inbox.realtime.presence import Marker
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
        params = self.params()
        if cursor is not None:
            params["cursor"] = cursor
        return "/?" + urlencode(params)

    def params(self) -> dict[str, str]:
        params = {"view": self.view, "status": self.status}
        if self.inbox_id is not None:
            params["inbox"] = str(self.inbox_id)
        return params

    def matches(self, conv: Conversation, agent_id: int) -> bool:
        """Whether this listing shows the conversation (given its inbox is visible).

        The conditions of list_conversations, for rows that change live; keep
        the two in step.
        """
        if self.inbox_id is not None and conv.inbox_id != self.inbox_id:
            return False
        if self.status_filter is not None and conv.status != self.status_filter:
            return False
        if self.view == "mine":
            return conv.assignee_id == agent_id
        if self.view == "unassigned":
            return conv.assignee_id is None
        return True

    def live_socket(self, seq: int) -> LiveSocket:
        """The live socket for this listing, resuming after outbox position `seq`."""
        return live_socket(seq, page="list", **self.params())


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
    view: View
    label: str
    url: str
    active: bool
    count: int  # open conversations in this view, whatever the status filter


@dataclass(frozen=True)
class OpenCounts:
    """Open conversations per (inbox, assignee): enough to count any agent's tabs.

    One grouped query serves every agent: the live socket runs it once per
    event and each socket sums the inboxes its agent can see.
    """

    per_inbox_assignee: dict[tuple[int, int | None], int]

    def for_agent(self, agent_id: int, inbox_ids: Collection[int]) -> dict[View, int]:
        counts: dict[View, int] = {"mine": 0, "unassigned": 0, "all": 0}
        for (inbox_id, assignee_id), n in self.per_inbox_assignee.items():
            if inbox_id not in inbox_ids:
                continue
            counts["all"] += n
            if assignee_id is None:
                counts["unassigned"] += n
            elif assignee_id == agent_id:
                counts["mine"] += n
        return counts


async def open_counts(db: AsyncSession, inbox_ids: Collection[int] | None = None) -> OpenCounts:
    """Counts for these inboxes (all inboxes when None)."""
    stmt = (
        select(Conversation.inbox_id, Conversation.assignee_id, func.count())
        .where(Conversation.status == Status.OPEN)
        .group_by(Conversation.inbox_id, Conversation.assignee_id)
    )
    if inbox_ids is not None:
        stmt = stmt.where(Conversation.inbox_id.in_(sorted(inbox_ids)))
    rows = await db.execute(stmt)
    return OpenCounts({(inbox_id, assignee_id): n for inbox_id, assignee_id, n in rows.all()})


@dataclass(frozen=True)
class ListItem:
    row: ConversationRow
    channel_label: str
    when: Moment
    url: str
    # Colleagues on the conversation as the page was rendered; live rows
    # (shared by every viewer) leave it empty and keep the page's own marks.
    presence: Sequence[Marker] = ()


@dataclass(frozen=True)
class InboxListPage:
    filters: Filters
    tabs: list[Tab]
    statuses: tuple[str, ...]
    inboxes: list[Inbox]
    items: list[ListItem]
    more_url: str | None
    # The live socket for this listing: its filters and the outbox position
    # the rows were read at, so it replays whatever happened since.
    live: LiveSocket


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
        # Read before the rows: an event committed in between is replayed by
        # the socket (fragments are idempotent) rather than lost.
        seq = await latest_seq(db)
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
        counts = (await open_counts(db, [i.id for i in inboxes])).for_agent(
            agent.id, [i.id for i in inboxes]
        )
    now = utcnow()
    on_rows = runtime(request).hub.presence.on_conversations(
        {row.conversation.id for row in result.rows}, agent.id, {i.id for i in inboxes}
    )
    page = InboxListPage(
        filters=filters,
        tabs=[
            Tab(view, label, replace(filters, view=view).url(), view == filters.view, counts[view])
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
                on_rows.get(row.conversation.id, ()),
            )
            for row in result.rows
        ],
        more_url=filters.url(result.next_cursor) if result.next_cursor else None,
        live=filters.live_socket(seq),
    )
    if wants_fragment(request):
        # "Load more" appends rows; a tab or filter change replaces the listing.
        block = "rows" if cursor is not None else "listing"
        response = render_block(request, "inbox.html", block, page=page, agent=agent)
    else:
        response = render(request, "inbox.html", page=page, agent=agent)
    return vary_on_htmx(response)


routes = [Route("/", inbox_page, methods=["GET"])]
