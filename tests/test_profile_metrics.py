"""Profile metrics over a hand-built history, limited to the inboxes each agent sees."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx

from inbox.actions.conversations import do_set_status
from inbox.actions.messages import do_post_note, do_post_reply
from inbox.channels.ingest import ingest
from inbox.models import Status, utcnow
from inbox.runtime import Runtime
from tests.conftest import World, login
from tests.helpers import inbound


def bearer(world: World, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.tokens[who]}"}


async def history(rt: Runtime, world: World) -> dict[str, int]:
    """Maria: two Support email conversations (answered after 10 min and 1 h), one
    unanswered WhatsApp conversation in Sales five days before them."""
    t0 = utcnow().replace(microsecond=0) - timedelta(days=10)
    mail = "maria@example.test"
    first = await ingest(rt, inbound(world.email_inbox.id, email=mail, at=t0))
    a = first.message.conversation_id
    await do_post_note(rt, world.ana, a, "Checking the warehouse")  # notes don't count
    await do_post_reply(rt, world.ben, a, "On its way", at=t0 + timedelta(minutes=10))
    await ingest(rt, inbound(world.email_inbox.id, email=mail, at=t0 + timedelta(minutes=20)))
    await do_post_reply(rt, world.ben, a, "Tracking: 123", at=t0 + timedelta(minutes=30))
    await do_set_status(rt, world.ben, a, Status.RESOLVED)
    t1 = t0 + timedelta(days=1)
    second = await ingest(rt, inbound(world.email_inbox.id, email=mail, at=t1))
    b = second.message.conversation_id
    await do_post_reply(rt, world.ana, b, "Refund sent", at=t1 + timedelta(hours=1))
    third = await ingest(rt, inbound(world.sales_inbox.id, email=mail, at=t0 - timedelta(days=5)))
    c = third.message.conversation_id
    assert len({a, b, c}) == 3
    assert first.message.customer_id == third.message.customer_id
    return {"customer": first.message.customer_id, "a": a, "b": b, "c": c, "t0": 0}


async def metrics(client: httpx.AsyncClient, world: World, who: str, cid: int) -> dict[str, Any]:
    response = await client.get(f"/api/v1/customers/{cid}/profile", headers=bearer(world, who))
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()["metrics"]
    return found


async def test_metrics_for_a_hand_built_history_respect_inbox_access(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    h = await history(rt, world)
    cid = h["customer"]
    admin = await metrics(client, world, "admin", cid)
    assert admin["conversations"] == 3 and admin["open"] == 2
    assert admin["avg_first_response_seconds"] == 2100.0  # (600 + 3600) / 2
    assert admin["answered"] == 2
    assert admin["avg_satisfaction"] is None and admin["rated"] == 0
    ana = await metrics(client, world, "ana", cid)
    # The Sales conversation is hidden from Ana: fewer conversations, a later first contact.
    assert ana["conversations"] == 2 and ana["open"] == 1
    assert ana["first_contact"] > admin["first_contact"]
    assert ana["avg_first_response_seconds"] == 2100.0

    for who, conv, score in (("ana", h["a"], 5), ("ben", h["b"], 4), ("olga", h["c"], 1)):
        rated = await client.post(
            f"/api/v1/conversations/{conv}/satisfaction",
            json={"score": score},
            headers=bearer(world, who),
        )
        assert rated.status_code == 200, rated.text
    assert (await metrics(client, world, "ana", cid))["avg_satisfaction"] == 4.5
    admin = await metrics(client, world, "admin", cid)
    assert admin["rated"] == 3 and abs(admin["avg_satisfaction"] - 10 / 3) < 1e-9
    # Olga's team can't rate Support's conversations; scores stay within 1 to 5.
    hidden = await client.post(
        f"/api/v1/conversations/{h['a']}/satisfaction",
        json={"score": 1},
        headers=bearer(world, "olga"),
    )
    assert hidden.status_code == 404
    too_high = await client.post(
        f"/api/v1/conversations/{h['a']}/satisfaction",
        json={"score": 6},
        headers=bearer(world, "ana"),
    )
    assert too_high.status_code == 422


async def test_the_profile_shows_metrics_and_the_service_history(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    h = await history(rt, world)
    await login(client, "ana@example.test")
    page = await client.get(f"/customers/{h['customer']}")
    assert re.search(r'data-metric="conversations">2<', page.text)
    assert re.search(r'data-metric="open">1<', page.text)
    assert 'data-metric="first-response">35 min' in page.text
    assert 'data-metric="satisfaction"' not in page.text  # nothing rated: nothing shown
    # Service history: Ana's two Support conversations, with status and channel.
    history_html = page.text.split('id="profile-conversations"', 1)[1].split("</section>", 1)[0]
    assert f'href="/conversations/{h["a"]}"' in history_html
    assert f'href="/conversations/{h["b"]}"' in history_html
    assert f'href="/conversations/{h["c"]}"' not in history_html
    assert "resolved" in history_html and "Support email" in history_html
    # The timeline marks each message with its channel and links to its conversation.
    timeline = page.text.split('id="timeline-items"', 1)[1].split("</ol>", 1)[0]
    items = timeline.count('<li id="m-')
    # Inbound, a note, replies (and the automatic acknowledgement) of the first; two of
    # the second: each one links to its own conversation.
    assert timeline.count(f'href="/conversations/{h["a"]}"') >= 5
    assert timeline.count(f'href="/conversations/{h["b"]}"') >= 2
    assert timeline.count('class="msg-conv"') == items
    assert timeline.count('class="badge channel channel-email"') == items
    assert "Sales WhatsApp" not in timeline

    api = await client.get(
        f"/api/v1/customers/{h['customer']}/profile", headers=bearer(world, "admin")
    )
    entries = api.json()["conversations"]
    assert sorted((e["id"], e["channel"], e["status"]) for e in entries) == [
        (h["a"], "email", "resolved"),
        (h["b"], "email", "open"),
        (h["c"], "whatsapp", "open"),
    ]
