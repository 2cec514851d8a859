"""Conversations: the inbox list, one conversation, and everything done to one."""

from __future__ import annotations

from collections.abc import Sequence

from inbox.access import get_visible_conversation, visible_inbox_ids
from inbox.actions.conversations import (
    do_assign_conversation,
    do_claim_conversation,
    do_release_conversation,
    do_set_status,
)
from inbox.actions.messages import (
    NOTE_ATTACHMENTS_REFUSED,
    NewAttachment,
    attachments_refused,
    do_post_note_with_mentions,
    do_post_reply,
    reply_attachment_limits,
)
from inbox.actions.outbound_sends import TemplateChoice
from inbox.errors import BadRequest, NotFound
from inbox.models import Inbox, Status
from inbox.queries import list_conversations as query_conversations
from inbox.views.middleware import CSRF_FORM_FIELD
from inbox.views.uploads import FILES_FIELD, message_form

from .reads import conversation_messages, decode_cursor, visible_conversation_row
from .registry import Call, Endpoint
from .schemas import (
    MAX_ID,
    AssignIn,
    ConversationDetailOut,
    ConversationListOut,
    ConversationListQuery,
    ConversationResultOut,
    EmptyIn,
    MessageResultOut,
    PostMessageForm,
    PostMessageIn,
)
from .serialise import conversation_out, message_out, new_message_out

TAG = "conversations"


async def list_conversations(call: Call) -> ConversationListOut:
    """Newest activity first, a page at a time.

    Follow `next_cursor` until it is null. Pages are keyset-based, so a
    conversation that moves while you page is neither skipped nor repeated
    within the pages already fetched.
    """
    q = call.query_as(ConversationListQuery)
    cursor = decode_cursor(q.cursor, MAX_ID)
    async with call.rt.read_sessions() as db:
        page = await query_conversations(
            db,
            call.agent,
            view=q.view,
            status=None if q.status == "any" else Status(q.status),
            inbox_id=q.inbox_id,
            cursor=cursor,
            limit=q.limit,
        )
        # The query answers an invisible inbox with an empty page; only then is
        # it worth a second look to tell "none here" from "not yours" (404).
        if (
            q.inbox_id is not None
            and not page.rows
            and q.inbox_id not in await visible_inbox_ids(db, call.agent)
        ):
            raise NotFound("inbox not found")
    return ConversationListOut(
        conversations=[conversation_out(r) for r in page.rows], next_cursor=page.next_cursor
    )


async def get_conversation(call: Call) -> ConversationDetailOut:
    """The conversation and all of its messages, private notes included, oldest first."""
    conversation_id = call.path_id("conversation")
    async with call.rt.read_sessions() as db:
        row = await visible_conversation_row(db, call.agent, conversation_id)
        messages = await conversation_messages(db, conversation_id)
    return ConversationDetailOut(
        conversation=conversation_out(row), messages=[message_out(m) for m in messages]
    )


async def _current(call: Call, conversation_id: int) -> ConversationResultOut:
    """The conversation as it stands after an action, with its display names."""
    async with call.rt.read_sessions() as db:
        row = await visible_conversation_row(db, call.agent, conversation_id)
    return ConversationResultOut(conversation=conversation_out(row))


async def claim_conversation(call: Call) -> ConversationResultOut:
    """Take an unassigned conversation. Claiming one you hold already is harmless.

    409 names the colleague who holds it.
    """
    conversation_id = call.path_id("conversation")
    await do_claim_conversation(call.rt, call.agent, conversation_id)
    return await _current(call, conversation_id)


async def release_conversation(call: Call) -> ConversationResultOut:
    """Put it back in the queue. Agents release their own; leads and admins any."""
    conversation_id = call.path_id("conversation")
    await do_release_conversation(call.rt, call.agent, conversation_id)
    return await _current(call, conversation_id)


async def resolve_conversation(call: Call) -> ConversationResultOut:
    """Mark it resolved. Only its assignee (if any), a lead or an admin may."""
    conversation_id = call.path_id("conversation")
    await do_set_status(call.rt, call.agent, conversation_id, Status.RESOLVED)
    return await _current(call, conversation_id)


async def reopen_conversation(call: Call) -> ConversationResultOut:
    """Make it open again. Only its assignee (if any), a lead or an admin may."""
    conversation_id = call.path_id("conversation")
    await do_set_status(call.rt, call.agent, conversation_id, Status.OPEN)
    return await _current(call, conversation_id)


async def assign_conversation(call: Call) -> ConversationResultOut:
    """Give it to an agent, a team, or both.

    An agent may only assign to themself (403 otherwise); leads and admins
    assign to anyone who can see the inbox.
    """
    conversation_id = call.path_id("conversation")
    body = call.body_as(AssignIn)
    await do_assign_conversation(
        call.rt, call.agent, conversation_id, assignee_id=body.assignee_id, team_id=body.team_id
    )
    return await _current(call, conversation_id)


