"""`POST /webhooks/telegram/{inbox_id}`: the bot's updates, set with `setWebhook`.

Telegram sends the `secret_token` given to `setWebhook` in
`X-Telegram-Bot-Api-Secret-Token`; it is compared in constant time with the
inbox's `secret_token` before the body is parsed. Deduplicated on `update_id`.
"""

from __future__ import annotations

import hmac
import logging

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from inbox.channels import webhooks
from inbox.errors import NotAuthenticated
from inbox.models import ChannelKind

from .normalise import Update, to_inbound

log = logging.getLogger(__name__)

SECRET_HEADER = "x-telegram-bot-api-secret-token"


@webhooks.endpoint
async def receive(request: Request) -> Response:
    got = await webhooks.delivery(request, ChannelKind.TELEGRAM, "Telegram", ("secret_token",))
    supplied = request.headers.get(SECRET_HEADER, "")
    if not hmac.compare_digest(supplied.encode(), got.secrets["secret_token"].encode()):
        log.info("Telegram webhook for inbox %s refused: bad secret token", got.inbox.id)
        raise NotAuthenticated("missing or wrong X-Telegram-Bot-Api-Secret-Token")
    update = Update.model_validate(webhooks.parse_json(got.raw))
    inbound = to_inbound(got.inbox.id, update)
    received = [] if inbound is None else [await got.store(inbound)]
    return webhooks.summary(received)


routes = [Route("/webhooks/telegram/{inbox_id}", receive, methods=["POST"])]
