"""The worker runs one connector per active inbox, and stops one whose inbox is deactivated."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from inbox import worker
from inbox.actions.inboxes import do_set_inbox_active
from inbox.models import Inbox
from inbox.runtime import Runtime
from tests.conftest import World


class Recorder:
    """A connector that only notes when it runs and when it is stopped."""

    def __init__(self) -> None:
        self.running: set[int] = set()
        self.changed = asyncio.Event()

    def factory(self, rt: Runtime, inbox: Inbox) -> Any:
        recorder = self

        class Connector:
            async def run(self) -> None:
                recorder.running.add(inbox.id)
                recorder.changed.set()
                try:
                    await asyncio.Event().wait()
                finally:
                    recorder.running.discard(inbox.id)
                    recorder.changed.set()

        return Connector()

    async def until(self, wanted: set[int]) -> None:
        async with asyncio.timeout(10):
            while self.running != wanted:
                self.changed.clear()
                await self.changed.wait()


async def test_a_deactivated_inbox_s_connector_is_stopped_and_restarted_on_reactivation(
    rt: Runtime, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder()
    monkeypatch.setattr(
        worker,
        "connector_factories",
        lambda: {"email": recorder.factory, "whatsapp": recorder.factory},
    )
    monkeypatch.setattr(worker, "RESCAN_SECONDS", 0.05)
    # An email inbox and a WhatsApp one (whose connector sends its replies).
    both = {world.email_inbox.id, world.sales_inbox.id}  # type: ignore[attr-defined]
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run_worker(rt.settings, stop=stop))
    try:
        await recorder.until(both)
        await do_set_inbox_active(rt, world.admin, world.email_inbox.id, False)  # type: ignore[attr-defined]
        await recorder.until({world.sales_inbox.id})  # type: ignore[attr-defined]
        await do_set_inbox_active(rt, world.admin, world.email_inbox.id, True)  # type: ignore[attr-defined]
        await recorder.until(both)
    finally:
        stop.set()
        await running
    assert recorder.running == set()
