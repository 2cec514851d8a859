"""The agent UI as an agent meets it: pages, fragments, forms, errors."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from starlette.applications import Starlette

from inbox.actions.agents import do_deactivate_agent
from inbox.actions.conversations import do_claim_conversation, do_set_status
from inbox.actions.customers import do_add_customer_note, do_add_purchase, do_create_customer
from inbox.actions.inboxes import do_set_inbox_active
from inbox.channels.base import InboundAttachment, InboundMessage
from inbox.channels.ingest import ingest
from inbox.config import TEMPLATES_DIR
from inbox.models import ChannelKind, IdentityKind, Message, Status, utcnow
from inbox.profiles.identities import IdentityRef, ref
from inbox.runtime import Runtime
from tests.conftest import login

HTMX = {"HX-Request": "true"}
T0 = utcnow() - timedelta(hours=3)


async def inbound(
    rt: Runtime,
    inbox: Any,
    external_id: str,
    identities: tuple[IdentityRef, ...],
    text: str,
    *,
    name: str = "",
    minutes: int = 0,
    subject: str = "",
    html: str | None = None,
    attachments: tuple[InboundAttachment, ...] = (),
) -> Message:
    received = await ingest(
        rt,
        InboundMessage(
            inbox_id=inbox.id,
            external_id=external_id,
            identities=identities,
            text=text,
            sender_name=name,
            html=html,
            subject=subject,
            received_at=T0 + timedelta(minutes=minutes),
            attachments=attachments,
        ),
    )
    return received.message


@asynccontextmanager
async def signed_in(app: Starlette, who: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A separate browser, so several agents can act in one test."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c, await login(c, f"{who}@example.test")


def row_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'id="conv-(\d+)"', html)]


async def message_count(rt: Runtime) -> int:
    async with rt.read_sessions() as db:
        return int(await db.scalar(select(func.count()).select_from(Message)) or 0)


async def test_signed_out_visitor_is_sent_to_sign_in(client: httpx.AsyncClient) -> None:
    for path in ("/", "/conversations/1", "/customers/1"):
        response = await client.get(path)
        assert response.status_code == 303
        assert response.headers["location"] == f"/login?next={path}"


async def test_inbox_lists_only_conversations_the_agent_may_see(
    client: httpx.AsyncClient, app: Starlette, rt: Runtime, world: Any
) -> None:
    await inbound(
        rt,
        world.email_inbox,
        "e1",
        (ref("email", "carla@example.test"),),
        "Where is my order?",
        name="Carla Support",
        subject="Order 1001",
    )
    await inbound(
        rt,
        world.sales_inbox,
        "w1",
        (ref("whatsapp", "+14155550100"),),
        "Price for 50 units?",
        name="Sam Sales",
    )
    await login(client, "ana@example.test")

    page = (await client.get("/")).text
    assert "Carla Support" in page
    assert "Order 1001" in page
    assert "Support email" in page
    assert "Sam Sales" not in page
    assert "Price for 50 units" not in page
    # Header: who is signed in, their role, and a Sign out form carrying the CSRF field.
    assert "Ana" in page and "Agent" in page
    signout = re.search(
        r'<form class="signout" method="post" action="/logout">(.*?)</form>', page, re.S
    )
    assert signout is not None and 'name="csrf_token"' in signout.group(1)
    # The inbox filter offers only the agent's own inboxes.
    assert "Website chat" in page and "Sales WhatsApp" not in page

    async with signed_in(app, "olga") as (olga, _):
        page = (await olga.get("/")).text
    assert "Sam Sales" in page
    assert "Carla Support" not in page


async def test_view_and_status_filters(client: httpx.AsyncClient, rt: Runtime, world: Any) -> None:
    mine = await inbound(
        rt, world.email_inbox, "a", (ref("email", "a@example.test"),), "A", name="Alice Mine"
    )
    await inbound(
        rt, world.chat_inbox, "b", (ref("live_chat", "visitor-b"),), "B", name="Bob Free", minutes=1
    )
    bens = await inbound(
        rt,
        world.email_inbox,
        "c",
        (ref("email", "c@example.test"),),
        "C",
        name="Cleo Bens",
        minutes=2,
    )
    await do_claim_conversation(rt, world.ana, mine.conversation_id)
    await do_claim_conversation(rt, world.ben, bens.conversation_id)
    await login(client, "ana@example.test")

    page = (await client.get("/?view=mine")).text
    assert row_ids(page) == [mine.conversation_id]
    assert "Alice Mine" in page and "Bob Free" not in page

    page = (await client.get("/?view=unassigned")).text
    assert "Bob Free" in page
    assert "Alice Mine" not in page and "Cleo Bens" not in page
    assert "Unassigned" in page

    page = (await client.get("/?view=all")).text
    assert len(row_ids(page)) == 3
    assert "Ben" in page  # the assignee column

    page = (await client.get(f"/?view=all&inbox={world.chat_inbox.id}")).text
    assert "Bob Free" in page and "Alice Mine" not in page

    await do_set_status(rt, world.ana, mine.conversation_id, Status.RESOLVED)
    assert "Alice Mine" not in (await client.get("/?view=mine")).text
    assert "Alice Mine" in (await client.get("/?view=mine&status=resolved")).text
    assert "Alice Mine" in (await client.get("/?view=mine&status=any")).text


async def test_filter_change_with_htmx_swaps_only_the_listing(
    client: httpx.AsyncClient, rt: Runtime, world: Any
) -> None:
    await inbound(rt, world.email_inbox, "e1", (ref("email", "d@example.test"),), "Hi", name="Dora")
    await login(client, "ana@example.test")

    fragment = await client.get("/?view=unassigned&status=open", headers=HTMX)
    assert fragment.status_code == 200
    assert "<html" not in fragment.text and "<header" not in fragment.text
    assert "Dora" in fragment.text
    assert 'class="tab is-active"' in fragment.text  # the tabs come along, showing the new view
    assert "HX-Request" in fragment.headers["vary"]

    full = await client.get("/?view=unassigned&status=open")
    assert full.text.startswith("<!doctype html>")
    assert "Dora" in full.text
    # Tabs and filters push the URL, so the address bar always reflects the list.
    assert full.text.count('hx-push-url="true"') == 4

    # Back/forward after a cache miss asks htmx for the whole page.
    restore = await client.get(
        "/?view=unassigned", headers={**HTMX, "HX-History-Restore-Request": "true"}
    )
    assert restore.text.startswith("<!doctype html>")


async def test_bad_filter_values_are_a_clear_400(client: httpx.AsyncClient, world: Any) -> None:
    await login(client, "ana@example.test")
    cases = {
        "/?view=everything": "view must be one of",
        "/?status=closed": "status must be one of",
        "/?inbox=abc": "inbox must be an inbox id",
        f"/?inbox={world.sales_inbox.id}": "no inbox with that id",
        "/?inbox=99999": "no inbox with that id",
        "/?cursor=not-a-cursor": "cursor is not valid",
    }
    for url, message in cases.items():
        response = await client.get(url)
        assert response.status_code == 400, url
        assert message in response.text, url
        fragment = await client.get(url, headers=HTMX)
        assert fragment.status_code == 400
        assert fragment.headers["hx-retarget"] == "#flash"
        assert message in fragment.text


async def test_load_more_fetches_the_next_page_without_duplicates(
    client: httpx.AsyncClient, rt: Runtime, world: Any
) -> None:
    total = 27
    for n in range(total):
        await inbound(
            rt,
            world.email_inbox,
            f"p{n}",
            (ref("email", f"p{n}@example.test"),),
            f"message {n}",
            name=f"Person {n}",
            minutes=n,
        )
    await login(client, "ana@example.test")

    first = (await client.get("/")).text
    first_ids = row_ids(first)
    assert len(first_ids) == 25
    more = re.search(r'hx-get="(/\?[^"]*cursor=[^"]+)"', first)
    assert more is not None, "a Load more control with a cursor"
    more_url = more.group(1).replace("&amp;", "&")
    assert "offset" not in more_url

    second = await client.get(more_url, headers=HTMX)
    assert second.status_code == 200
    assert "<ol" not in second.text  # rows only, appended to the existing list
    second_ids = row_ids(second.text)
    assert len(second_ids) == 2
    assert not set(first_ids) & set(second_ids)
    assert "Load more" not in second.text
    # Newest first across both pages.
    assert "Person 26" in first and "Person 0" in second.text

    # Without JS the same link is a plain page of its own.
    plain = await client.get(more_url)
    assert plain.text.startswith("<!doctype html>") and row_ids(plain.text) == second_ids


async def test_conversation_page_shows_the_whole_cross_channel_timeline(
    client: httpx.AsyncClient, rt: Runtime, world: Any
) -> None:
    email = ref("email", "maria@example.test")
    first = await inbound(
        rt,
        world.email_inbox,
        "m1",
        (email,),
        "My parcel is late",
        name="Maria Lopez",
        subject="Late parcel",
    )
    chat = await inbound(
        rt,
        world.chat_inbox,
        "m2",
        (ref("live_chat", "visitor-9"), email),
        "Any news on the parcel?",
        minutes=5,
    )
    await inbound(rt, world.email_inbox, "m3", (email,), "Following up by email", minutes=10)
    # The same customer on a channel Ana can't see must stay hidden from her.
    await inbound(
        rt,
        world.sales_inbox,
        "m4",
        (ref("whatsapp", "+14155550111"), email),
        "Secret sales chat",
        minutes=7,
    )
    assert chat.customer_id == first.customer_id
    assert chat.conversation_id != first.conversation_id
    await login(client, "ana@example.test")

    page = (await client.get(f"/conversations/{first.conversation_id}")).text
    assert "Late parcel" in page
    positions = [
        page.index(t)
        for t in ("My parcel is late", "Any news on the parcel?", "Following up by email")
    ]
    assert positions == sorted(positions), "interleaved by time, oldest first"
    assert "Secret sales chat" not in page
    assert "Sales WhatsApp" not in page
    # Each entry says where it came from; the viewed conversation stands out.
    items = re.findall(r'<li id="m-(\d+)" class="([^"]+)">', page)
    classes = {int(mid): cls for mid, cls in items}
    assert "is-current" in classes[first.id]
    assert "is-other" in classes[chat.id]
    chat_item = page[page.index(f'id="m-{chat.id}"') :].split("</li>", 1)[0]
    assert "Live chat" in chat_item and "Website chat" in chat_item
    email_item = page[page.index(f'id="m-{first.id}"') :].split("</li>", 1)[0]
    assert "Email" in email_item and "Support email" in email_item
    # The chat is also listed among the customer's conversations.
    assert f'href="/conversations/{chat.conversation_id}"' in page


async def test_profile_panel_shows_identities_tags_attributes_notes_purchases(
    client: httpx.AsyncClient, rt: Runtime, world: Any
) -> None:
    customer = await do_create_customer(
        rt,
        None,
        name="Noor Haddad",
        identities=[ref("email", "noor@example.test"), ref("phone", "+442071838750")],
        attributes={"plan": "Premium", "seats": 12},
        tags=["vip", "wholesale"],
    )
    msg = await inbound(
        rt, world.email_inbox, "n1", (ref("email", "noor@example.test"),), "Invoice question"
    )
    assert msg.customer_id == customer.id
    await do_add_customer_note(rt, world.lead, customer.id, "Prefers phone calls after 5pm")
    await do_add_purchase(
        rt,
        None,
        customer.id,
        reference="ORD-7781",
        amount=1249.5,
        currency="eur",
        description="Annual plan",
    )
    await login(client, "ana@example.test")

    page = (await client.get(f"/conversations/{msg.conversation_id}")).text
    panel = page[page.index('id="profile"') :]
    for expected in (
        "Noor Haddad",
        "noor@example.test",
        "+442071838750",
        "Phone",
        "vip",
        "wholesale",
        "plan",
        "Premium",
        "seats",
        "Prefers phone calls after 5pm",
        "Lead",  # the note's author
        "ORD-7781",
        "1,249.50 EUR",
        "Annual plan",
    ):
        assert expected in panel, expected


async def test_adding_a_note_shows_it_in_the_timeline_marked_internal(
    client: httpx.AsyncClient, rt: Runtime, world: Any
) -> None:
    msg = await inbound(
        rt, world.email_inbox, "x1", (ref("email", "e@example.test"),), "Hello", name="Eve"
    )
    token = await login(client, "ana@example.test")
    url = f"/conversations/{msg.conversation_id}"

    fragment = await client.post(
        f"{url}/notes",
        data={"text": "Checked the warehouse"},
        headers={**HTMX, "X-CSRF-Token": token},
    )
    assert fragment.status_code == 200
    assert "Checked the warehouse" in fragment.text
    assert "Internal note" in fragment.text
    assert 'class="msg msg-note is-current"' in fragment.text
    # The composer comes back empty, out of band.
    assert re.search(
        r'<textarea id="composer-text"[^>]*hx-swap-oob="true"></textarea>', fragment.text
    )

    plain = await client.post(f"{url}/notes", data={"text": "Second note", "csrf_token": token})
    assert plain.status_code == 303
    assert plain.headers["location"].startswith(f"{url}#m-")

    page = (await client.get(url)).text
    assert page.count("Internal note") == 2
    note = page[page.index("Checked the warehouse") - 800 : page.index("Checked the warehouse")]
    assert "msg-note" in note

    empty = await client.post(
        f"{url}/notes", data={"text": "   "}, headers={**HTMX, "X-CSRF-Token": token}
    )
    assert empty.status_code == 400
    assert "the message is empty" in empty.text


async def test_sending_a_reply_shows_it_queued_and_claims_the_conversation(
    client: httpx.AsyncClient, rt: Runtime, world: Any
) -> None:
    msg = await inbound(
        rt, world.chat_inbox, "r1", (ref("live_chat", "v-1"),), "Can you help?", name="Finn"
    )
    token = await login(client, "ana@example.test")

    fragment = await client.post(
        f"/conversations/{msg.conversation_id}/replies",
        data={"text": "Of course, one moment."},
        headers={**HTMX, "X-CSRF-Token": token},
    )
    assert fragment.status_code == 200
    assert "Of course, one moment." in fragment.text
    assert "queued" in fragment.text
    assert "Internal note" not in fragment.text
    header = re.search(r'<section id="conv-header"[^>]*hx-swap-oob="true"', fragment.text)
    assert header is not None
    assert re.search(r'id="assignee-name"[^>]*>Ana<', fragment.text)

    page = (await client.get("/?view=mine")).text
    assert row_ids(page) == [msg.conversation_id]


async def write(client: httpx.AsyncClient, token: str, path: str, text: str) -> httpx.Response:
    """The composer's post (a reply or a note), as htmx sends it."""
    return await client.post(path, data={"text": text}, headers={**HTMX, "X-CSRF-Token": token})


