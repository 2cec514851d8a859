"""The connector worker: runs one connector per configured inbox, restarting failures,
and fetches the media messaging webhooks queued (inbox/channels/media_fetcher.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from sqlalchemy import select

from inbox.actions.housekeeping import do_prune_idle_chat_visitors, do_prune_outbox
from inbox.channels.media_fetcher import run_media_fetcher
from inbox.channels.registry import connector_factories
from inbox.config import Settings
from inbox.models import Inbox
from inbox.runtime import Runtime, create_runtime

log = logging.getLogger(__name__)
RESCAN_SECONDS = 30.0


async def run_worker(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    stop = stop or _stop_on_signals()
    rt = create_runtime(settings)
    # Joined so the events connectors cause reach web processes at once.
    await rt.start()
    running: dict[int, asyncio.Task[None]] = {}
    media = asyncio.create_task(run_media_fetcher(rt, stop), name="media-fetcher")
    try:
        while not stop.is_set():
            await _sync_connectors(rt, running)
            await _housekeeping(rt)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RESCAN_SECONDS)
    finally:
        for task in (*running.values(), media):
            task.cancel()
        await asyncio.gather(*running.values(), media, return_exceptions=True)
        await rt.close()


async def _sync_connectors(rt: Runtime, running: dict[int, asyncio.Task[None]]) -> None:
    """One connector per active inbox: start the missing (or crashed) ones, and
    stop those whose inbox was deactivated or deleted since the last scan."""
    factories = connector_factories()
    async with rt.read_sessions() as db:
        inboxes = (await db.scalars(select(Inbox).where(Inbox.is_active.is_(True)))).all()
    active = {inbox.id for inbox in inboxes}
    for inbox_id in [i for i in running if i not in active]:
        stopping = running.pop(inbox_id)
        stopping.cancel()
        await asyncio.gather(stopping, return_exceptions=True)
        log.info("stopped the connector of inbox %s: the inbox is no longer active", inbox_id)
    for inbox in inboxes:
        task = running.get(inbox.id)
        if task is not None and not task.done():
            continue
        factory = factories.get(inbox.channel.value)
        if factory is None:
            continue  # pushed to us (webhooks, chat): nothing to run here
        connector = factory(rt, inbox)
        running[inbox.id] = asyncio.create_task(connector.run(), name=f"connector-{inbox.id}")
        log.info("started %s connector for inbox %s", inbox.channel.value, inbox.id)
    if not running:
        log.info("no inbox needs a running connector; checking again in %.0fs", RESCAN_SECONDS)


async def _housekeeping(rt: Runtime) -> None:
    for prune, what in (
        (do_prune_outbox, "events past the retention window"),
        (do_prune_idle_chat_visitors, "chat sessions that never wrote"),
    ):
        try:
            removed = await prune(rt)
        except Exception as exc:  # housekeeping must never stop the connectors
            log.warning("pruning %s failed: %s", what, exc)
            continue
        if removed:
            log.info("pruned %d %s", removed, what)


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop
