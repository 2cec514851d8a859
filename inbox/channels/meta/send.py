"""Sending replies through Meta's Graph API, with the inbox's access token as a
Bearer header (kept out of URLs, and so out of any proxy's logs).

- WhatsApp Cloud API: `POST {base}/{version}/{phone_number_id}/messages`, a
  text or an approved template; the answer's `messages[0].id` (`wamid.…`).
- Messenger and Instagram: the Send API, `POST {base}/{version}/me/messages`
  with `recipient.id`, `message.text` and `messaging_type` RESPONSE (or
  MESSAGE_TAG with `tag` HUMAN_AGENT outside the 24-hour window); the
  answer's `message_id`.

A refusal's reason is Graph's `error.message` (with its code).
"""

from __future__ import annotations

from typing import Any

import httpx

from inbox.channels.provider_send import (
    ProviderRequest,
    SendFailure,
    json_body,
    refused,
    unreachable,
)
from inbox.channels.provider_urls import api_base_url
from inbox.models import ChannelKind, Inbox

# Graph API versions live about two years; an inbox may pin its own.
DEFAULT_GRAPH_VERSION = "v21.0"
LABELS = {
    ChannelKind.WHATSAPP: "WhatsApp",
    ChannelKind.MESSENGER: "Messenger",
    ChannelKind.INSTAGRAM: "Instagram",
}


def graph_version(inbox: Inbox) -> str:
    version = inbox.config.get("graph_api_version")
    return version if isinstance(version, str) and version else DEFAULT_GRAPH_VERSION


def _token(inbox: Inbox) -> str:
    token = inbox.secrets.get("access_token")
    if not isinstance(token, str) or not token:
        raise SendFailure("the inbox has no access token: an admin sets it", permanent=True)
    return token


async def _post(
    inbox: Inbox, client: httpx.AsyncClient, path: str, body: dict[str, Any]
) -> dict[str, Any]:
    provider = LABELS[inbox.channel]
    url = f"{api_base_url(inbox)}/{graph_version(inbox)}/{path}"
    headers = {"Authorization": f"Bearer {_token(inbox)}"}
    try:
        response = await client.post(url, json=body, headers=headers)
    except httpx.HTTPError as exc:
        raise unreachable(provider, exc) from None
    answer = json_body(response)
    if response.is_success:
        return answer
    raise refused(provider, response, _graph_error(answer))


def _graph_error(answer: dict[str, Any]) -> str | None:
    error = answer.get("error")
    if not isinstance(error, dict):
        return None
    message = str(error.get("message") or "")
    details = error.get("error_data")
    if isinstance(details, dict) and details.get("details"):
        message = f"{message} ({details['details']})"
    code = error.get("code")
    return f"{message} [code {code}]" if code is not None else message


def whatsapp_body(request: ProviderRequest) -> dict[str, Any]:
    body: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        # A wa_id: the number in international form, without its "+".
        "to": request.to.lstrip("+"),
    }
    template = request.template
    if template is None:
        body["type"] = "text"
        body["text"] = {"preview_url": False, "body": request.text or ""}
        return body
    components = (
        [
            {
                "type": "body",
                "parameters": [{"type": "text", "text": value} for value in template.params],
            }
        ]
        if template.params
        else []
    )
    body["type"] = "template"
    body["template"] = {
        "name": template.name,
        "language": {"code": template.language},
        "components": components,
    }
    return body


async def send_whatsapp(
    client: httpx.AsyncClient, inbox: Inbox, request: ProviderRequest
) -> str | None:
    number_id = inbox.config.get("phone_number_id")
    if not isinstance(number_id, str) or not number_id:
        raise SendFailure("the inbox has no phone_number_id: an admin sets it", permanent=True)
    answer = await _post(inbox, client, f"{number_id}/messages", whatsapp_body(request))
    messages = answer.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[0], dict):
        wamid = messages[0].get("id")
        if isinstance(wamid, str) and wamid:
            return wamid
    # Accepted all the same: sending again would send it twice.
    return None


def page_body(request: ProviderRequest) -> dict[str, Any]:
    body: dict[str, Any] = {
        "recipient": {"id": request.to},
        "messaging_type": "RESPONSE",
        "message": {"text": request.text or ""},
    }
    if request.tag:
        body["messaging_type"] = "MESSAGE_TAG"
        body["tag"] = request.tag
    return body


async def send_page_message(
    client: httpx.AsyncClient, inbox: Inbox, request: ProviderRequest
) -> str | None:
    """Messenger or Instagram (the inbox's channel says which)."""
    if request.text is None:
        raise SendFailure(f"{LABELS[inbox.channel]} replies are text only", permanent=True)
    answer = await _post(inbox, client, "me/messages", page_body(request))
    mid = answer.get("message_id")
    return mid if isinstance(mid, str) and mid else None
