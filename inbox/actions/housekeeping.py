"""Keeping the outbox to its retention window."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete

from inbox.models import OutboxEvent, utcnow
from inbox.runtime import Runtime

from .transaction import transaction

DEFAULT_RETENTION = timedelta(days=7)


async def do_prune_outbox(rt: Runtime, older_than: timedelta = DEFAULT_RETENTION) -> int:
    """Forget events older than the window; clients resuming from before it get `resync`."""
    async with transaction(rt) as tx:
        result = await tx.session.execute(
            delete(OutboxEvent).where(OutboxEvent.created_at < utcnow() - older_than)
        )
        removed = int(result.rowcount or 0)  # type: ignore[attr-defined]
        if removed:
            tx.audit(None, "outbox.pruned", "outbox", None, removed=removed)
    return removed
