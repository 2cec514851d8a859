"""`/webhooks/{whatsapp|messenger|instagram}/{inbox_id}`: Meta's webhooks.

- GET: the subscription handshake. `hub.mode=subscribe` with the inbox's
  verify token answers `hub.challenge` as plain text; anything else 403.
- POST: the raw body's `X-Hub-Signature-256` is checked against the inbox's
  app secret before parsing (401 otherwise); every message it carries is
  stored, each deduplicated on its provider id, and the 200 comes after
  commit. Delivery receipts (WhatsApp statuses, Messenger deliveries and
  reads, Instagram reads) move our messages' delivery state (`receipts`).
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from inbox.channels import webhooks
from inbox.channels.base import InboundMessage
from inbox.errors import Forbidden, NotAuthenticated
from inbox.models import ChannelKind
from inbox.views.requests import runtime

from . import signing
from .normalise import PagePayload, WaPayload, page_messages, whatsapp
from .receipts import page_receipts, whatsapp_receipts

log = logging.getLogger(__name__)

LABELS = {
    ChannelKind.WHATSAPP: "WhatsApp",
    ChannelKind.MESSENGER: "Messenger",
    ChannelKind.INSTAGRAM: "Instagram",
}


def _kind(request: Request) -> ChannelKind:
    return ChannelKind(request.url.path.split("/")[2])


@webhooks.endpoint
async def verify(request: Request) -> Response:
    kind = _kind(request)
    inbox = await webhooks.channel_inbox(
        runtime(request), request, kind, LABELS[kind], ("verify_token",)
    )
    challenge = signing.verified_challenge(
        inbox.secrets["verify_token"], dict(request.query_params)
    )
    if challenge is None:
        log.info("%s verification for inbox %s refused", LABELS[kind], inbox.id)
        raise Forbidden("hub.mode must be subscribe and hub.verify_token the inbox's")
    return PlainTextResponse(challenge)


@webhooks.endpoint
async def receive(request: Request) -> Response:
    kind = _kind(request)
    got = await webhooks.delivery(request, kind, LABELS[kind], ("app_secret",))
    supplied = request.headers.get(signing.SIGNATURE_HEADER)
    problem = signing.check(got.secrets["app_secret"], supplied, got.raw)
    if problem is not None:
        log.info("%s webhook for inbox %s refused: %s", LABELS[kind], got.inbox.id, problem)
        raise NotAuthenticated(problem)
    data = webhooks.parse_json(got.raw)
    inbounds: list[InboundMessage]
    if kind is ChannelKind.WHATSAPP:
        inbounds = whatsapp(got.inbox.id, WaPayload.model_validate(data))
        receipts = whatsapp_receipts(data)
    else:
        inbounds = page_messages(got.inbox.id, kind, PagePayload.model_validate(data))
        receipts = page_receipts(kind, data)
    received = await got.store_all(inbounds)
    await webhooks.apply_receipts(got.rt, got.inbox.id, receipts)
    return webhooks.summary(received)


routes = [
    route
    for kind in LABELS
    for route in (
        Route(f"/webhooks/{kind.value}/{{inbox_id}}", verify, methods=["GET"]),
        Route(f"/webhooks/{kind.value}/{{inbox_id}}", receive, methods=["POST"]),
    )
]
