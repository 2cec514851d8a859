"""Sending an SMS with Twilio's Messages resource:
`POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded
`To`, `From`, `Body` (and `StatusCallback`), with HTTP basic auth
(AccountSid, auth token). The answer's `sid` (`SM…`) is the message's id;
https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource.

`StatusCallback` is `/webhooks/sms/{inbox_id}/status` under the app's public
URL (`INBOX_PUBLIC_URL`); without one, a message stays at sent.
"""

from __future__ import annotations

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

PROVIDER = "Twilio"


def status_callback_url(public_url: str | None, inbox_id: int) -> str | None:
    if not public_url:
        return None
    return f"{public_url.rstrip('/')}/webhooks/sms/{inbox_id}/status"


async def send(
    client: httpx.AsyncClient, inbox: Inbox, request: ProviderRequest, *, public_url: str | None
) -> str | None:
    account_sid = inbox.config.get("account_sid")
    token = inbox.secrets.get("auth_token")
    number = inbox.config.get("phone_number")
    if not isinstance(account_sid, str) or not account_sid:
        raise SendFailure("the inbox has no Twilio account_sid: an admin sets it", permanent=True)
    if not isinstance(token, str) or not token or not isinstance(number, str):
        raise SendFailure(
            "the inbox has no auth token or number: an admin sets them", permanent=True
        )
    if request.text is None:
        raise SendFailure("SMS replies are text only", permanent=True)
    form = {"To": request.to, "From": number, "Body": request.text}
    callback = status_callback_url(public_url, inbox.id)
    if callback:
        form["StatusCallback"] = callback
    url = f"{api_base_url(inbox)}/2010-04-01/Accounts/{account_sid}/Messages.json"
    try:
        response = await client.post(url, data=form, auth=(account_sid, token))
    except httpx.HTTPError as exc:
        raise unreachable(PROVIDER, exc) from None
    answer = json_body(response)
    if response.is_success:
        sid = answer.get("sid")
        return sid if isinstance(sid, str) and sid else None
    said = answer.get("message")
    code = answer.get("code")
    raise refused(
        PROVIDER, response, f"{said} [error {code}]" if said and code else str(said or "")
    )
