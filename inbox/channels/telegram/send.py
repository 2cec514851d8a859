"""Sending a reply with the Bot API: `POST {base}/bot{token}/sendMessage`.

https://core.telegram.org/bots/api#sendmessage. Telegram has no delivery
receipts, so a message it accepts is simply sent. Its message ids are unique
per chat only, so the id kept is `"{chat_id}:{message_id}"`, which can't meet
an inbound `update_id` either.
"""

from __future__ import annotations

from datetime import timedelta

import httpx

from inbox.channels.provider_send import (
    ProviderRequest,
    SendFailure,
    json_body,
    refused,
    unreachable,
)
from inbox.channels.provider_urls import api_base_url
from inbox.models import Inbox

PROVIDER = "Telegram"


async def send(client: httpx.AsyncClient, inbox: Inbox, request: ProviderRequest) -> str:
    token = inbox.secrets.get("bot_token")
    if not isinstance(token, str) or not token:
        raise SendFailure("the inbox has no bot token: an admin sets it", permanent=True)
    if request.text is None:
        raise SendFailure("Telegram replies are text only", permanent=True)
    url = f"{api_base_url(inbox)}/bot{token}/sendMessage"
    try:
        response = await client.post(url, json={"chat_id": request.to, "text": request.text})
    except httpx.HTTPError as exc:
        raise unreachable(PROVIDER, exc) from None
    answer = json_body(response)
    result = answer.get("result")
    if response.is_success and isinstance(result, dict) and "message_id" in result:
        return f"{request.to}:{result['message_id']}"
    failure = refused(PROVIDER, response, str(answer.get("description") or ""))
    parameters = answer.get("parameters")
    if isinstance(parameters, dict) and isinstance(parameters.get("retry_after"), int):
        # Telegram says how long in the body (flood control), not in a header.
        failure.retry_after = timedelta(seconds=parameters["retry_after"])
    raise failure
