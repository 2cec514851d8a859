"""The agent UI in a real Chromium against the real app served by uvicorn.

Uses Debian's /usr/bin/chromium (never a downloaded browser). Without it the
test skips, except under CI=true, where a missing browser fails the run.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from playwright.async_api import ConsoleMessage, Page, Response, async_playwright, expect

from inbox.actions.agents import do_create_agent, do_create_team
from inbox.actions.conversations import do_claim_conversation
from inbox.actions.customers import do_add_customer_note, do_add_purchase, do_create_customer
from inbox.actions.inboxes import do_create_inbox
from inbox.channels.base import InboundMessage
from inbox.channels.ingest import ingest
from inbox.config import load_settings
from inbox.models import ChannelKind, Role, utcnow
from inbox.profiles.identities import IdentityRef, ref
from inbox.runtime import create_runtime
from tests.live import free_port, migrated_app_env

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
PASSWORD = "browser-test-passphrase"


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is missing: apt-get install -y chromium"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


async def settled(page: Page) -> None:
    """htmx wires up swapped-in elements only when it settles (~20 ms after the swap)."""
    await page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
    )


async def screenshot(page: Page, name: str) -> None:
    # Hiding the caret leaves style="" on elements; htmx's history snapshot would
    # later restore it and trip the CSP, an error no real visitor could cause.
    await page.screenshot(path=str(SCREENSHOTS / name), caret="initial")


@dataclass(frozen=True)
class Seeded:
    agent_email: str
    agent_name: str
    conversation_id: int
    email_text: str
    chat_text: str


async def seed(env: dict[str, str]) -> Seeded:
    """A small team and a customer who wrote by email and then by chat."""
    rt = create_runtime(load_settings(env))
    try:
        ana = (
            await do_create_agent(
                rt, None, email="ana@example.test", name="Ana Berg", password=PASSWORD
            )
        ).agent
        ben = (
            await do_create_agent(
                rt, None, email="ben@example.test", name="Ben Ortiz", role=Role.LEAD
            )
        ).agent
        team = await do_create_team(rt, None, name="Support", member_ids=[ana.id, ben.id])
        email_inbox = await do_create_inbox(
            rt, None, name="Support email", channel=ChannelKind.EMAIL, team_ids=[team.id]
        )
        chat_inbox = await do_create_inbox(
            rt, None, name="Website chat", channel=ChannelKind.LIVE_CHAT, team_ids=[team.id]
        )
        now = utcnow()

        async def receive(
            inbox_id: int,
            ext: str,
            who: tuple[IdentityRef, ...],
            text: str,
            minutes_ago: int,
            *,
            name: str = "",
            subject: str = "",
        ) -> tuple[int, int]:
            received = await ingest(
                rt,
                InboundMessage(
                    inbox_id=inbox_id,
                    external_id=ext,
                    identities=who,
                    text=text,
                    sender_name=name,
                    subject=subject,
                    received_at=now - timedelta(minutes=minutes_ago),
                ),
            )
            return received.message.conversation_id, received.message.customer_id

        maria_email = ref("email", "maria.lopez@example.test")
        maria = await do_create_customer(
            rt,
            None,
            name="Maria Lopez",
            identities=[maria_email, ref("phone", "+34 612 345 678")],
            attributes={"plan": "Business", "country": "Spain"},
            tags=["vip"],
        )
        email_text = "Hello, my order #4471 still hasn't arrived. Could you check where it is?"
        chat_text = "Hi again! Any update on order #4471? I wrote by email this morning."
        conv_id, _ = await receive(
            email_inbox.id, "e-1", (maria_email,), email_text, 95, subject="Order #4471 missing"
        )
        await receive(
            chat_inbox.id, "c-1", (ref("live_chat", "visitor-81f2"), maria_email), chat_text, 12
        )
        await do_add_purchase(
            rt,
            None,
            maria.id,
            reference="#4471",
            amount=189.9,
            currency="EUR",
            description="Standing desk",
            purchased_at=now - timedelta(days=6),
        )
        await do_add_customer_note(rt, ben, maria.id, "Prefers email for anything order related.")
        others = [
            ("Tom Becker", "tom@example.test", "Invoice copy for March", 30, email_inbox.id),
            ("Priya Shah", "priya@example.test", "Can I change my delivery address?", 48, None),
            ("Yuki Tanaka", "yuki@example.test", "Refund for a damaged lamp", 180, email_inbox.id),
            ("Lena Fischer", "lena@example.test", "Do you ship to Norway?", 300, None),
        ]
        for n, (name, address, text, minutes, inbox_id) in enumerate(others):
            if inbox_id is None:
                who: tuple[IdentityRef, ...] = (ref("live_chat", f"visitor-{n}"),)
                other, _ = await receive(chat_inbox.id, f"o-{n}", who, text, minutes, name=name)
            else:
                who = (ref("email", address),)
                other, _ = await receive(
                    inbox_id, f"o-{n}", who, text, minutes, name=name, subject=text
                )
            if name == "Yuki Tanaka":
                await do_claim_conversation(rt, ben, other)
        return Seeded(ana.email, ana.name, conv_id, email_text, chat_text)
    finally:
        await rt.close()


@asynccontextmanager
async def served_app(tmp: Path) -> AsyncIterator[tuple[str, Seeded]]:
    env = await migrated_app_env(tmp)
    seeded = await seed(env)
    port = free_port()
    log = (tmp / "uvicorn.log").open("wb")
    # Output goes to a file: a pipe nobody reads would eventually block the server.
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "uvicorn",
        "inbox.app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(100):
                if server.returncode is not None:
                    break
                try:
                    if (await http.get(f"{base}/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
            else:
                pytest.fail("the app did not start within 5 s")
        assert server.returncode is None, (tmp / "uvicorn.log").read_text()
        yield base, seeded
    finally:
        if server.returncode is None:
            server.terminate()
            try:
                await asyncio.wait_for(server.wait(), 5)
            except TimeoutError:
                server.kill()
                await server.wait()
        log.close()


async def test_agent_signs_in_reads_the_timeline_notes_and_claims(tmp_path: Path) -> None:
    require_chromium()

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    async with served_app(tmp_path) as (base, seeded), async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1366, "height": 860})
            page = await context.new_page()
            page.set_default_timeout(5000)
            problems: list[str] = []

            def on_console(msg: ConsoleMessage) -> None:
                # A CSP violation (inline script or style, eval) is a console error.
                # Failed requests are recorded with their URL by on_response instead.
                if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
                    problems.append(msg.text + " @ " + str(msg.location))

            def on_response(response: Response) -> None:
                if response.status >= 400:
                    problems.append(f"{response.status} {response.request.method} {response.url}")

            page.on("console", on_console)
            page.on("response", on_response)
            page.on("pageerror", lambda exc: problems.append(str(exc)))

            await page.goto(f"{base}/")
            await expect(page).to_have_url(f"{base}/login?next=/")
            await page.get_by_label("Email").fill(seeded.agent_email)
            await page.get_by_label("Password").fill(PASSWORD)
            await page.get_by_role("button", name="Sign in").click()
            await expect(page).to_have_url(f"{base}/")

            rows = page.locator("#conv-list > li.conv-row")
            await expect(rows).to_have_count(6)
            await expect(page.locator(".whoami")).to_contain_text(seeded.agent_name)
            await screenshot(page, "inbox.png")

            # Marks this document; a full page load would lose it.
            await page.evaluate("window.__sameDocument = true")

            # A tab swaps only the listing and pushes its URL.
            await page.locator(".tabs").get_by_role("link", name="Unassigned").click()
            await expect(page).to_have_url(f"{base}/?view=unassigned&status=open")
            await expect(rows).to_have_count(5)
            await expect(page.locator("#conv-list")).not_to_contain_text("Yuki Tanaka")
            await settled(page)
            await page.locator('select[name="status"]').select_option("resolved")
            await expect(page).to_have_url(f"{base}/?view=unassigned&status=resolved&inbox=")
            await expect(page.locator(".empty")).to_contain_text("No conversations match")
            await page.go_back()
            await expect(rows).to_have_count(5)
            assert await page.evaluate("window.__sameDocument === true")

            await page.locator(f'a[href="/conversations/{seeded.conversation_id}"]').click()
            await expect(page).to_have_url(f"{base}/conversations/{seeded.conversation_id}")
            timeline = page.locator("#timeline-items")
            await expect(timeline.locator("li.msg")).to_have_count(2)
            email_item = timeline.locator("li.msg", has_text=seeded.email_text)
            chat_item = timeline.locator("li.msg", has_text=seeded.chat_text)
            await expect(email_item.locator(".channel")).to_have_text("Email")
            await expect(chat_item.locator(".channel")).to_have_text("Live chat")
            await expect(page.locator("#profile")).to_contain_text("maria.lopez@example.test")

            await page.evaluate("window.__sameDocument = true")
            # The server's 400 lands in the flash area, not in the timeline.
            await page.locator("#composer-text").fill("   ")
            await page.get_by_role("button", name="Add note").click()
            await expect(page.locator("#flash")).to_contain_text("the message is empty")
            await expect(timeline.locator("li.msg")).to_have_count(2)
            note = "Checked with the warehouse: parcel left on Monday."
            await page.locator("#composer-text").fill(note)
            await page.get_by_role("button", name="Add note").click()
            added = timeline.locator("li.msg-note", has_text=note)
            await expect(added).to_be_visible()
            await expect(added).to_contain_text("Internal note")
            await expect(page.locator("#composer-text")).to_have_value("")
            await expect(page.locator("#flash")).to_be_empty()
            assert await page.evaluate("window.__sameDocument === true")

            await expect(page.locator("#assignee-name")).to_have_text("Unassigned")
            await page.get_by_role("button", name="Claim").click()
            await expect(page.locator("#assignee-name")).to_have_text(seeded.agent_name)
            await expect(page.get_by_role("button", name="Release")).to_be_visible()
            assert await page.evaluate("window.__sameDocument === true")
            await screenshot(page, "conversation.png")

            # Only the empty note, refused on purpose above.
            expected = [f"400 POST {base}/conversations/{seeded.conversation_id}/notes"]
            assert problems == expected, "\n".join(problems)
        finally:
            await browser.close()
