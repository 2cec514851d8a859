"""Profile edits, ratings and merges reach every page showing the customer, live,
and never a page of an agent who can't see the customer."""

from __future__ import annotations

from dataclasses import replace

import httpx

from inbox.actions.customer_merge import do_merge_customers, do_unmerge_customer
from inbox.actions.customer_profile import do_edit_customer
from inbox.actions.satisfaction import do_rate_conversation
from inbox.channels.ingest import ingest
from inbox.models import Customer
from inbox.profiles.identities import ref
from inbox.runtime import Runtime
from tests.conftest import World
from tests.helpers import captured_events, inbound
from tests.test_live_ui import base_url, oob, quiet, recv, signed_in

__all__ = ["base_url"]  # the live server fixture


async def version(rt: Runtime, customer_id: int) -> int:
    async with rt.read_sessions() as db:
        customer = await db.get(Customer, customer_id)
        assert customer is not None
        return customer.version


async def test_an_edit_reaches_every_viewer_of_the_customer_and_nobody_else(
    base_url: str, rt: Runtime, world: World
) -> None:
    maria = await ingest(rt, inbound(world.email_inbox.id, email="maria@example.test"))
    cid, conv = maria.message.customer_id, maria.message.conversation_id
    await ingest(rt, inbound(world.sales_inbox.id, email="sven@example.test", name="Sven"))
    async with (
        signed_in(base_url, "ana") as ana,
        signed_in(base_url, "ben") as ben,
        signed_in(base_url, "olga") as olga,
        ana.watch(f"/conversations/{conv}") as ana_ws,
        ben.watch(f"/customers/{cid}") as ben_ws,
        olga.watch("/") as olga_ws,
    ):
        with captured_events(rt) as events:
            await do_edit_customer(
                rt,
                world.lead,
                cid,
                version=await version(rt, cid),
                name="Maria López",
                add_tags=["vip"],
            )
        [published] = events
        assert published.event.model_dump() == {
            "type": "customer.updated",
            "customer_id": cid,
            "fields": ["name", "tags"],
            "version": 2,
        }
        # Whoever may see Maria's conversations: the Support team and admins.
        assert published.audience.agent_ids == {
            world.admin.id,
            world.lead.id,
            world.ana.id,
            world.ben.id,
        }
        for ws in (ana_ws, ben_ws):
            batch = await recv(ws)
            assert oob(batch) == [("true", "profile-details")]
            assert "Maria López" in batch and 'name="version" value="2"' in batch
            assert 'data-version="2"' in batch
        assert await quiet(olga_ws)

        await do_rate_conversation(rt, world.ana, conv, 4)
        for ws in (ana_ws, ben_ws):
            rated = await recv(ws)
            assert oob(rated) == [("true", "profile-metrics")]
            assert 'data-metric="satisfaction">4.0 / 5' in rated
        assert await quiet(olga_ws)


async def test_a_merge_and_its_undoing_redraw_both_customers_pages(
    base_url: str, rt: Runtime, world: World
) -> None:
    kept = await ingest(
        rt, inbound(world.email_inbox.id, email="maria@example.test", phone="+4915112345678")
    )
    chat = inbound(world.chat_inbox.id, name="M. Lopez", text="Any news?")
    gone = await ingest(rt, replace(chat, identities=(ref("live_chat", "visitor-7"),)))
    keep_id, gone_id = kept.message.customer_id, gone.message.customer_id
    assert keep_id != gone_id
    async with (
        signed_in(base_url, "ana") as ana,
        signed_in(base_url, "ben") as ben,
        signed_in(base_url, "olga") as olga,
        ana.watch(f"/customers/{gone_id}") as gone_ws,
        ben.watch(f"/customers/{keep_id}") as keep_ws,
        olga.watch("/") as olga_ws,
    ):
        await do_merge_customers(
            rt,
            world.lead,
            keep_id=keep_id,
            merge_id=gone_id,
            expected_versions={keep_id: 1, gone_id: 1},
        )
        told = await recv(gone_ws)
        assert ("true", "merge-panel") in oob(told)
        assert f'Merged into\n    <a href="/customers/{keep_id}">Maria Lopez</a>' in told
        moved = await recv(keep_ws)
        swaps = oob(moved)
        for target in (
            "profile-details",
            "profile-conversations",
            "timeline-items",
            "profile-metrics",
        ):
            assert ("true", target) in swaps, target
        assert "visitor-7" in moved  # the identity that moved
        assert f'href="/conversations/{gone.message.conversation_id}"' in moved
        assert "Any news?" in moved
        assert await quiet(olga_ws)

        await do_unmerge_customer(rt, world.lead, merged_id=gone_id)
        back = await recv(gone_ws)
        assert ("true", "merge-panel") in oob(back) and "Merged into" not in back
        assert "Any news?" in back and "visitor-7" in back
        undone = await recv(keep_ws)
        assert "visitor-7" not in undone and "Any news?" not in undone
        assert await quiet(olga_ws)


async def test_a_stale_edit_from_the_page_is_not_pushed(
    base_url: str, rt: Runtime, world: World
) -> None:
    maria = await ingest(rt, inbound(world.email_inbox.id, email="maria@example.test"))
    cid = maria.message.customer_id
    async with signed_in(base_url, "ben") as ben, ben.watch(f"/customers/{cid}") as ws:
        async with signed_in(base_url, "ana") as ana:
            page = await ana.http.get(f"/customers/{cid}")
            csrf = page.text.split('"X-CSRF-Token": "', 1)[1].split('"', 1)[0]
            await do_edit_customer(rt, world.lead, cid, version=1, name="Maria L.")
            assert "Maria L." in await recv(ws)
            refused: httpx.Response = await ana.http.post(
                f"/customers/{cid}/profile",
                data={"version": 1, "name": "Maria Lopez-Garcia"},
                headers={"HX-Request": "true", "X-CSRF-Token": csrf},
            )
            assert refused.status_code == 409
            assert "Someone else changed this profile" in refused.text
            assert 'value="Maria L."' in refused.text
        assert await quiet(ws)
