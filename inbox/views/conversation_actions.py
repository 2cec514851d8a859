"""The state-changing conversation routes: parse the form, call an action, answer.

htmx gets the changed fragments back; a plain form post is redirected (303)
to the conversation page. Errors are raised as InboxError and shown by the
shared error handler (in #flash for htmx).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from starlette.datastructures import FormData
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
from inbox.actions.messages import (
    NOTE_ATTACHMENTS_REFUSED,
    attachments_refused,
    do_post_note_with_mentions,
    do_post_reply,
    reply_attachment_limits,
)
from inbox.actions.outbound_sends import TemplateChoice
from inbox.errors import BadRequest, Conflict
from inbox.models import Agent, Attachment, Inbox, Message, Status
from inbox.queries import TimelineEntry
from inbox.realtime.snapshots import timeline_entry
from inbox.runtime import Runtime
from inbox.views.conversation_page import TIMELINE_PAGE, load_header, timeline_item
from inbox.views.forms import form_optional_int, form_text
from inbox.views.requests import path_int, require_agent, runtime
from inbox.views.templating import is_htmx, render
from inbox.views.uploads import message_form

MAX_MESSAGE_ID = 2**63 - 1  # message ids are 64-bit


async def _message_posted(
    request: Request,
    agent: Agent,
    message: Message,
    *,
    based_on: int | None = None,
    warning: str | None = None,
    attachments: Sequence[Attachment] = (),
) -> Response:
    """`based_on` is what the emptied composer's next draft starts from
    (static/app.js moves it on with the live timeline until the agent types)."""
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
        item=timeline_item(entry, conv.id, attachments=attachments),
        header=header,
        based_on=message.id if based_on is None else based_on,
        warning=warning,
    )


async def post_note(request: Request) -> Response:
    agent = require_agent(request)
    conversation_id = path_int(request, "conversation_id")
    # The composer of an email conversation posts its (empty) file input here too.
    async with message_form(request, None, NOTE_ATTACHMENTS_REFUSED) as form:
        text = form_text(form.fields, "text")
        based_on = _based_on(form.fields)
    posted = await do_post_note_with_mentions(runtime(request), agent, conversation_id, text)
    # Notes aren't checked for new activity, so the next draft keeps the old base.
    # The author hears of mentions that reached nobody ("Olga can't see this inbox").
    return await _message_posted(
        request, agent, posted.message, based_on=based_on, warning=posted.mentions.warning()
    )


async def post_reply(request: Request) -> Response:
    agent = require_agent(request)
    conversation_id = path_int(request, "conversation_id")
    rt = runtime(request)
    async with rt.read_sessions() as db:
        # Before the body is read: an unknown conversation is a 404, whatever it carries.
        conv = await get_visible_conversation(db, agent, conversation_id)
        inbox = await db.get(Inbox, conv.inbox_id)
        assert inbox is not None  # a foreign key
    async with message_form(
        request, reply_attachment_limits(inbox), attachments_refused(inbox)
    ) as form:
        text = form_text(form.fields, "text")
        based_on = _based_on(form.fields)
        attachments = await form.store(rt.blobs)
    try:
        message = await do_post_reply(
            rt, agent, conversation_id, text, based_on=based_on, attachments=attachments
        )
    except Conflict as exc:
        new_ids = exc.details.get("new_message_ids")
        if not new_ids or not is_htmx(request):
            raise  # a plain form post gets the 409 page; Back keeps the text
        return await _reply_refused(request, agent, conversation_id, new_ids)
    # Nothing new had come in up to the reply itself.
    return await _message_posted(request, agent, message, attachments=message.attachments)


async def post_template_reply(request: Request) -> Response:
    """An approved WhatsApp template as the reply (the composer offers them
    outside the 24-hour window)."""
    agent = require_agent(request)
    conversation_id = path_int(request, "conversation_id")
    async with request.form() as form:
        name = form_text(form, "template")
        params = [v for v in form.getlist("param") if isinstance(v, str)]
    choice = TemplateChoice(name, tuple(params))
    message = await do_post_reply(runtime(request), agent, conversation_id, "", template=choice)
    return await _message_posted(request, agent, message)


# Collision control ----------------------------------------------------------


def _based_on(form: FormData) -> int | None:
    """The newest message id the draft was started from; absent skips the check."""
    value = form_optional_int(form, "based_on")
    if value is not None and not 0 <= value <= MAX_MESSAGE_ID:
        raise BadRequest("based_on must be an id")
    return value


async def _reply_refused(
    request: Request, agent: Agent, conversation_id: int, new_ids: list[int]
) -> Response:
    """409 for htmx: the new messages (appended; the live copies dedupe), the
    composer's based_on moved past them, and a prompt. The agent's text stays."""
    async with runtime(request).read_sessions() as db:
        conv = await get_visible_conversation(db, agent, conversation_id)
        # The newest page's worth at most; anything older is on the page already.
        shown = new_ids[-TIMELINE_PAGE:]
        entries = [e for e in [await timeline_entry(db, i) for i in shown] if e is not None]
    return render(
        request,
        "_reply_refused.html",
        status_code=409,
        items=[timeline_item(e, conv.id) for e in entries],
        based_on=max(new_ids),
    )


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
    Route(f"{_BASE}/templates", post_template_reply, methods=["POST"]),
    Route(f"{_BASE}/claim", _header_route(do_claim_conversation), methods=["POST"]),
    Route(f"{_BASE}/release", _header_route(do_release_conversation), methods=["POST"]),
    Route(f"{_BASE}/resolve", _header_route(_resolve), methods=["POST"]),
    Route(f"{_BASE}/reopen", _header_route(_reopen), methods=["POST"]),
    Route(f"{_BASE}/assign", assign, methods=["POST"]),
]