async def test_a_deactivated_inbox_sends_no_replies_but_keeps_notes(
    client: httpx.AsyncClient, rt: Runtime, world: Any
) -> None:
    msg = await inbound(
        rt, world.chat_inbox, "off-1", (ref("live_chat", "v-off"),), "Still there?", name="Ida"
    )
    await do_set_inbox_active(rt, world.admin, world.chat_inbox.id, False)
    token = await login(client, "ana@example.test")
    url = f"/conversations/{msg.conversation_id}"

    page = (await client.get(url)).text
    notice = re.search(r'<p id="composer-inactive"[^>]*>([^<]*)</p>', page)
    assert notice is not None and "inbox is deactivated" in notice.group(1)
    assert re.search(r'formaction="[^"]*/replies"\s+disabled', page)

    refused = await write(client, token, f"{url}/replies", "Hello?")
    assert refused.status_code == 409
    assert "deactivated" in refused.text
    note = await write(client, token, f"{url}/notes", "Moved to the new number")
    assert note.status_code == 200
    async with rt.read_sessions() as db:
        texts = (
            await db.scalars(
                select(Message.text).where(Message.conversation_id == msg.conversation_id)
            )
        ).all()
    assert sorted(texts) == ["Moved to the new number", "Still there?"]

    await do_set_inbox_active(rt, world.admin, world.chat_inbox.id, True)
    sent = await write(client, token, f"{url}/replies", "Back now.")
    assert sent.status_code == 200 and "Back now." in sent.text


