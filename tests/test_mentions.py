"""@mentions in notes: the syntax, the matching rules, and exactly who is told."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from inbox.actions.agents import do_create_agent, do_deactivate_agent
from inbox.actions.inboxes import do_grant_inbox_access
from inbox.actions.messages import do_post_note, do_post_note_with_mentions, do_post_reply
from inbox.channels.ingest import ingest
from inbox.mentions import Colleague, find_handles, resolve
from inbox.models import Notification, NotificationKind, Role
from inbox.runtime import Runtime
from tests.conftest import World, login
from tests.helpers import captured_events, inbound

ANA = Colleague(1, "Ana Silva", "ana.silva@example.test")
BEN = Colleague(2, "Ben Ng", "ben@example.test")
BEN_O = Colleague(3, "Ben Ortiz", "b.ortiz@example.test")
OLGA = Colleague(4, "Olga", "olga@example.test")
TEAM = [ANA, BEN, BEN_O, OLGA]


def test_handles_are_case_folded_deduplicated_and_in_order() -> None:
    text = "@Ben can you check? cc @lena, @BEN again and (@ana.silva)."
    assert find_handles(text) == ["ben", "lena", "ana.silva"]


def test_an_email_address_or_a_lone_at_is_not_a_mention() -> None:
    assert find_handles("write to help@example.com or ben@example.test") == []
    assert find_handles("meet @ 5pm, 50 @ 2 each") == []


def test_trailing_punctuation_is_not_part_of_the_handle() -> None:
    assert find_handles("thanks @olga. And @ben.ng, and @ana!") == ["olga", "ben.ng", "ana"]


def test_the_email_local_part_is_exact_and_beats_a_first_name() -> None:
    outcome = resolve(["ben"], TEAM, can_see=frozenset({1, 2, 3}), author_id=1)
    # "ben" is Ben Ng's local part, so it is him, although Ben Ortiz shares the first name.
    assert outcome.notified == (BEN,)
    assert outcome.warning() is None


def test_a_shared_first_name_is_ambiguous_and_nobody_is_notified() -> None:
    team = [ANA, Colleague(2, "Ben Ng", "bng@example.test"), BEN_O]
    outcome = resolve(["ben"], team, can_see=frozenset({1, 2, 3}), author_id=1)
    assert outcome.notified == ()
    assert outcome.warning() == (
        "@ben could be Ben Ng or Ben Ortiz, so nobody was notified; "
        "use their email name, e.g. @bng."
    )


def test_self_mentions_do_nothing_and_unknown_handles_are_reported() -> None:
    outcome = resolve(["ana", "lenaa"], TEAM, can_see=frozenset({1, 2}), author_id=1)
    assert outcome.notified == () and outcome.no_access == ()
    assert outcome.warning() == "Nobody here goes by @lenaa."


def test_someone_who_cant_see_the_inbox_is_not_notified_and_the_author_is_told() -> None:
    outcome = resolve(["olga", "ben"], TEAM, can_see=frozenset({1, 2}), author_id=1)
    assert outcome.notified == (BEN,)
    assert outcome.no_access == (OLGA,)
    assert outcome.warning() == "Olga can't see this inbox, so wasn't notified."
    two = resolve(["olga", "b.ortiz"], TEAM, can_see=frozenset({1}), author_id=1)
    assert two.warning() == "Olga and Ben Ortiz can't see this inbox, so weren't notified."


async def _conversation(rt: Runtime, world: World) -> int:
    received = await ingest(rt, inbound(world.email_inbox.id, email="maria@example.test"))
    return received.message.conversation_id


async def _notifications(rt: Runtime) -> list[Notification]:
    async with rt.read_sessions() as db:
        return list((await db.scalars(select(Notification).order_by(Notification.id))).all())


async def test_mentioning_ben_in_a_note_notifies_ben_alone(rt: Runtime, world: World) -> None:
    conv_id = await _conversation(rt, world)
    with captured_events(rt) as events:
        posted = await do_post_note_with_mentions(
            rt, world.ana, conv_id, "@Ben could you look at the refund? Thanks @ben."
        )
    [notification] = await _notifications(rt)
    assert notification.agent_id == world.ben.id
    assert notification.kind is NotificationKind.MENTION
    assert notification.actor_id == world.ana.id
    assert notification.conversation_id == conv_id
    assert notification.message_id == posted.message.id
    assert notification.customer_id == posted.message.customer_id
    assert notification.read_at is None
    assert [p.event.type for p in events] == ["message.created", "notification.created"]
    created = events[1]
    assert created.audience.agent_ids == frozenset({world.ben.id})
    assert created.audience.customer_id is None
    assert created.event.model_dump() == {
        "type": "notification.created",
        "notification_id": notification.id,
        "agent_id": world.ben.id,
        "kind": "mention",
        "actor_id": world.ana.id,
        "conversation_id": conv_id,
        "customer_id": posted.message.customer_id,
        "message_id": posted.message.id,
        "direct_message_id": None,
    }
    assert [c.name for c in posted.mentions.notified] == ["Ben"]
    assert posted.mentions.warning() is None


async def test_mentioning_olga_who_cant_see_the_inbox_notifies_nobody_and_ana_is_told(
    rt: Runtime, world: World
) -> None:
    conv_id = await _conversation(rt, world)
    with captured_events(rt) as events:
        posted = await do_post_note_with_mentions(rt, world.ana, conv_id, "@olga any idea?")
    assert await _notifications(rt) == []
    assert [p.event.type for p in events] == ["message.created"]
    assert posted.mentions.warning() == "Olga can't see this inbox, so wasn't notified."
    # The note itself is stored as written.
    assert posted.message.text == "@olga any idea?"


async def test_mentions_by_email_name_and_admins_who_see_every_inbox(
    rt: Runtime, world: World
) -> None:
    conv_id = await _conversation(rt, world)
    posted = await do_post_note_with_mentions(rt, world.ana, conv_id, "@LEAD and @admin, see this")
    assert {c.name for c in posted.mentions.notified} == {"Lead", "Admin"}
    assert {n.agent_id for n in await _notifications(rt)} == {world.lead.id, world.admin.id}


async def test_a_mention_in_a_reply_notifies_nobody(rt: Runtime, world: World) -> None:
    # A reply goes to the customer; "@ben" there is just text.
    conv_id = await _conversation(rt, world)
    with captured_events(rt) as events:
        await do_post_reply(rt, world.ana, conv_id, "Hi, @ben from billing will follow up.")
    assert await _notifications(rt) == []
    assert "notification.created" not in [p.event.type for p in events]


async def test_deactivated_agents_are_not_mentionable(rt: Runtime, world: World) -> None:
    conv_id = await _conversation(rt, world)
    await do_deactivate_agent(rt, world.admin, world.ben.id)
    posted = await do_post_note_with_mentions(rt, world.ana, conv_id, "@ben?")
    assert await _notifications(rt) == []
    assert posted.mentions.warning() == "Nobody here goes by @ben."


async def test_a_first_name_two_colleagues_share_notifies_neither(
    rt: Runtime, world: World
) -> None:
    zoes = []
    for email, name in [("zpark@example.test", "Zoe Park"), ("zlim@example.test", "Zoë Lim")]:
        created = await do_create_agent(rt, None, email=email, name=name, role=Role.AGENT)
        await do_grant_inbox_access(rt, None, world.email_inbox.id, agent_id=created.agent.id)
        zoes.append(created.agent)
    await do_create_agent(rt, None, email="zoe.b@example.test", name="ZOE Brown")
    conv_id = await _conversation(rt, world)
    posted = await do_post_note_with_mentions(rt, world.ben, conv_id, "@zoe please check")
    assert await _notifications(rt) == []
    assert posted.mentions.warning() == (
        "@zoe could be ZOE Brown or Zoe Park, so nobody was notified; "
        "use their email name, e.g. @zoe.b."
    )
    # The email name is exact, so it reaches the one meant; first names match in any script.
    await do_post_note_with_mentions(rt, world.ben, conv_id, "@ZPark and @zoë please check")
    assert {n.agent_id for n in await _notifications(rt)} == {zoes[0].id, zoes[1].id}


async def test_plain_do_post_note_still_returns_the_message_and_notifies(
    rt: Runtime, world: World
) -> None:
    conv_id = await _conversation(rt, world)
    message = await do_post_note(rt, world.ben, conv_id, "@ana over to you")
    assert message.text == "@ana over to you"
    assert [n.agent_id for n in await _notifications(rt)] == [world.ana.id]


async def test_the_author_is_told_who_a_mention_did_not_reach(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    received = await ingest(rt, inbound(world.email_inbox.id, email="maria@example.test"))
    conv_id = received.message.conversation_id
    csrf = await login(client, "ana@example.test")
    page = await client.post(
        f"/conversations/{conv_id}/notes",
        data={"text": "@olga do you know this customer?"},
        headers={"X-CSRF-Token": csrf, "HX-Request": "true"},
    )
    assert page.status_code == 200
    assert "Olga can" in page.text and "notified" in page.text
    api = await client.post(
        f"/api/v1/conversations/{conv_id}/messages",
        json={"kind": "note", "text": "@olga again"},
        headers={"Authorization": f"Bearer {world.tokens['ana']}"},
    )
    assert api.status_code == 201
    assert "Olga can" in api.json()["warning"]
    plain = await client.post(
        f"/api/v1/conversations/{conv_id}/messages",
        json={"kind": "note", "text": "@ben please look"},
        headers={"Authorization": f"Bearer {world.tokens['ana']}"},
    )
    assert plain.json()["warning"] is None
