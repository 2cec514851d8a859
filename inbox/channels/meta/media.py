"""Downloading media Meta's webhooks name.

- WhatsApp Cloud API: a media id. `GET {base}/{version}/{media_id}` with the
  inbox's access token as a Bearer header answers `{"url": …, "mime_type": …}`;
  the file is a GET of that URL with the same header, for a few minutes
  (https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media).
- Messenger and Instagram: the attachment's `payload.url`, a plain download
  from Meta's CDN that needs no token.
"""

from __future__ import annotations

from urllib.parse import quote

import httpx

from inbox.channels.http_guard import FetchError
from inbox.channels.media import Fetched, check_status, fetched, json_object, secret
from inbox.channels.meta.send import graph_version
from inbox.channels.provider_urls import api_base_url
from inbox.models import Inbox


async def fetch_whatsapp(
    client: httpx.AsyncClient, inbox: Inbox, media_id: str, filename: str, content_type: str
) -> Fetched:
    headers = {"Authorization": f"Bearer {secret(inbox, 'access_token', 'access token')}"}
    lookup = await client.get(
        f"{api_base_url(inbox)}/{graph_version(inbox)}/{quote(media_id, safe='')}",
        headers=headers,
    )
    found = json_object(lookup, "WhatsApp", "the media id")
    check_status(lookup, "WhatsApp", "the media id")
    url, mime = found.get("url"), found.get("mime_type")
    if not isinstance(url, str) or not url:
        raise FetchError("WhatsApp named no URL for the media")
    download = await client.get(url, headers=headers)
    check_status(download, "WhatsApp", "the media file")
    return fetched(download, filename, content_type or (mime if isinstance(mime, str) else ""))


async def fetch_url(
    client: httpx.AsyncClient, inbox: Inbox, url: str, filename: str, content_type: str
) -> Fetched:
    download = await client.get(url)
    check_status(download, "the media host", "the attachment")
    return fetched(download, filename, content_type)