async def test_posting_without_the_csrf_token_is_refused_and_stores_nothing(
    client: httpx.AsyncClient, rt: Runtime, world: Any
) -> None:
    msg = await inbound(
        rt, world.email_inbox, "c1", (ref("email", "g@example.test"),), "Hi", name="Gus"
    )
    await login(client, "ana@example.test")
    before = await message_count(rt)
    for path in ("notes", "replies"):
        response = await client.post(
            f"/conversations/{msg.conversation_id}/{path}", data={"text": "forged"}
        )
        assert response.status_code == 403
    wrong = await client.post(
        f"/conversations/{msg.conversation_id}/claim", data={"csrf_token": "guess"}
    )
    assert wrong.status_code == 403
    assert await message_count(rt) == before
    page = (await client.get(f"/conversations/{msg.conversation_id}")).text
    assert "forged" not in page
    assert "Unassigned" in page


async def test_another_teams_conversation_is_404_like_a_missing_one(
    client: httpx.AsyncClient, rt: Runtime, world: Any
) -> None:
    sales = await inbound(
        rt, world.sales_inbox, "s1", (ref("whatsapp", "+14155550122"),), "Quote please", name="Hana"
    )
    token = await login(client, "ana@example.test")
    hidden = sales.conversation_id
    missing = hidden + 1000
    for conv_id in (hidden, missing):
        page = await client.get(f"/conversations/{conv_id}")
        assert page.status_code == 404
        assert "conversation not found" in page.text
        assert "Quote please" not in page.text
        for verb in ("notes", "replies", "claim", "release", "resolve", "reopen"):
            response = await client.post(
                f"/conversations/{conv_id}/{verb}",
                data={"text": "sneaky"},
                headers={**HTMX, "X-CSRF-Token": token},
            )
            assert response.status_code == 404, verb
            assert response.headers["hx-retarget"] == "#flash"
    customer = await client.get(f"/customers/{sales.customer_id}")
    assert customer.status_code == 404
    async with rt.read_sessions() as db:
        texts = (await db.scalars(select(Message.text))).all()
    assert "sneaky" not in texts


