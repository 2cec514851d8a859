"""Collision control: a reply drafted before new activity arrived is refused."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from playwright.async_api import Page, async_playwright, expect
from sqlalchemy import select

from inbox.actions.conversations import do_claim_conversation
from inbox.actions.messages import do_post_note, do_post_reply
from inbox.channels.ingest import ingest
from inbox.models import Conversation, Message
from inbox.runtime import Runtime
from tests.conftest import World, login
from tests.helpers import inbound
from tests.test_api_support import bearer, count, error_of
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, free_port, require_chromium
from tests.test_browser_live import (
    LIVE_TIMEOUT_MS,
    Server,
    database,
    live,
    seed,
    signed_in_page,
    watch_socket,
    write_in,
)

HTMX = {"HX-Request": "true"}
STALE = "new activity since you started"


async def customer_writes(rt: Runtime, inbox_id: int, text: str, **who: str) -> Message:
    received = await ingest(rt, inbound(inbox_id, text=text, **who))
    return received.message


async def page_based_on(client: httpx.AsyncClient, conversation_id: int) -> int:
    page = await client.get(f"/conversations/{conversation_id}")
    assert page.status_code == 200, page.text
    found = re.search(r'id="composer-based-on" name="based_on" value="(\d+)"', page.text)
    assert found is not None, "the composer carries based_on"
    return int(found.group(1))


async def reply(
    client: httpx.AsyncClient, token: str, conversation_id: int, text: str, based_on: object
) -> httpx.Response:
    return await client.post(
        f"/conversations/{conversation_id}/replies",
        data={"text": text, "based_on": str(based_on)},
        headers={**HTMX, "X-CSRF-Token": token},
    )


async def replies_in(rt: Runtime, conversation_id: int) -> list[str]:
    async with rt.read_sessions() as db:
        rows = await db.scalars(
            select(Message.text)
            .where(Message.conversation_id == conversation_id, Message.direction == "outbound")
            .order_by(Message.id)
        )
        return list(rows.all())


async def test_a_customer_message_after_the_draft_began_refuses_the_reply_until_resent(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    first = await customer_writes(rt, world.chat_inbox.id, "Where is my order?", chat_id="v-1")
    conv_id = first.conversation_id
    token = await login(client, "ana@example.test")
    based_on = await page_based_on(client, conv_id)
    assert based_on == first.id

    later = await customer_writes(rt, world.chat_inbox.id, "Actually, cancel it", chat_id="v-1")
    assert later.conversation_id == conv_id
    before = await count(rt, Message)

    refused = await reply(client, token, conv_id, "It ships tomorrow!", based_on)
    assert refused.status_code == 409
    assert STALE in refused.text.lower()
    # The new message is shown, the composer's based_on moves past it, the text stays.
    assert f'id="m-{later.id}"' in refused.text and "Actually, cancel it" in refused.text
    assert re.search(
        rf'id="composer-based-on" name="based_on" value="{later.id}" hx-swap-oob="true"',
        refused.text,
    )
    assert 'id="composer-text"' not in refused.text
    assert "HX-Retarget" not in refused.headers
    # Nothing stored, and the refused reply claimed nothing.
    assert await count(rt, Message) == before
    async with rt.read_sessions() as db:
        conv = await db.get(Conversation, conv_id)
        assert conv is not None and conv.assignee_id is None

    resent = await reply(client, token, conv_id, "Cancelled for you.", later.id)
    assert resent.status_code == 200, resent.text
    assert "Cancelled for you." in resent.text
    # The prompt is cleared and the next draft starts from the reply.
    assert re.search(r'<div id="composer-stale" hx-swap-oob="true"></div>', resent.text)
    sent = await replies_in(rt, conv_id)
    assert sent == ["Cancelled for you."]
    assert re.search(
        r'id="composer-based-on" name="based_on" value="(\d+)" hx-swap-oob="true"', resent.text
    )
    assert await page_based_on(client, conv_id) > later.id


async def test_a_plain_form_post_is_refused_with_the_409_page(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    first = await customer_writes(rt, world.email_inbox.id, "Hi", email="p@example.test")
    token = await login(client, "ana@example.test")
    await customer_writes(rt, world.email_inbox.id, "Hello?", email="p@example.test")
    response = await client.post(
        f"/conversations/{first.conversation_id}/replies",
        data={"text": "Sorry!", "based_on": str(first.id), "csrf_token": token},
    )
    assert response.status_code == 409
    assert STALE in response.text.lower()
    assert await replies_in(rt, first.conversation_id) == []


async def test_a_colleagues_reply_refuses_but_a_colleagues_note_does_not(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    first = await customer_writes(rt, world.email_inbox.id, "Refund?", email="r@example.test")
    conv_id = first.conversation_id
    await do_claim_conversation(rt, world.ana, conv_id)  # type: ignore[arg-type]
    token = await login(client, "ana@example.test")
    based_on = await page_based_on(client, conv_id)

    note = await do_post_note(rt, world.ben, conv_id, "I think she wants a refund")  # type: ignore[arg-type]
    assert note.id > based_on
    # A lead steps in on Ana's conversation with a reply of their own.
    lead_reply = await do_post_reply(rt, world.lead, conv_id, "Refund issued.")  # type: ignore[arg-type]

    refused = await reply(client, token, conv_id, "Let me check.", based_on)
    assert refused.status_code == 409
    assert STALE in refused.text.lower()
    assert f'id="m-{lead_reply.id}"' in refused.text
    assert f'id="m-{note.id}"' not in refused.text  # notes aren't the prompt's business

    # Based on the note alone (before the lead's reply) it would still be refused...
    again = await reply(client, token, conv_id, "Let me check.", note.id)
    assert again.status_code == 409
    # ...based on the lead's reply it goes through.
    ok = await reply(client, token, conv_id, "Done, as Lead said.", lead_reply.id)
    assert ok.status_code == 200, ok.text
    assert await replies_in(rt, conv_id) == ["Refund issued.", "Done, as Lead said."]


async def test_only_a_note_or_your_own_reply_since_then_goes_through(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    first = await customer_writes(rt, world.email_inbox.id, "Hi", email="n@example.test")
    conv_id = first.conversation_id
    token = await login(client, "ana@example.test")
    based_on = await page_based_on(client, conv_id)

    await do_post_note(rt, world.ben, conv_id, "FYI: VIP customer")  # type: ignore[arg-type]
    noted = await reply(client, token, conv_id, "Hello! How can I help?", based_on)
    assert noted.status_code == 200, noted.text
    # Ana's own earlier reply (say from another tab) doesn't count against her.
    own = await reply(client, token, conv_id, "Also: we're open until 6.", based_on)
    assert own.status_code == 200, own.text
    assert await replies_in(rt, conv_id) == ["Hello! How can I help?", "Also: we're open until 6."]


async def test_only_this_conversation_counts(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    # One customer, two conversations: by email and by chat.
    mail = await customer_writes(rt, world.email_inbox.id, "By mail", email="o@example.test")
    chat = await customer_writes(
        rt, world.chat_inbox.id, "By chat", chat_id="v-9", email="o@example.test"
    )
    assert chat.customer_id == mail.customer_id and chat.conversation_id != mail.conversation_id
    token = await login(client, "ana@example.test")
    based_on = await page_based_on(client, chat.conversation_id)
    assert based_on == chat.id

    other = await customer_writes(rt, world.email_inbox.id, "More mail", email="o@example.test")
    assert other.conversation_id == mail.conversation_id
    sent = await reply(client, token, chat.conversation_id, "Hi there", based_on)
    assert sent.status_code == 200, sent.text
    # A based_on taken from the other conversation (newer than all of this one) is fine too.
    sent = await reply(client, token, chat.conversation_id, "Anything else?", other.id)
    assert sent.status_code == 200, sent.text


async def test_a_malformed_based_on_is_a_400(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    first = await customer_writes(rt, world.email_inbox.id, "Hi", email="m@example.test")
    token = await login(client, "ana@example.test")
    before = await count(rt, Message)
    for bad in ("abc", "1.5", "-1", str(2**63)):
        response = await reply(client, token, first.conversation_id, "Hello", bad)
        assert response.status_code == 400, (bad, response.text)
        assert "based_on" in response.text
    assert await count(rt, Message) == before
    # An empty field (no JavaScript, no page value) skips the check.
    response = await reply(client, token, first.conversation_id, "Hello", "")
    assert response.status_code == 200


async def test_api_based_on(client: httpx.AsyncClient, rt: Runtime, world: World) -> None:
    first = await customer_writes(rt, world.email_inbox.id, "Hi", email="a@example.test")
    conv_id = first.conversation_id
    path = f"/api/v1/conversations/{conv_id}/messages"
    ana = bearer(world, "ana")
    later = await customer_writes(rt, world.email_inbox.id, "Hello??", email="a@example.test")
    before = await count(rt, Message)

    stale = {"kind": "reply", "text": "Hi!", "based_on": first.id}
    refused = await client.post(path, json=stale, headers=ana)
    assert refused.status_code == 409
    error = error_of(refused)
    assert error["message"] == STALE
    assert error["details"] == {"new_message_ids": [later.id]}
    assert await count(rt, Message) == before

    # A note is never refused for it.
    note = await client.post(
        path, json={"kind": "note", "text": "n", "based_on": first.id}, headers=ana
    )
    assert note.status_code == 201, note.text

    current = {"kind": "reply", "text": "Hi!", "based_on": later.id}
    posted = await client.post(path, json=current, headers=ana)
    assert posted.status_code == 201, posted.text
    # Without based_on: today's behaviour, no check.
    unchecked = await client.post(path, json={"kind": "reply", "text": "Bye"}, headers=ana)
    assert unchecked.status_code == 201, unchecked.text

    for bad in ("7", 1.5, -1, True, 2**63):
        response = await client.post(
            path, json={"kind": "reply", "text": "x", "based_on": bad}, headers=ana
        )
        assert response.status_code == 422, (bad, response.text)
        assert error_of(response)["message"].startswith("based_on")


async def test_openapi_documents_based_on(client: httpx.AsyncClient, world: World) -> None:
    response = await client.get("/api/v1/openapi.json", headers=bearer(world, "ana"))
    assert response.status_code == 200, response.text
    text = str(response.json())
    assert "based_on" in text and "new_message_ids" in text


async def test_in_the_browser_the_draft_keeps_its_base_and_resends_after_review(
    tmp_path: Path,
) -> None:
    require_chromium()
    async with database(tmp_path) as (env, rt):
        seeded = await seed(rt)
        server = Server(env, free_port(), tmp_path / "uvicorn.log")
        await server.start()
        try:
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(
                    executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
                )
                try:
                    problems: list[str] = []
                    page = await signed_in_page(browser, server.base, "ana@example.test", problems)
                    await watch_socket(page)
                    await page.goto(f"{server.base}/conversations/{seeded.conversation_id}")
                    await live(page)
                    await _browser_scenario(page, rt, seeded.inbox_id)
                    # The refusal's 409 is an answer, not a script error.
                    assert [p for p in problems if "409" not in p] == []
                finally:
                    await browser.close()
        finally:
            await server.stop()


async def _newest_id(page: Page) -> int:
    return int(
        await page.evaluate(
            "Math.max(...Array.from(document.querySelectorAll('#timeline-items li.msg'),"
            " (li) => Number(li.id.slice(2))))"
        )
    )


async def _browser_scenario(page: Page, rt: Runtime, inbox_id: int) -> None:
    based_on = page.locator("#composer-based-on")
    timeline = page.locator("#timeline-items li.msg")
    await expect(based_on).to_have_value(str(await _newest_id(page)))

    # While the composer is empty, based_on follows messages arriving live.
    await write_in(rt, inbox_id, "maria@example.test", "Any news?", "s-1")
    await expect(timeline).to_have_count(2, timeout=LIVE_TIMEOUT_MS)
    seen = await _newest_id(page)
    await expect(based_on).to_have_value(str(seen))

    # From the first keystroke it stays where the draft began.
    await page.locator("#composer-text").fill("It ships tomorrow.")
    await write_in(rt, inbox_id, "maria@example.test", "Never mind, cancel it!", "s-2")
    await expect(timeline).to_have_count(3, timeout=LIVE_TIMEOUT_MS)
    await expect(based_on).to_have_value(str(seen))

    # Sending is refused: the prompt shows, the text stays, the base moves on.
    await page.get_by_role("button", name="Send reply").click()
    prompt = page.locator("#composer-stale")
    await expect(prompt).to_contain_text("New activity since you started")
    await expect(page.locator("#composer-text")).to_have_value("It ships tomorrow.")
    await expect(based_on).to_have_value(str(await _newest_id(page)))
    await expect(timeline.filter(has_text="Never mind, cancel it!")).to_have_count(1)
    await expect(timeline).to_have_count(3)

    # Reviewed: edit and send again, and it goes through.
    await page.locator("#composer-text").fill("Cancelled, refund on its way.")
    await page.get_by_role("button", name="Send reply").click()
    await expect(timeline.filter(has_text="Cancelled, refund on its way.")).to_have_count(1)
    await expect(page.locator("#composer-text")).to_have_value("")
    await expect(prompt).to_have_count(1)
    await expect(prompt).to_be_empty()
