"""The worker's media step: fetch what messaging webhooks queued, and attach it.

Every `POLL_SECONDS` the worker takes the due files (inbox/actions/media.py
keeps the queue), a few at a time, each through the SSRF guard with a size
cap and timeouts, so a slow or hostile media host costs one slot for at most
the guard's total timeout and never touches the webhooks. A transient
failure is retried a few times; anything else leaves its reason on the
message for the agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import httpx

from inbox.actions.media import (
    claim_media,
    do_attach_media,
    do_fail_media,
    due_media,
)
from inbox.channels.http_guard import FetchError, guarded_client
from inbox.channels.media import MAX_MEDIA_BYTES, Fetcher
from inbox.channels.meta.media import fetch_url, fetch_whatsapp
from inbox.channels.telegram.media import fetch as fetch_telegram
from inbox.channels.twilio.media import fetch as fetch_twilio
from inbox.models import Inbox, MessageMedia, utcnow
from inbox.runtime import Runtime

log = logging.getLogger(__name__)

POLL_SECONDS = 2.0
# Files fetched side by side: enough that one slow host doesn't queue the rest.
CONCURRENCY = 4

FETCHERS: dict[str, Fetcher] = {
    "telegram": fetch_telegram,
    "whatsapp": fetch_whatsapp,
    "url": fetch_url,
    "twilio": fetch_twilio,
}


async def fetch_due_media(rt: Runtime, *, limit: int = 20) -> int:
    """Attempt every due file once (one batch); returns how many were attached."""
    async with rt.read_sessions() as db:
        due = await due_media(db, utcnow(), limit=limit)
        inboxes = {i: await db.get(Inbox, i) for i in {item.inbox_id for item in due}}
    if not due:
        return 0
    slots = asyncio.Semaphore(CONCURRENCY)
    async with guarded_client(
        allow_hosts=rt.settings.fetch_allow_hosts, limit=MAX_MEDIA_BYTES
    ) as client:

        async def one(item: MessageMedia) -> bool:
            async with slots:
                return await _fetch_one(rt, client, inboxes.get(item.inbox_id), item)

        results = await asyncio.gather(*(one(item) for item in due))
    return sum(results)


async def _fetch_one(
    rt: Runtime, client: httpx.AsyncClient, inbox: Inbox | None, item: MessageMedia
) -> bool:
    claim = await claim_media(rt, item)
    if claim is None:  # another worker has it, or it is done
        return False
    fetcher = FETCHERS.get(item.source)
    try:
        if inbox is None or fetcher is None:
            raise FetchError(f"no way to fetch {item.source!r} media")
        got = await fetcher(client, inbox, item.ref, item.filename, item.content_type)
    except FetchError as exc:
        gave_up = await do_fail_media(rt, claim, exc.reason, transient=exc.transient)
        log.warning(
            "media %s of message %s not fetched (%s)%s",
            item.id,
            item.message_id,
            exc.reason,
            "; gave up" if gave_up else "; will retry",
        )
        return False
    sha256 = await asyncio.to_thread(rt.blobs.put, got.content)
    attached = await do_attach_media(
        rt,
        claim,
        filename=got.filename,
        content_type=got.content_type,
        size=len(got.content),
        sha256=sha256,
    )
    return attached is not None


async def run_media_fetcher(rt: Runtime, stop: asyncio.Event) -> None:
    """Fetch due media until `stop` is set; a failing pass is logged and retried."""
    while not stop.is_set():
        try:
            await fetch_due_media(rt)
        except Exception as exc:  # the database went away, say: try again next poll
            log.warning("fetching media failed: %s", type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), POLL_SECONDS)