async def test_hostile_names_and_messages_render_inert(
    client: httpx.AsyncClient, rt: Runtime, world: Any
) -> None:
    script = "<script>alert('name')</script>"
    img = '<img src=x onerror="alert(1)">'
    hx = '<a hx-get="/logout" hx-trigger="load">click</a>'
    msg = await inbound(
        rt,
        world.email_inbox,
        "h1",
        (ref("email", "mallory@example.test"),),
        f"text {img} {hx}",
        name=f"Mallory {script}",
        subject=f"Subject {script}",
        html=f"<p>Hello</p>{img}<div hx-post='/logout' hx-trigger='load'>x</div>{script}",
        attachments=(InboundAttachment(f"{script}.pdf", "application/pdf", 2048, "0" * 64),),
    )
    await inbound(
        rt,
        world.chat_inbox,
        "h2",
        (ref("live_chat", "mallory-chat"), ref("email", "mallory@example.test")),
        f"plain {hx} {img}",
        minutes=1,
    )
    token = await login(client, "ana@example.test")
    await client.post(
        f"/conversations/{msg.conversation_id}/notes",
        data={"text": f"agent wrote {script}"},
        headers={**HTMX, "X-CSRF-Token": token},
    )
    pages = {
        "list": (await client.get("/")).text,
        "conversation": (await client.get(f"/conversations/{msg.conversation_id}")).text,
        "customer": (await client.get(f"/customers/{msg.customer_id}")).text,
    }
    for name, page in pages.items():
        # The payloads as markup must be gone; as escaped text they are harmless.
        for raw in ("<script>alert", "<img src=x", 'onerror="', "<a hx-get", "<div hx-post"):
            assert raw not in page, (name, raw)
        assert not re.search(r"\shx-(get|post)=[\"']/logout", page), name
        assert "Mallory &lt;script&gt;" in page, name
    conversation = pages["conversation"]
    assert "plain &lt;a hx-get=&#34;/logout&#34;" in conversation  # plain text shows as text
    assert "agent wrote &lt;script&gt;" in conversation
    assert "&lt;script&gt;alert(&#39;name&#39;)&lt;/script&gt;.pdf" in conversation
    assert "<p>Hello</p>" in conversation  # sanitised markup still renders
    # And the trusted markup sits where htmx is told to leave it alone.
    assert '<div class="msg-body msg-html" hx-disable><p>Hello</p>' in conversation


