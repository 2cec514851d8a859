"""Direct messages between agents: `/messages` (threads per colleague) and the panel
on a conversation page listing the messages about that case.

Only the two colleagues of a message ever see it: every read filters on the
viewer being its sender or recipient.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from inbox.access import get_visible_conversation, inbox_audience
from inbox.actions.direct_messages import do_send_direct_message
from inbox.actions.notifications import do_mark_thread_read
from inbox.models import Agent, Conversation, utcnow
from inbox.queries_direct_messages import (
    DirectMessageRow,
    ThreadSummary,
    about_conversation,
    colleagues,
    thread,
    threads,
)
from inbox.queries_notifications import unread_count
from inbox.views.display import Moment, moment
from inbox.views.forms import form_text
from inbox.views.fragments import vary_on_htmx, wants_fragment
from inbox.views.ids import path_id, required_form_id
from inbox.views.requests import require_agent, runtime
from inbox.views.templating import is_htmx, render

THREAD_PAGE = 50


@dataclass(frozen=True)
class DmItem:
    row: DirectMessageRow
    when: Moment


@dataclass(frozen=True)
class ThreadLink:
    summary: ThreadSummary
    when: Moment
    url: str
    is_current: bool


@dataclass(frozen=True)
class ThreadView:
    colleague: Agent
    items: list[DmItem]
    earlier_url: str | None
    unread: int
    url: str


@dataclass(frozen=True)
class MessagesPage:
    threads: list[ThreadLink]
    colleagues: list[Agent]
    thread: ThreadView | None


@dataclass(frozen=True)
class DmPanel:
    """The conversation page's panel: this viewer's messages about the case."""

    items: list[DmItem]
    # Colleagues who can see this conversation: only they may be written to about it.
    colleagues: list[Agent]
    url: str
    # Messages about this very conversation need no link back to it.
    conversation_url: str


def _items(rows: list[DirectMessageRow]) -> list[DmItem]:
    now = utcnow()
    return [DmItem(r, moment(r.dm.created_at, now)) for r in rows]


async def load_dm_panel(db: AsyncSession, agent: Agent, conv: Conversation) -> DmPanel:
    """The caller has checked the agent may see `conv`."""
    audience = await inbox_audience(db, conv.inbox_id)
    people = await db.scalars(
        select(Agent).where(Agent.id.in_(audience - {agent.id})).order_by(Agent.name, Agent.id)
    )
    return DmPanel(
        items=_items(await about_conversation(db, agent, conv)),
        colleagues=list(people.all()),
        url=f"/conversations/{conv.id}/direct-messages",
        conversation_url=f"/conversations/{conv.id}",
    )


async def _messages_page(
    request: Request, agent: Agent, colleague_id: int | None, before: str | None
) -> Response:
    now = utcnow()
    async with runtime(request).read_sessions() as db:
        summaries = await threads(db, agent)
        view = None
        if colleague_id is not None:
            found = await thread(db, agent, colleague_id, before=before, limit=THREAD_PAGE)
            url = f"/messages/{colleague_id}"
            view = ThreadView(
                colleague=found.colleague,
                items=_items(found.rows),
                earlier_url=f"{url}?{urlencode({'before': found.earlier_cursor})}"
                if found.earlier_cursor
                else None,
                unread=next((s.unread for s in summaries if s.colleague_id == colleague_id), 0),
                url=url,
            )
        page = MessagesPage(
            threads=[
                ThreadLink(
                    s,
                    moment(s.last.created_at, now),
                    f"/messages/{s.colleague_id}",
                    s.colleague_id == colleague_id,
                )
                for s in summaries
            ],
            colleagues=await colleagues(db, agent),
            thread=view,
        )
        bell = await unread_count(db, agent)
    return vary_on_htmx(
        render(request, "messages.html", page=page, agent=agent, unread_notifications=bell)
    )


async def messages_page(request: Request) -> Response:
    agent = require_agent(request)
    return await _messages_page(request, agent, None, None)


async def thread_page(request: Request) -> Response:
    agent = require_agent(request)
    colleague_id = path_id(request, "agent_id", "colleague")
    before = request.query_params.get("before") or None
    return await _messages_page(request, agent, colleague_id, before)


async def send(request: Request) -> Response:
    """From /messages: a message with no case attached."""
    agent = require_agent(request)
    async with request.form() as form:
        recipient_id = required_form_id(form, "recipient_id", "a colleague to write to")
        body = form_text(form, "body")
    await do_send_direct_message(runtime(request), agent, recipient_id, body)
    # Same answer with or without htmx: the thread, where the new message shows.
    return RedirectResponse(f"/messages/{recipient_id}", 303)


async def mark_thread_read(request: Request) -> Response:
    agent = require_agent(request)
    colleague_id = path_id(request, "agent_id", "colleague")
    await do_mark_thread_read(runtime(request), agent, colleague_id)
    return RedirectResponse(f"/messages/{colleague_id}", 303)


async def dm_panel(request: Request) -> Response:
    """The panel on its own: the conversation page loads it after rendering."""
    agent = require_agent(request)
    conversation_id = path_id(request, "conversation_id", "conversation")
    if not wants_fragment(request):
        return RedirectResponse(f"/conversations/{conversation_id}#dm-panel", 303)
    async with runtime(request).read_sessions() as db:
        conv = await get_visible_conversation(db, agent, conversation_id)
        panel = await load_dm_panel(db, agent, conv)
    return vary_on_htmx(render(request, "_dm_panel_body.html", dm_panel=panel))


async def send_about_conversation(request: Request) -> Response:
    """From the panel: a message about this conversation (and so its customer)."""
    agent = require_agent(request)
    conversation_id = path_id(request, "conversation_id", "conversation")
    async with request.form() as form:
        recipient_id = required_form_id(form, "recipient_id", "a colleague to write to")
        body = form_text(form, "body")
    rt = runtime(request)
    await do_send_direct_message(rt, agent, recipient_id, body, conversation_id=conversation_id)
    if not is_htmx(request):
        return RedirectResponse(f"/conversations/{conversation_id}#dm-panel", 303)
    async with rt.read_sessions() as db:
        conv = await get_visible_conversation(db, agent, conversation_id)
        panel = await load_dm_panel(db, agent, conv)
    return render(request, "_dm_panel_body.html", dm_panel=panel)


routes = [
    Route("/messages", messages_page, methods=["GET"]),
    Route("/messages", send, methods=["POST"]),
    Route("/messages/{agent_id:int}", thread_page, methods=["GET"]),
    Route("/messages/{agent_id:int}/read", mark_thread_read, methods=["POST"]),
    Route("/conversations/{conversation_id:int}/direct-messages", dm_panel, methods=["GET"]),
    Route(
        "/conversations/{conversation_id:int}/direct-messages",
        send_about_conversation,
        methods=["POST"],
    ),
]
