"""`POST /webhooks/api/{inbox_id}`: signed inbound messages from an integration.

The checks and their statuses are those of every webhook (`inbox.channels.webhooks`):
unknown inbox 404, body too large 413, bad or stale signature 401 (the body is
not even parsed), malformed JSON 400, schema 422; the answer is sent after
commit, so a 200 means stored. The sender's message id makes redelivery safe.
"""

from __future__ import annotations

import logging
import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inbox.channels import webhooks
from inbox.errors import NotAuthenticated
from inbox.models import ChannelKind

from . import signing
from .normalise import ApiMessage, to_inbound

log = logging.getLogger(__name__)


@webhooks.endpoint
async def receive(request: Request) -> Response:
    got = await webhooks.delivery(request, ChannelKind.API, "API", ("signing_secret",))
    problem = signing.check(
        got.secrets["signing_secret"],
        request.headers.get(signing.TIMESTAMP_HEADER),
        request.headers.get(signing.SIGNATURE_HEADER),
        got.raw,
        time.time(),
    )
    if problem is not None:
        log.info("API webhook for inbox %s refused: %s", got.inbox.id, problem)
        raise NotAuthenticated(problem)
    data = webhooks.parse_json(got.raw)
    inbound = to_inbound(got.inbox.id, ApiMessage.model_validate(data))
    received = await got.store(inbound)
    return JSONResponse(
        {
            "message_id": received.message.id,
            "conversation_id": received.message.conversation_id,
            "duplicate": not received.created,
        }
    )


routes = [Route("/webhooks/api/{inbox_id}", receive, methods=["POST"])]