async def test_claiming_a_claimed_conversation_says_who_has_it(
    client: httpx.AsyncClient, app: Starlette, rt: Runtime, world: Any
) -> None:
    msg = await inbound(
        rt, world.email_inbox, "k1", (ref("email", "k@example.test"),), "Help", name="Kim"
    )
    url = f"/conversations/{msg.conversation_id}"
    token = await login(client, "ana@example.test")
    claimed = await client.post(f"{url}/claim", headers={**HTMX, "X-CSRF-Token": token})
    assert claimed.status_code == 200
    assert re.search(r'id="assignee-name"[^>]*>Ana<', claimed.text)
    assert ">Release</button>" in claimed.text and ">Claim</button>" not in claimed.text
    assert '<div id="flash" hx-swap-oob="innerHTML"></div>' in claimed.text

    async with signed_in(app, "ben") as (ben, ben_token):
        page = (await ben.get(url)).text
        assert ">Claim</button>" not in page  # nothing to claim, and not Ben's to release
        conflict = await ben.post(f"{url}/claim", headers={**HTMX, "X-CSRF-Token": ben_token})
        assert conflict.status_code == 409
        assert "already claimed by Ana" in conflict.text
        assert conflict.headers["hx-retarget"] == "#flash"
        plain = await ben.post(f"{url}/claim", data={"csrf_token": ben_token})
        assert plain.status_code == 409
        assert "already claimed by Ana" in plain.text


