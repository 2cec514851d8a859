"""Keeping what grows by itself in bounds: the outbox, and chat sessions nobody used."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, delete, exists, select

from inbox.models import ChatVisitor, Identity, IdentityKind, OutboxEvent, utcnow
from inbox.runtime import Runtime

from .transaction import transaction

DEFAULT_RETENTION = timedelta(days=7)
# A widget session is made on every first page view; one still unused after
# this never will be (a returning visitor without it just gets a new one).
IDLE_VISITOR_RETENTION = timedelta(days=1)


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


async def do_prune_idle_chat_visitors(
    rt: Runtime, older_than: timedelta = IDLE_VISITOR_RETENTION
) -> int:
    """Forget chat sessions that never wrote and left no address, once old enough.

    A visitor's first message gives them the identity `live_chat:<public_id>`
    (which merges carry along), so one without it has nothing on any timeline.
    """
    wrote = exists(
        select(Identity.id).where(
            Identity.kind == IdentityKind.LIVE_CHAT, Identity.value == ChatVisitor.public_id
        )
    )
    async with transaction(rt) as tx:
        result = await tx.session.execute(
            delete(ChatVisitor).where(
                and_(
                    ChatVisitor.created_at < utcnow() - older_than,
                    ChatVisitor.follow_up_email.is_(None),
                    ~wrote,
                )
            )
        )
        removed = int(result.rowcount or 0)  # type: ignore[attr-defined]
        if removed:
            tx.audit(None, "chat.idle_visitors_pruned", "inbox", None, removed=removed)
    return removed
