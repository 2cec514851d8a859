"""The email connector's bookkeeping actions: checkpoints, sync errors, quarantine."""

from __future__ import annotations

from inbox.actions.mail import (
    do_quarantine_mail,
    do_record_sync_error,
    do_save_checkpoint,
    sync_state,
)
from inbox.models import QuarantinedMail
from inbox.runtime import Runtime
from tests.conftest import World
from tests.helpers import captured_events


async def test_a_checkpoint_moves_forward_and_a_failure_is_kept_for_the_admin(
    rt: Runtime, world: World
) -> None:
    inbox = world.email_inbox.id
    await do_save_checkpoint(
        rt, inbox, "INBOX", uidvalidity=7, last_uid=40, highest_modseq=900, synced=40
    )
    await do_record_sync_error(rt, inbox, "INBOX", "connection refused by imap.shop.test:993")
    await do_save_checkpoint(
        rt, inbox, "INBOX", uidvalidity=7, last_uid=42, highest_modseq=905, synced=2
    )
    async with rt.read_sessions() as db:
        state = await sync_state(db, inbox, "INBOX")
        other = await sync_state(db, inbox, "Archive")
    assert state is not None and other is None
    assert (state.uidvalidity, state.last_uid, state.highest_modseq) == (7, 42, 905)
    assert state.messages_synced == 42
    # A later success clears the error, but keeps when it happened.
    assert state.last_error is None and state.last_error_at is not None


async def test_quarantine_keeps_the_reason_and_tells_admins_only(rt: Runtime, world: World) -> None:
    with captured_events(rt) as events:
        held = await do_quarantine_mail(
            rt,
            world.email_inbox.id,
            folder="INBOX",
            uid=17,
            raw_sha256="cd" * 32,
            size=30_000_000,
            error="larger than the 25 MB limit",
        )
    async with rt.read_sessions() as db:
        kept = await db.get(QuarantinedMail, held.id)
    assert kept is not None and kept.error == "larger than the 25 MB limit"
    assert kept.resolved_at is None and kept.raw_sha256 == "cd" * 32
    (published,) = events
    assert published.event.type == "mail.quarantined"
    assert published.audience.agent_ids == frozenset({world.admin.id})


async def test_the_same_bytes_are_held_once(rt: Runtime, world: World) -> None:
    kwargs = {"folder": "INBOX", "raw_sha256": "aa" * 32, "size": 5, "error": "no headers"}
    first = await do_quarantine_mail(rt, world.email_inbox.id, uid=3, **kwargs)  # type: ignore[arg-type]
    with captured_events(rt) as events:
        again = await do_quarantine_mail(rt, world.email_inbox.id, uid=3, **kwargs)  # type: ignore[arg-type]
    assert again.id == first.id and events == []