async def test_release_resolve_and_reopen(
    client: httpx.AsyncClient, rt: Runtime, world: Any
) -> None:
    msg = await inbound(
        rt, world.email_inbox, "s1", (ref("email", "s@example.test"),), "Hi", name="Sol"
    )
    url = f"/conversations/{msg.conversation_id}"
    token = await login(client, "ana@example.test")
    headers = {**HTMX, "X-CSRF-Token": token}

    assert (await client.post(f"{url}/claim", data={"csrf_token": token})).headers[
        "location"
    ] == url
    resolved = await client.post(f"{url}/resolve", headers=headers)
    assert 'class="pill status-resolved"' in resolved.text
    assert ">Reopen</button>" in resolved.text and ">Resolve</button>" not in resolved.text
    reopened = await client.post(f"{url}/reopen", headers=headers)
    assert 'class="pill status-open"' in reopened.text
    released = await client.post(f"{url}/release", headers=headers)
    assert re.search(r'id="assignee-name"[^>]*>Unassigned<', released.text)
    assert ">Claim</button>" in released.text


async def test_leads_assign_to_agents_who_can_see_the_inbox(
    client: httpx.AsyncClient, app: Starlette, rt: Runtime, world: Any
) -> None:
    msg = await inbound(
        rt, world.email_inbox, "as1", (ref("email", "as@example.test"),), "Hi", name="Ines"
    )
    url = f"/conversations/{msg.conversation_id}"
    token = await login(client, "lead@example.test")
    page = (await client.get(url)).text
    form = page[page.index('class="assign-form"') :].split("</form>", 1)[0]
    assert ">Ana</option>" in form and ">Ben</option>" in form
    assert "Olga" not in form  # she can't see this inbox
    assert ">Support</option>" in form

    assigned = await client.post(
        f"{url}/assign",
        data={"assignee_id": str(world.ben.id), "team_id": str(world.support.id)},
        headers={**HTMX, "X-CSRF-Token": token},
    )
    assert assigned.status_code == 200
    assert re.search(r'id="assignee-name"[^>]*>Ben<', assigned.text)

    bad = await client.post(
        f"{url}/assign", data={"assignee_id": "abc"}, headers={**HTMX, "X-CSRF-Token": token}
    )
    assert bad.status_code == 400 and "assignee_id must be an id" in bad.text

    async with signed_in(app, "ana") as (ana, ana_token):
        assert 'class="assign-form"' not in (await ana.get(url)).text
        refused = await ana.post(
            f"{url}/assign",
            data={"assignee_id": str(world.ben.id)},
            headers={**HTMX, "X-CSRF-Token": ana_token},
        )
        assert refused.status_code == 403
        assert "only a lead or admin" in refused.text


