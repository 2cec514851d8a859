"""`/messages/{id}/split` and `/messages/{id}/move`: an agent fixes where a customer's message sits.

htmx gets an empty answer: the `message.moved` event redraws every page
showing the customer, the agent's own included. A plain form post is
redirected to the conversation the message is in now.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from inbox.actions.threads import do_move_message
from inbox.errors import BadRequest
from inbox.views.forms import form_optional_int
from inbox.views.ids import path_id
from inbox.views.requests import require_agent, runtime
from inbox.views.templating import is_htmx

MAX_MESSAGE_ID = 2**63 - 1  # message ids are 64-bit


async def _answer(request: Request, conversation_id: int) -> Response:
    if is_htmx(request):
        return Response(status_code=204)
    return RedirectResponse(f"/conversations/{conversation_id}", 303)


async def split(request: Request) -> Response:
    agent = require_agent(request)
    message_id = path_id(request, "message_id", "message", limit=MAX_MESSAGE_ID)
    target = await do_move_message(runtime(request), agent, message_id, None)
    return await _answer(request, target.id)


async def move(request: Request) -> Response:
    agent = require_agent(request)
    message_id = path_id(request, "message_id", "message", limit=MAX_MESSAGE_ID)
    async with request.form() as form:
        to_conversation = form_optional_int(form, "to_conversation")
    if to_conversation is None:
        raise BadRequest("to_conversation: say which conversation to move it to")
    target = await do_move_message(runtime(request), agent, message_id, to_conversation)
    return await _answer(request, target.id)


routes = [
    Route("/messages/{message_id:int}/split", split, methods=["POST"]),
    Route("/messages/{message_id:int}/move", move, methods=["POST"]),
]
