"""What the sending queues (email's OutboundEmail, the messaging providers'
OutboundSend) share: how long they wait between attempts, when they give up,
and how an attempt's outcome is counted on a queued row."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from inbox.models import utcnow

# 30 s, 1 min, 2 min, ... capped at an hour: about a day of trying in all.
MAX_ATTEMPTS = 12
_FIRST_RETRY = timedelta(seconds=30)
_LONGEST_RETRY = timedelta(hours=1)


def retry_delay(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failed attempt."""
    doublings = min(max(attempts - 1, 0), 16)
    return min(_FIRST_RETRY * (1 << doublings), _LONGEST_RETRY)


def next_delay(attempts: int, asked: timedelta | None) -> timedelta:
    """The wait after a failed attempt, honouring a provider's Retry-After within
    the longest wait we ever use (a provider can't park a reply for days)."""
    if asked is None:
        return retry_delay(attempts)
    return min(max(asked, timedelta(0)), _LONGEST_RETRY)


class QueuedRow(Protocol):
    attempts: int
    last_error: str | None
    next_attempt_at: datetime
    sent_at: datetime | None
    gave_up_at: datetime | None


def still_queued(queued: QueuedRow | None) -> bool:
    """False once sent or given up on: a late report (a retry racing a slow
    success, a bounce first) then changes nothing."""
    return queued is not None and queued.sent_at is None and queued.gave_up_at is None


def count_success(queued: QueuedRow) -> None:
    queued.sent_at = utcnow()
    queued.attempts += 1
    queued.last_error = None


def count_failure(
    queued: QueuedRow, reason: str, *, permanent: bool, retry_after: timedelta | None = None
) -> bool:
    """Count a failed attempt; True when the queue gives up (permanent, or the last
    attempt): the row leaves the queue and the caller marks the message failed."""
    queued.attempts += 1
    queued.last_error = reason
    gave_up = permanent or queued.attempts >= MAX_ATTEMPTS
    if gave_up:
        # Out of the queue: an agent decides what to do (write again, another channel).
        queued.gave_up_at = utcnow()
    else:
        queued.next_attempt_at = utcnow() + next_delay(queued.attempts, retry_after)
    return gave_up
