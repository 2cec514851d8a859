"""Sending what a messaging inbox has queued, through its provider's HTTP API.

`inbox worker` runs one `ProviderSender` per Telegram, WhatsApp, Messenger,
Instagram, SMS and API inbox (registered as `inbox.connectors` entry points,
as email's connector is). Every `SEND_EVERY_SECONDS` it claims the inbox's
due sends (inbox/actions/outbound_sends.py), makes one attempt at each after
the claim is committed, and reports the outcome back to the queue.

The inbox is read afresh on each pass, so an admin's new token or URL is
used from the next attempt on. Logs name messages and reasons only: never a
token, nor a URL (Telegram's carry the bot token).
"""

from __future__ import annotations

import asyncio
import logging

import httpx
from sqlalchemy import select

from inbox.actions.outbound_sends import (
    do_claim_due_sends,
    do_mark_send_failed,
    do_mark_send_sent,
)
from inbox.channels.api import send as api_send
from inbox.channels.http_guard import guarded_client
from inbox.channels.meta import send as meta_send
from inbox.channels.provider_send import TIMEOUT, ProviderRequest, SendFailure
from inbox.channels.telegram import send as telegram_send
from inbox.channels.twilio import send as twilio_send
from inbox.models import ChannelKind, Inbox, OutboundSend, utcnow
from inbox.runtime import Runtime

log = logging.getLogger(__name__)

SEND_EVERY_SECONDS = 2.0


async def send_one(
    client: httpx.AsyncClient, inbox: Inbox, request: ProviderRequest, *, public_url: str | None
) -> str | None:
    """One attempt; the provider's message id, or SendFailure."""
    match inbox.channel:
        case ChannelKind.TELEGRAM:
            return await telegram_send.send(client, inbox, request)
        case ChannelKind.WHATSAPP:
            return await meta_send.send_whatsapp(client, inbox, request)
        case ChannelKind.MESSENGER | ChannelKind.INSTAGRAM:
            return await meta_send.send_page_message(client, inbox, request)
        case ChannelKind.SMS:
            return await twilio_send.send(client, inbox, request, public_url=public_url)
        case ChannelKind.API:
            await api_send.send(client, inbox, request)
            return None
    raise SendFailure(f"{inbox.channel.value} inboxes don't send here", permanent=True)


async def _anything_due(rt: Runtime, inbox_id: int) -> bool:
    # A read first: claiming takes the write lock (SQLite), and most passes find nothing.
    async with rt.read_sessions() as db:
        due = await db.scalar(
            select(OutboundSend.message_id)
            .where(
                OutboundSend.inbox_id == inbox_id,
                OutboundSend.sent_at.is_(None),
                OutboundSend.gave_up_at.is_(None),
                OutboundSend.next_attempt_at <= utcnow(),
            )
            .limit(1)
        )
    return due is not None


async def send_due(rt: Runtime, inbox_id: int, client: httpx.AsyncClient) -> int:
    """Attempt every due send of this inbox once; returns how many went out."""
    if not await _anything_due(rt, inbox_id):
        return 0
    async with rt.read_sessions() as db:
        inbox = await db.get(Inbox, inbox_id)
    if inbox is None:
        return 0
    sent = 0
    for queued in await do_claim_due_sends(rt, inbox_id):
        try:
            request = ProviderRequest.from_json(queued.request)
            external_id = await send_one(client, inbox, request, public_url=rt.settings.public_url)
        except SendFailure as failure:
            gave_up = await do_mark_send_failed(
                rt,
                queued.message_id,
                failure.reason,
                permanent=failure.permanent,
                retry_after=failure.retry_after,
            )
            log.warning(
                "%s message %s not sent (%s)%s",
                inbox.channel.value,
                queued.message_id,
                failure.reason,
                "; gave up" if gave_up else "; will retry",
            )
            continue
        except Exception as exc:
            # Only the kind: an exception's text may quote a URL with a token.
            reason = f"sending failed unexpectedly ({type(exc).__name__})"
            log.error("%s message %s: %s", inbox.channel.value, queued.message_id, reason)
            await do_mark_send_failed(rt, queued.message_id, reason, permanent=False)
            continue
        await do_mark_send_sent(rt, queued.message_id, external_id)
        sent += 1
    return sent


def make_client(rt: Runtime, channel: ChannelKind) -> httpx.AsyncClient:
    """The HTTP client for an inbox's sends.

    The API channel's webhook URL is anyone's an admin typed: it goes through
    the SSRF guard (no loopback, private or metadata addresses, also after a
    redirect; `INBOX_FETCH_ALLOW_HOSTS` exempts a known host). Providers'
    APIs are their public hosts (or the inbox's `api_base_url`, which only
    an admin sets): a plain client that follows no redirect, since an API
    call is never redirected and a redirect could carry a credential away.
    """
    if channel is ChannelKind.API:
        return guarded_client(allow_hosts=rt.settings.fetch_allow_hosts, timeout=20.0)
    return httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False)


def make_connector(rt: Runtime, inbox: Inbox) -> ProviderSender:
    """The `inbox.connectors` entry point for the HTTP-API messaging channels."""
    return ProviderSender(rt, inbox)


class ProviderSender:
    def __init__(self, rt: Runtime, inbox: Inbox) -> None:
        self.inbox_id = inbox.id
        self._channel = inbox.channel
        self._rt = rt

    async def run(self) -> None:
        async with make_client(self._rt, self._channel) as client:
            while True:
                try:
                    await send_due(self._rt, self.inbox_id, client)
                except Exception as exc:
                    # A database hiccup: the queue is durable, the next pass retries.
                    log.warning(
                        "%s inbox %s: sending pass failed (%s)",
                        self._channel.value,
                        self.inbox_id,
                        type(exc).__name__,
                    )
                await asyncio.sleep(SEND_EVERY_SECONDS)
