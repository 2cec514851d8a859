"""`POST /webhooks/sms/{inbox_id}`: Twilio's incoming-message webhook.

The signature (`signing`) is checked before the form's content is read as a
message; deduplicated on `MessageSid`. The answer, after commit, is an empty
TwiML `<Response/>`: no automatic reply.

`POST /webhooks/sms/{inbox_id}/status`: the status callbacks of the messages
we sent (`StatusCallback`), signed the same way; `MessageStatus` moves the
message's delivery state (`statuses`).
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from inbox.channels import webhooks
from inbox.errors import BadRequest, NotAuthenticated
from inbox.models import ChannelKind

from . import signing
from .normalise import parse, to_inbound
from .statuses import status_receipts

log = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def _form(raw: bytes) -> list[tuple[str, str]]:
    """The form's parameters, as Twilio signed them; 400 for a body no form encoder made."""
    try:
        return parse_qsl(
            raw.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(raw), errors="strict"
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest("request body is not a valid form") from exc


def _form_to_check(raw: bytes) -> list[tuple[str, str]]:
    """The same, never refused: a body that is no form is first of all not signed."""
    return parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)


async def _signed(request: Request) -> webhooks.Delivery:
    """The inbox and the raw form, once `X-Twilio-Signature` checked out (else 401)."""
    got = await webhooks.delivery(request, ChannelKind.SMS, "SMS", ("auth_token",))
    url = signing.called_url(request, got.rt.settings.trust_proxy_headers)
    problem = signing.check(
        got.secrets["auth_token"],
        request.headers.get(signing.SIGNATURE_HEADER),
        url,
        _form_to_check(got.raw),
    )
    if problem is not None:
        log.info("SMS webhook for inbox %s refused: %s", got.inbox.id, problem)
        raise NotAuthenticated(problem)
    return got


@webhooks.endpoint
async def receive(request: Request) -> Response:
    got = await _signed(request)
    sms, media = parse(_form(got.raw))
    await got.store(to_inbound(got.inbox.id, sms, media))
    return Response(EMPTY_TWIML, media_type="text/xml")


@webhooks.endpoint
async def receive_status(request: Request) -> Response:
    got = await _signed(request)
    await webhooks.apply_receipts(got.rt, got.inbox.id, status_receipts(_form(got.raw)))
    return Response(status_code=204)


routes = [
    Route("/webhooks/sms/{inbox_id}", receive, methods=["POST"]),
    Route("/webhooks/sms/{inbox_id}/status", receive_status, methods=["POST"]),
]