async def test_load_earlier_pages_back_through_the_timeline(
    client: httpx.AsyncClient, rt: Runtime, world: Any
) -> None:
    who = (ref("email", "long@example.test"),)
    first = await inbound(rt, world.email_inbox, "l0", who, "oldest message", name="Lou")
    for n in range(1, 52):
        await inbound(rt, world.email_inbox, f"l{n}", who, f"message number {n}", minutes=n)
    await login(client, "ana@example.test")
    page = (await client.get(f"/conversations/{first.conversation_id}")).text
    page = page.split('id="timeline-items"', 1)[1].split("</ol>", 1)[0]
    assert "message number 51" in page
    assert "oldest message" not in page and "message number 1<" not in page
    earlier = re.search(r'hx-get="(/conversations/\d+\?before=[^"]+)"', page)
    assert earlier is not None
    fragment = await client.get(earlier.group(1), headers=HTMX)
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert "oldest message" in fragment.text and "message number 1<" in fragment.text
    assert "message number 2<" not in fragment.text
    assert "Load earlier" not in fragment.text


async def test_customer_page_and_notes_on_the_customer(
    client: httpx.AsyncClient, rt: Runtime, world: Any
) -> None:
    email = ref("email", "pia@example.test")
    msg = await inbound(rt, world.email_inbox, "cp1", (email,), "By email", name="Pia")
    await inbound(
        rt, world.chat_inbox, "cp2", (ref("live_chat", "pia-chat"), email), "By chat", minutes=1
    )
    token = await login(client, "ana@example.test")
    page = (await client.get(f"/customers/{msg.customer_id}")).text
    assert "By email" in page and "By chat" in page
    assert "is-current" not in page  # no conversation is in focus here

    saved = await client.post(
        f"/customers/{msg.customer_id}/notes",
        data={"body": "Speaks Finnish", "back": f"/conversations/{msg.conversation_id}"},
        headers={**HTMX, "X-CSRF-Token": token},
    )
    assert saved.status_code == 200
    assert 'id="customer-notes"' in saved.text and "Speaks Finnish" in saved.text
    plain = await client.post(
        f"/customers/{msg.customer_id}/notes",
        data={"body": "Second", "back": "https://evil.example/", "csrf_token": token},
    )
    assert plain.status_code == 303
    assert plain.headers["location"] == f"/customers/{msg.customer_id}"
    panel = (await client.get(f"/conversations/{msg.conversation_id}")).text
    assert "Speaks Finnish" in panel and "Second" in panel


async def test_a_deactivated_agent_is_signed_out_at_the_next_request(
    client: httpx.AsyncClient, rt: Runtime, world: Any
) -> None:
    msg = await inbound(
        rt, world.email_inbox, "d1", (ref("email", "dd@example.test"),), "Hi", name="Dan"
    )
    token = await login(client, "ana@example.test")
    assert (await client.get("/")).status_code == 200
    await do_deactivate_agent(rt, None, world.ana.id)

    page = await client.get("/")
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login")
    before = await message_count(rt)
    post = await client.post(
        f"/conversations/{msg.conversation_id}/notes",
        data={"text": "after deactivation"},
        headers={**HTMX, "X-CSRF-Token": token},
    )
    assert post.status_code == 401
    assert await message_count(rt) == before


async def test_sign_out_button_ends_the_session(client: httpx.AsyncClient, world: Any) -> None:
    token = await login(client, "ana@example.test")
    response = await client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 303
    assert (await client.get("/")).status_code == 303


def test_templates_trust_markup_in_one_place_and_keep_to_the_csp() -> None:
    safe_uses: list[str] = []
    for path in sorted(Path(TEMPLATES_DIR).rglob("*.html")):
        source = path.read_text()
        safe_uses += [path.name] * len(re.findall(r"\|\s*safe\b", source))
        assert not re.search(r"\sstyle\s*=", source), f"inline style in {path.name}"
        assert not re.search(r"\shx-on", source), f"hx-on in {path.name}"
        scripts = re.findall(r"<script[^>]*>", source)
        assert all('src="/static/' in s for s in scripts), f"inline script in {path.name}"
    assert safe_uses == ["_message_body.html"]


def test_every_channel_and_identity_kind_has_a_label() -> None:
    from inbox.views.display import CHANNEL_LABELS

    kinds = {k.value for k in IdentityKind} | {k.value for k in ChannelKind}
    assert kinds <= CHANNEL_LABELS.keys()