async def post_message(call: Call) -> MessageResultOut:
    """Reply to the customer, or leave a private note for colleagues.

    Replying to an unassigned conversation claims it; an agent can't reply to
    one a colleague holds (409). With `based_on`, a reply is also refused (409,
    "new activity since you started", `details.new_message_ids`) when the
    customer wrote or a colleague replied after that message. Notes are
    always allowed.

    A reply in an email inbox can carry files: send `multipart/form-data`
    with the same fields and one `files` part per file (see
    `PostMessageForm`). Each comes back in `attachments` with its `url`.
    """
    conversation_id = call.path_id("conversation")
    if call.body is None:  # multipart: the registry left the form to us
        return await _post_message_form(call, conversation_id)
    body = call.body_as(PostMessageIn)
    return await _post_message(call, conversation_id, body)


async def _post_message_form(call: Call, conversation_id: int) -> MessageResultOut:
    async with call.rt.read_sessions() as db:
        # Before the body is read: an unknown conversation is a 404, whatever it carries.
        conv = await get_visible_conversation(db, call.agent, conversation_id)
        inbox = await db.get(Inbox, conv.inbox_id)
        assert inbox is not None  # a foreign key
    limits = reply_attachment_limits(inbox)
    async with message_form(call.request, limits, attachments_refused(inbox)) as form:
        fields = {
            name: value
            for name, value in form.fields.multi_items()
            if isinstance(value, str)
            # A cookie session may send its CSRF token as a field; an empty
            # based_on is an untouched form input.
            and name != CSRF_FORM_FIELD
            and not (name == "based_on" and value == "")
        }
        if FILES_FIELD in fields:
            raise BadRequest(f"`{FILES_FIELD}` takes files, not text")
        body = PostMessageForm.model_validate(fields)
        if body.kind == "note" and form.uploads:
            raise BadRequest(NOTE_ATTACHMENTS_REFUSED)
        attachments = await form.store(call.rt.blobs)
    as_json = PostMessageIn(kind=body.kind, text=body.text, based_on=body.based_on)
    return await _post_message(call, conversation_id, as_json, attachments)


async def _post_message(
    call: Call,
    conversation_id: int,
    body: PostMessageIn,
    attachments: Sequence[NewAttachment] = (),
) -> MessageResultOut:
    if body.kind == "reply":
        template = body.template
        message = await do_post_reply(
            call.rt,
            call.agent,
            conversation_id,
            body.text,
            based_on=body.based_on,
            attachments=attachments,
            template=None
            if template is None
            else TemplateChoice(template.name, tuple(template.params)),
        )
        return MessageResultOut(message=new_message_out(message, message.attachments))
    if body.template is not None:
        raise BadRequest("a note can't be a template")
    posted = await do_post_note_with_mentions(call.rt, call.agent, conversation_id, body.text)
    return MessageResultOut(
        message=new_message_out(posted.message), warning=posted.mentions.warning()
    )


_ONE = "/conversations/{id:int}"

ENDPOINTS = [
    Endpoint(
        "GET",
        "/conversations",
        "List conversations",
        list_conversations,
        ConversationListOut,
        tag=TAG,
        query=ConversationListQuery,
        errors=(400, 404),
    ),
    Endpoint(
        "GET",
        _ONE,
        "A conversation and its messages",
        get_conversation,
        ConversationDetailOut,
        tag=TAG,
    ),
    Endpoint(
        "POST",
        f"{_ONE}/claim",
        "Claim a conversation",
        claim_conversation,
        ConversationResultOut,
        tag=TAG,
        body=EmptyIn,
        errors=(409,),
    ),
    Endpoint(
        "POST",
        f"{_ONE}/release",
        "Release a conversation",
        release_conversation,
        ConversationResultOut,
        tag=TAG,
        body=EmptyIn,
    ),
    Endpoint(
        "POST",
        f"{_ONE}/resolve",
        "Resolve a conversation",
        resolve_conversation,
        ConversationResultOut,
        tag=TAG,
        body=EmptyIn,
        errors=(409,),
    ),
    Endpoint(
        "POST",
        f"{_ONE}/reopen",
        "Reopen a conversation",
        reopen_conversation,
        ConversationResultOut,
        tag=TAG,
        body=EmptyIn,
        errors=(409,),
    ),
    Endpoint(
        "POST",
        f"{_ONE}/assign",
        "Assign a conversation",
        assign_conversation,
        ConversationResultOut,
        tag=TAG,
        body=AssignIn,
    ),
    Endpoint(
        "POST",
        f"{_ONE}/messages",
        "Reply or add a note",
        post_message,
        MessageResultOut,
        tag=TAG,
        status=201,
        body=PostMessageIn,
        form=PostMessageForm,
        errors=(409,),
    ),
]
