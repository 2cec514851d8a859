"""Downloading an MMS's media: `MediaUrl{N}` from the incoming-message webhook.

The URL is on Twilio's API (`/2010-04-01/Accounts/{AccountSid}/Messages/{sid}/Media/{id}`)
and redirects to the file on Twilio's media host. With "HTTP basic
authentication for media" turned on, the API wants the account's SID and auth
token: they are sent when the inbox has an `account_sid` and only to the
inbox's Twilio API origin (`api_base_url`), never to another host the URL might
name; httpx drops them on the redirect to the media host, which needs none.
"""

from __future__ import annotations

import httpx

from inbox.channels.media import Fetched, check_status, fetched
from inbox.channels.provider_urls import api_base_url
from inbox.models import Inbox


async def fetch(
    client: httpx.AsyncClient, inbox: Inbox, url: str, filename: str, content_type: str
) -> Fetched:
    account_sid = inbox.config.get("account_sid")
    token = inbox.secrets.get("auth_token")
    auth: tuple[str, str] | None = None
    if (
        isinstance(account_sid, str)
        and account_sid
        and isinstance(token, str)
        and token
        and _same_origin(url, api_base_url(inbox))
    ):
        auth = (account_sid, token)
    download = await client.get(url, auth=auth)
    check_status(download, "Twilio", "the media")
    return fetched(download, filename, content_type)


def _same_origin(url: str, base: str) -> bool:
    a, b = httpx.URL(url), httpx.URL(base)
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)
