"""`/board`: the team lead's view of workload, the unassigned queues, and reassigning.

Leads and admins only; an agent gets 403. Reassigning goes through the same
actions as everywhere else (`do_assign_conversation`, `do_release_conversation`),
so the inbox hears `conversation.assigned` as usual. htmx swaps the changed
row and the workload and queue tables reload themselves (`board-changed`):
after the lead's own reassignment, and, through the page's live socket,
whenever work or an agent's presence changes anywhere in the lead's inboxes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from inbox.access import get_visible_conversation, inbox_audience
from inbox.actions.conversations import do_assign_conversation, do_release_conversation
from inbox.models import Agent, Customer, Inbox, Status, utcnow
from inbox.queries import ConversationRow, Cursor, list_conversations
from inbox.queries_board import AgentLoad, Board, Queue, load_board, require_lead
from inbox.queries_notifications import unread_count
from inbox.realtime.live_socket import LiveSocket, live_socket
from inbox.realtime.outbox import latest_seq
from inbox.views.display import Moment, channel_label, moment
from inbox.views.fragments import vary_on_htmx, wants_fragment
from inbox.views.ids import form_id, path_id
from inbox.views.requests import require_agent, runtime
from inbox.views.templating import is_htmx, render, render_block

PAGE_SIZE = 50


@dataclass(frozen=True)
class AgentLine:
    load: AgentLoad
    last_active: Moment | None


@dataclass(frozen=True)
class QueueLine:
    queue: Queue
    channel_label: str
    oldest: Moment | None


@dataclass(frozen=True)
class OpenLine:
    row: ConversationRow
    channel_label: str
    when: Moment
    url: str
    assign_url: str
    assignable: list[Agent]


@dataclass(frozen=True)
class BoardPage:
    agents: list[AgentLine]
    queues: list[QueueLine]
    open: list[OpenLine]
    more_url: str | None
    live: LiveSocket | None = None


def _open_line(row: ConversationRow, assignable: list[Agent]) -> OpenLine:
    conv = row.conversation
    return OpenLine(
        row=row,
        channel_label=channel_label(row.inbox_channel),
        when=moment(conv.last_activity_at, utcnow()),
        url=f"/conversations/{conv.id}",
        assign_url=f"/board/conversations/{conv.id}/assign",
        assignable=assignable,
    )


def _page(board: Board, open_lines: list[OpenLine], more_url: str | None) -> BoardPage:
    now = utcnow()
    return BoardPage(
        agents=[
            AgentLine(a, moment(a.last_active_at, now) if a.last_active_at else None)
            for a in board.agents
        ],
        queues=[
            QueueLine(
                q,
                channel_label(q.inbox.channel.value),
                moment(q.oldest_at, now) if q.oldest_at else None,
            )
            for q in board.queues
        ],
        open=open_lines,
        more_url=more_url,
    )


async def board_page(request: Request) -> Response:
    lead = require_agent(request)
    require_lead(lead)
    raw = request.query_params.get("cursor")
    cursor = Cursor.decode(raw) if raw else None
    rt = runtime(request)
    async with rt.read_sessions() as db:
        seq = await latest_seq(db)  # before the board: the socket replays what follows
        board = await load_board(rt, db, lead)
        conversations = await list_conversations(
            db, lead, view="all", status=Status.OPEN, cursor=cursor, limit=PAGE_SIZE
        )
        bell = await unread_count(db, lead)
    more_url = (
        f"/board?{urlencode({'cursor': conversations.next_cursor})}"
        if conversations.next_cursor
        else None
    )
    lines = [
        _open_line(r, board.assignable.get(r.conversation.inbox_id, [])) for r in conversations.rows
    ]
    page = replace(_page(board, lines, more_url), live=live_socket(seq, page="board"))
    if cursor is not None and wants_fragment(request):
        return vary_on_htmx(render_block(request, "board.html", "open_rows", page=page))
    return vary_on_htmx(
        render(request, "board.html", page=page, agent=lead, unread_notifications=bell)
    )


async def _line(db: AsyncSession, lead: Agent, conversation_id: int) -> OpenLine:
    """One conversation's row as it stands now, with who it may be handed to."""
    conv = await get_visible_conversation(db, lead, conversation_id)
    customer = await db.get(Customer, conv.customer_id)
    inbox = await db.get(Inbox, conv.inbox_id)
    assert customer is not None and inbox is not None  # foreign keys guarantee both
    assignee = (
        await db.scalar(select(Agent.name).where(Agent.id == conv.assignee_id))
        if conv.assignee_id is not None
        else None
    )
    audience = await inbox_audience(db, conv.inbox_id)
    assignable = await db.scalars(
        select(Agent).where(Agent.id.in_(audience)).order_by(Agent.name, Agent.id)
    )
    row = ConversationRow(conv, customer.display_name, inbox.name, inbox.channel.value, assignee)
    return _open_line(row, list(assignable.all()))


async def reassign(request: Request) -> Response:
    """Hand an open conversation to someone else, or back to the queue ("Unassigned")."""
    lead = require_agent(request)
    require_lead(lead)
    conversation_id = path_id(request, "conversation_id", "conversation")
    async with request.form() as form:
        assignee_id = form_id(form, "assignee_id")
    rt = runtime(request)
    if assignee_id is None:
        await do_release_conversation(rt, lead, conversation_id)
    else:
        await do_assign_conversation(rt, lead, conversation_id, assignee_id=assignee_id)
    if not is_htmx(request):
        return RedirectResponse("/board", 303)
    async with rt.read_sessions() as db:
        line = await _line(db, lead, conversation_id)
    response = render(request, "_board_row.html", line=line)
    # The workload and queue tables reload themselves on this event. (Sending
    # them out of band beside a <tr> would not survive htmx's table parsing.)
    response.headers["HX-Trigger"] = "board-changed"
    return response


async def summary(request: Request) -> Response:
    """The workload and queue tables alone, for reloading after a change."""
    lead = require_agent(request)
    require_lead(lead)
    rt = runtime(request)
    async with rt.read_sessions() as db:
        board = await load_board(rt, db, lead)
    return render(request, "_board_summary.html", page=_page(board, [], None))


routes = [
    Route("/board", board_page, methods=["GET"]),
    Route("/board/summary", summary, methods=["GET"]),
    Route("/board/conversations/{conversation_id:int}/assign", reassign, methods=["POST"]),
]
