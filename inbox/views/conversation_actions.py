"""The state-changing conversation routes: parse the form, call an action, answer.

htmx gets the changed fragments back; a plain form post is redirected (303)
to the conversation page. Errors are raised as InboxError and shown by the
shared error handler (in #flash for htmx).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from inbox.access import get_visible_conversation
from inbox.actions.conversations import (
    do_assign_conversation,
    do_claim_conversation,
    do_release_conversation,
    do_set_status,
)
from inbox.actions.messages import do_post_note, do_post_reply
from inbox.models import Agent, Inbox, Message, Status
from inbox.queries import TimelineEntry
from inbox.runtime import Runtime
from inbox.views.conversation_page import load_header, timeline_item
from inbox.views.forms import form_optional_int, form_text
from inbox.views.requests import path_int, require_agent, runtime
from inbox.views.templating import is_htmx, render


async def _message_posted(request: Request, agent: Agent, message: Message) -> Response:
    url = f"/conversations/{message.conversation_id}"
    if not is_htmx(request):
        return RedirectResponse(f"{url}#m-{message.id}", 303)
    async with runtime(request).read_sessions() as db:
        conv = await get_visible_conversation(db, agent, message.conversation_id)
        header = await load_header(db, agent, conv)
        inbox = await db.get(Inbox, message.inbox_id)
        assert inbox is not None
    entry = TimelineEntry(message, inbox.name, inbox.channel.value, agent.name)
    return render(
        request,
        "_message_posted.html",
        item=timeline_item(entry, conv.id, attachments=()),
        header=header,
    )


async def post_note(request: Request) -> Response:
    agent = require_agent(request)
    conversation_id = path_int(request, "conversation_id")
    async with request.form() as form:
        text = form_text(form, "text")
    message = await do_post_note(runtime(request), agent, conversation_id, text)
    return await _message_posted(request, agent, message)


async def post_reply(request: Request) -> Response:
    agent = require_agent(request)
    conversation_id = path_int(request, "conversation_id")
    async with request.form() as form:
        text = form_text(form, "text")
    message = await do_post_reply(runtime(request), agent, conversation_id, text)
    return await _message_posted(request, agent, message)


async def _header_changed(request: Request, agent: Agent, conversation_id: int) -> Response:
    url = f"/conversations/{conversation_id}"
    if not is_htmx(request):
        return RedirectResponse(url, 303)
    async with runtime(request).read_sessions() as db:
        conv = await get_visible_conversation(db, agent, conversation_id)
        header = await load_header(db, agent, conv)
    return render(request, "_header_changed.html", header=header)


Change = Callable[[Runtime, Agent, int], Awaitable[object]]


def _header_route(change: Change) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        agent = require_agent(request)
        conversation_id = path_int(request, "conversation_id")
        await change(runtime(request), agent, conversation_id)
        return await _header_changed(request, agent, conversation_id)

    return endpoint


async def _resolve(rt: Runtime, agent: Agent, conversation_id: int) -> object:
    return await do_set_status(rt, agent, conversation_id, Status.RESOLVED)


async def _reopen(rt: Runtime, agent: Agent, conversation_id: int) -> object:
    return await do_set_status(rt, agent, conversation_id, Status.OPEN)


async def assign(request: Request) -> Response:
    agent = require_agent(request)
    conversation_id = path_int(request, "conversation_id")
    async with request.form() as form:
        assignee_id = form_optional_int(form, "assignee_id")
        team_id = form_optional_int(form, "team_id")
    await do_assign_conversation(
        runtime(request), agent, conversation_id, assignee_id=assignee_id, team_id=team_id
    )
    return await _header_changed(request, agent, conversation_id)


_BASE = "/conversations/{conversation_id:int}"

routes = [
    Route(f"{_BASE}/notes", post_note, methods=["POST"]),
    Route(f"{_BASE}/replies", post_reply, methods=["POST"]),
    Route(f"{_BASE}/claim", _header_route(do_claim_conversation), methods=["POST"]),
    Route(f"{_BASE}/release", _header_route(do_release_conversation), methods=["POST"]),
    Route(f"{_BASE}/resolve", _header_route(_resolve), methods=["POST"]),
    Route(f"{_BASE}/reopen", _header_route(_reopen), methods=["POST"]),
    Route(f"{_BASE}/assign", assign, methods=["POST"]),
]
