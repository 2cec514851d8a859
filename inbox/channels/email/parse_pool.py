"""Parsing a fetched batch of mail on every core.

Parsing is pure Python (the standard library's ``email`` package, quote
splitting, sanitising), so threads can't run it beside the event loop's
database work: worker processes can. A big batch (an initial sync, a
backfill) is split over a pool of them while the connector stores the batch
before it; a small one (what IDLE just announced) is parsed in a thread,
because the hop to another process would cost more than it saves.

Each worker writes its part's blobs without fsync, then makes them all
durable at once (their fsyncs side by side) before it hands the part back, so
rows naming them are only ever committed after. There, not in the process
that stores: that process sets the pace of a sync, the workers wait on it.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from multiprocessing.context import BaseContext

from inbox.blobs import BlobStore
from inbox.channels.base import InboundMessage
from inbox.channels.email.normalise import Rejected, blob_digests, to_inbound

log = logging.getLogger(__name__)

# Below this many messages a thread is quicker than a round trip to the pool.
SPREAD_FROM = 8

Fetched = tuple[bytes, datetime | None]  # the raw message and its INTERNALDATE
Result = InboundMessage | Rejected

_pool: ProcessPoolExecutor | None = None
# Once a pool has broken, this process parses in threads: a pool that can't
# start (no semaphores, an unimportable main module) would fail every batch.
_broken = False


def _workers() -> int:
    """A worker per core: the process that stores what they parse needs no core of its
    own, because it waits for their parsed batches most of the time (with one core left
    to it on a two-core machine, the sync ran 10% slower)."""
    return min(os.cpu_count() or 1, 8)


def _get_pool() -> ProcessPoolExecutor:
    global _pool
    if _pool is None:
        # Not fork: the worker process has threads (asyncio's), and a forked
        # child could inherit a lock some thread held.
        context: BaseContext
        if "forkserver" in multiprocessing.get_all_start_methods():
            forkserver = multiprocessing.get_context("forkserver")
            # The server imports the parser once and forks workers that have it:
            # each worker importing it for itself cost half a second of CPU.
            forkserver.set_forkserver_preload([__name__])
            context = forkserver
        else:
            context = multiprocessing.get_context("spawn")
        _pool = ProcessPoolExecutor(_workers(), mp_context=context)
    return _pool


def _give_up_pool() -> None:
    global _pool, _broken
    _broken = True
    pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


def normalise_all(
    inbox_id: int,
    mails: Sequence[Fetched],
    blobs: BlobStore,
    secret: str,
    max_bytes: int,
) -> list[Result]:
    """`to_inbound` for each message, blobs durable. Runs in a pool worker."""
    results: list[Result] = []
    for raw, internal_date in mails:
        try:
            result = to_inbound(
                inbox_id,
                raw,
                blobs=blobs,
                secret=secret,
                max_bytes=max_bytes,
                received_at=internal_date,
                durable=False,
            )
        except Exception as exc:
            # A parser bug must cost one message (held, with its bytes), never the mailbox.
            result = Rejected(f"could not be read: {exc!r}"[:500], blobs.put(raw), len(raw))
        results.append(result)
    blobs.sync(d for r in results for d in blob_digests(r))
    return results


async def normalise_batch(
    inbox_id: int,
    mails: Sequence[Fetched],
    *,
    blobs: BlobStore,
    secret: str,
    max_bytes: int,
) -> list[Result]:
    """Every message of the batch turned into what ingest takes, in order; blobs durable."""
    results: list[Result] | None = None
    workers = _workers()
    if len(mails) >= SPREAD_FROM and workers >= 1 and not _broken:
        size = -(-len(mails) // workers)
        loop = asyncio.get_running_loop()
        try:
            pool = _get_pool()
            parts = await asyncio.gather(
                *(
                    loop.run_in_executor(
                        pool,
                        normalise_all,
                        inbox_id,
                        mails[start : start + size],
                        blobs,
                        secret,
                        max_bytes,
                    )
                    for start in range(0, len(mails), size)
                )
            )
            results = [result for part in parts for result in part]
        except BrokenProcessPool:
            log.exception("the email parsing pool broke; parsing in threads from now on")
            _give_up_pool()
    if results is None:
        results = await asyncio.to_thread(normalise_all, inbox_id, mails, blobs, secret, max_bytes)
    return results
