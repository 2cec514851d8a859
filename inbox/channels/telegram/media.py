"""Downloading a Telegram file: `getFile` names its path, then the file server has it.

`GET {base}/bot{token}/getFile?file_id=…` answers `{"ok": true, "result":
{"file_path": "photos/file_3.jpg", …}}`; the bytes are at
`{base}/file/bot{token}/{file_path}` (https://core.telegram.org/bots/api#getfile).
Both URLs carry the bot token, so no reason here ever names them.
"""

from __future__ import annotations

import posixpath
from urllib.parse import quote

import httpx

from inbox.channels.http_guard import FetchError
from inbox.channels.media import (
    Fetched,
    check_status,
    fetched,
    is_transient,
    json_object,
    secret,
)
from inbox.channels.provider_urls import api_base_url
from inbox.models import Inbox
from inbox.sanitize import preview


async def fetch(
    client: httpx.AsyncClient, inbox: Inbox, file_id: str, filename: str, content_type: str
) -> Fetched:
    token = secret(inbox, "bot_token", "bot token")
    base = f"{api_base_url(inbox)}/bot{token}"
    answer = await client.get(f"{base}/getFile", params={"file_id": file_id})
    data = json_object(answer, "Telegram", "getFile")
    result = data.get("result")
    file_path = result.get("file_path") if isinstance(result, dict) else None
    if not answer.is_success or data.get("ok") is not True or not isinstance(file_path, str):
        # Telegram's own words: "Bad Request: file is too big", "wrong file_id", ...
        said = data.get("description")
        detail = preview(said, 200) if isinstance(said, str) and said else "no file path"
        raise FetchError(
            f"Telegram's getFile failed: {detail}", transient=is_transient(answer.status_code)
        )
    download = await client.get(
        f"{api_base_url(inbox)}/file/bot{token}/{quote(file_path.lstrip('/'), safe='/')}"
    )
    check_status(download, "Telegram", "the file")
    return fetched(download, filename or posixpath.basename(file_path), content_type)
