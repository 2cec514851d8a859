"""The API channel's outbound webhook: each agent reply is POSTed as JSON to the
URL an admin set on the inbox (`outbound_webhook_url`), through the SSRF
guard (`http_guard`, chosen by provider_sender.py), signed exactly as
inbound requests are (`signing`: timestamp + HMAC-SHA256 under the inbox's
signing secret), so an integration checks it with the same code.

Each attempt is signed afresh (the timestamp must be within the replay
window); `id` is the same on every attempt, so a receiver that saw it
already can ignore a retry. Any 2xx means accepted. The contract is in
docs/api-channel.md.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from inbox.channels.http_guard import FetchError
from inbox.channels.provider_send import (
    ProviderRequest,
    SendFailure,
    json_body,
    refused,
    unreachable,
)
from inbox.models import Inbox

from . import signing

PROVIDER = "the integration"
CONFIG_KEY = "outbound_webhook_url"
EVENT = "message.reply"


def webhook_body(request: ProviderRequest, text: str) -> bytes:
    body: dict[str, Any] = {
        "event": EVENT,
        "id": str(request.message_id),
        "conversation_id": request.conversation_id,
        "recipient": {"id": request.to},
        "text": text,
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


async def send(
    client: httpx.AsyncClient, inbox: Inbox, request: ProviderRequest, *, now: float | None = None
) -> None:
    url = inbox.config.get(CONFIG_KEY)
    secret = inbox.secrets.get("signing_secret")
    if not isinstance(url, str) or not url:
        raise SendFailure("the inbox has no outbound webhook URL: an admin sets it", permanent=True)
    if not isinstance(secret, str) or not secret:
        raise SendFailure("the inbox has no signing secret: an admin sets it", permanent=True)
    if request.text is None:
        raise SendFailure("API channel replies are text only", permanent=True)
    raw = webhook_body(request, request.text)
    timestamp = str(int(time.time() if now is None else now))
    headers = {
        "Content-Type": "application/json",
        "X-Inbox-Timestamp": timestamp,
        "X-Inbox-Signature": signing.signature(secret, timestamp, raw),
    }
    try:
        response = await client.post(url, content=raw, headers=headers)
    except FetchError as exc:
        # The guard's reason names the host and the problem, never the URL.
        raise SendFailure(
            f"could not deliver to the integration: {exc.reason}", permanent=not exc.transient
        ) from None
    except httpx.HTTPError as exc:
        raise unreachable(PROVIDER, exc) from None
    if response.is_success:
        return
    answer = json_body(response)
    said = answer.get("error") or answer.get("message")
    if isinstance(said, dict):
        said = said.get("message")
    raise refused(PROVIDER, response, str(said) if said else None)
