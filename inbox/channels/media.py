"""What the providers' media fetchers share: the size cap, the result, status checks.

A fetcher (`telegram/media.py`, `meta/media.py`, `twilio/media.py`) turns a
queued file's `ref` into its bytes, through a guarded client (every request
it makes is checked against SSRF, capped at `MAX_MEDIA_BYTES` and timed
out), and raises `FetchError` with a reason safe to show an agent: never a
URL (Telegram's carry the bot token) or a credential.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from inbox.channels.http_guard import FetchError
from inbox.models import Inbox

# Telegram's bots may download up to 20 MB, WhatsApp media up to 100 MB (video);
# 25 MiB matches what email takes, and what agents can open in a browser.
MAX_MEDIA_BYTES = 25 * 1024 * 1024


@dataclass(frozen=True)
class Fetched:
    content: bytes
    content_type: str
    filename: str


# (client, inbox, ref, filename the provider gave, content type it gave) -> the file.
Fetcher = Callable[[httpx.AsyncClient, Inbox, str, str, str], Awaitable[Fetched]]


def secret(inbox: Inbox, name: str, label: str) -> str:
    """The inbox's secret, or a FetchError telling the agent an admin has to set it."""
    value = inbox.secrets.get(name)
    if not isinstance(value, str) or not value:
        raise FetchError(f"the inbox has no {label}: an admin sets it")
    return value


def is_transient(status: int) -> bool:
    """Whether an HTTP error status may go away if asked again later."""
    return status >= 500 or status in (408, 429)


def check_status(response: httpx.Response, provider: str, what: str) -> None:
    """FetchError unless 2xx, transient when asking again later may help."""
    status = response.status_code
    if not response.is_success:
        raise FetchError(f"{provider} answered {status} for {what}", transient=is_transient(status))


def json_object(response: httpx.Response, provider: str, what: str) -> dict[str, Any]:
    """The answer's JSON object (an error status without one: `check_status`'s error)."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        check_status(response, provider, what)
        raise FetchError(f"{provider} answered with something other than a JSON object")
    return data


def fetched(response: httpx.Response, filename: str, content_type: str) -> Fetched:
    """The file: the provider's content type if it gave one, else the response's; the
    provider's name for it, else its kind with an extension ("image.jpg")."""
    declared = content_type or response.headers.get("content-type", "")
    essence = declared.split(";", 1)[0].strip().lower() or "application/octet-stream"
    if not filename:
        family = essence.split("/", 1)[0]
        stem = family if family in ("image", "audio", "video") else "attachment"
        filename = stem + (mimetypes.guess_extension(essence) or "")
    return Fetched(response.content, declared or essence, filename)
