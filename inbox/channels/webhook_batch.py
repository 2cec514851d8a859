"""Webhook deliveries that arrive together are stored together, in one transaction.

Stored one transaction each, concurrent deliveries repeat the per-transaction
work (the inbox, its audience, the outbox lock, the commit) for every one and,
on SQLite, queue for the database's write lock, where the busy handler's
sleeps leave the CPU idle while requests wait. So each process runs at most
one ingest *flight* per runtime: a delivery joins its queue, and the flight
stores everything queued (up to MAX_BATCH) with `ingest_batch`, answers each
delivery once that transaction has committed, then takes what queued
meanwhile. There is no timer: a lone delivery is stored on the next turn of
the event loop, and a batch grows only while the one before it is written.

What each delivery gets is what it would get alone: its message stored (or
found stored: a redelivery, or the same message twice in one batch), or its
own refusal. When the batch can't be taken whole, `ingest_batch` takes the
messages one by one; should a concurrent writer race that too, each message
goes through `alone`, the single-message path with its retries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy.exc import IntegrityError

from inbox.actions.inbound import Received
from inbox.channels.base import InboundMessage
from inbox.channels.ingest import ingest_batch
from inbox.errors import InboxError
from inbox.runtime import Runtime

# Bounds one transaction's size, so one batch never holds the write lock long.
MAX_BATCH = 64

Alone = Callable[[Runtime, InboundMessage], Awaitable[Received]]
_Waiting = tuple[InboundMessage, "asyncio.Future[Received]"]


@dataclass
class _Flight:
    loop: asyncio.AbstractEventLoop
    queue: list[_Waiting] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


# By runtime (its id: a Runtime is not hashable). An entry lives only while its
# flight runs, and the flight holds the runtime, so the id can't be reused.
_flights: dict[int, _Flight] = {}


async def store(rt: Runtime, inbound: InboundMessage, alone: Alone) -> Received:
    """Store `inbound` with whatever else arrives meanwhile; its own result or error."""
    loop = asyncio.get_running_loop()
    flight = _flights.get(id(rt))
    if flight is None or flight.loop is not loop:
        flight = _Flight(loop)
        _flights[id(rt)] = flight
        flight.task = loop.create_task(_fly(rt, flight, alone), name="inbox-webhook-batch")
    done: asyncio.Future[Received] = loop.create_future()
    flight.queue.append((inbound, done))
    return await done


async def _fly(rt: Runtime, flight: _Flight, alone: Alone) -> None:
    try:
        # Deliveries whose requests were read in this same turn of the loop join in.
        await asyncio.sleep(0)
        while flight.queue:
            batch, flight.queue = flight.queue[:MAX_BATCH], flight.queue[MAX_BATCH:]
            results = await _settle(rt, [inbound for inbound, _ in batch], alone)
            for (_, done), result in zip(batch, results, strict=True):
                if done.done():  # its request was cancelled; the message is stored anyway
                    continue
                if isinstance(result, BaseException):
                    done.set_exception(result)
                else:
                    done.set_result(result)
    finally:
        if _flights.get(id(rt)) is flight:
            del _flights[id(rt)]
        for _, done in flight.queue:  # only when this task was cancelled (shutdown)
            done.cancel()


async def _settle(
    rt: Runtime, inbounds: list[InboundMessage], alone: Alone
) -> list[Received | BaseException]:
    if len(inbounds) == 1:
        return [await _outcome(alone(rt, inbounds[0]))]
    try:
        return list(await ingest_batch(rt, inbounds))
    except (InboxError, IntegrityError):
        # The one-by-one pass met a concurrent writer: each again, with retries.
        return [await _outcome(alone(rt, inbound)) for inbound in inbounds]
    except Exception as exc:  # the database is down: every delivery hears so
        return [exc for _ in inbounds]


async def _outcome(stored: Awaitable[Received]) -> Received | BaseException:
    try:
        return await stored
    except Exception as exc:
        return exc
