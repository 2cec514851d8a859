"""Live updates in a real Chromium: two agents, one server, changes without reloads.

The server is a uvicorn subprocess on a SQLite file; this test writes to the
same file through the actions, as a connector process would. With no Redis,
the server learns of those writes from its outbox poll (every second); what
agents do in their browsers it publishes at once.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright, expect

from inbox.actions.agents import do_create_agent, do_create_team
from inbox.actions.inboxes import do_create_inbox
from inbox.channels.base import InboundMessage
from inbox.channels.ingest import ingest
from inbox.config import load_settings
from inbox.models import ChannelKind
from inbox.profiles.identities import ref
from inbox.runtime import Runtime, create_runtime
from tests.live import free_port, migrated_app_env
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, require_chromium

PASSWORD = "live-test-passphrase"
# The outbox poll is 1 s; leave room for a busy machine.
LIVE_TIMEOUT_MS = 4000


@dataclass
class Server:
    """A uvicorn subprocess that can be stopped and started again on its port."""

    env: dict[str, str]
    port: int
    log: Path
    process: asyncio.subprocess.Process | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        with self.log.open("ab") as log:
            # Output goes to a file: a pipe nobody reads would eventually block it.
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "uvicorn",
                "inbox.app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        async with httpx.AsyncClient() as http:
            for _ in range(200):
                assert self.process.returncode is None, self.log.read_text()
                try:
                    if (await http.get(f"{self.base}/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
        pytest.fail("the app did not start within 10 s")

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.terminate()
        try:
            await asyncio.wait_for(self.process.wait(), 10)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


@asynccontextmanager
async def database(tmp: Path) -> AsyncIterator[tuple[dict[str, str], Runtime]]:
    env = await migrated_app_env(tmp)
    rt = create_runtime(load_settings(env))
    try:
        yield env, rt
    finally:
        await rt.close()


@dataclass(frozen=True)
class Seeded:
    inbox_id: int
    conversation_id: int


async def seed(rt: Runtime) -> Seeded:
    ana = await do_create_agent(
        rt, None, email="ana@example.test", name="Ana Berg", password=PASSWORD
    )
    ben = await do_create_agent(
        rt, None, email="ben@example.test", name="Ben Ortiz", password=PASSWORD
    )
    team = await do_create_team(rt, None, name="Support", member_ids=[ana.agent.id, ben.agent.id])
    inbox = await do_create_inbox(
        rt, None, name="Support email", channel=ChannelKind.EMAIL, team_ids=[team.id]
    )
    received = await write_in(rt, inbox.id, "maria@example.test", "Where is order #4471?", "m-1")
    return Seeded(inbox.id, received)


async def write_in(rt: Runtime, inbox_id: int, email: str, text: str, ext: str) -> int:
    """A customer writes in, stored by this process as a connector would."""
    name = email.split("@", 1)[0].capitalize() + " Example"
    received = await ingest(
        rt,
        InboundMessage(
            inbox_id=inbox_id,
            external_id=ext,
            identities=(ref("email", email),),
            text=text,
            sender_name=name,
            subject=text,
        ),
    )
    return received.message.conversation_id


async def signed_in_page(browser: Browser, base: str, email: str, problems: list[str]) -> Page:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    page.set_default_timeout(5000)

    def on_console(msg: ConsoleMessage) -> None:
        # CSP violations and htmx errors (such as a missing swap target) land here.
        if msg.type == "error":
            problems.append(f"{email}: {msg.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: problems.append(f"{email}: {exc}"))
    await page.goto(f"{base}/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(f"{base}/")
    return page


async def live(page: Page) -> None:
    """Until the page's socket has replayed and reports where it stands."""
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "")
    await page.wait_for_function(
        "() => { const s = document.querySelector('#live-seq');"
        " return s && s.dataset.seq !== undefined && window.__liveOpen === true }"
    )


async def watch_socket(page: Page) -> None:
    # Set before the page's scripts run, so the first wsOpen is seen too.
    await page.add_init_script(
        "document.addEventListener('htmx:wsOpen', (e) => {"
        " window.__liveOpen = true; window.__liveSocket = e.detail.socketWrapper });"
        "document.addEventListener('htmx:wsClose', () => { window.__liveOpen = false });"
    )


async def test_two_agents_see_each_others_work_live(tmp_path: Path) -> None:
    require_chromium()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
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
                    await _scenario(browser, server, rt, seeded)
                finally:
                    await browser.close()
        finally:
            await server.stop()


async def _scenario(browser: Browser, server: Server, rt: Runtime, seeded: Seeded) -> None:
    problems: list[str] = []
    ana = await signed_in_page(browser, server.base, "ana@example.test", problems)
    ben = await signed_in_page(browser, server.base, "ben@example.test", problems)
    for page in (ana, ben):
        await watch_socket(page)
        await page.reload()
        await live(page)
        await expect(page.locator("#conv-list > li.conv-row")).to_have_count(1)

    # A new customer writes in (stored by this process): both lists grow, no reload.
    await ana.evaluate("window.__sameDocument = true")
    new_id = await write_in(rt, seeded.inbox_id, "tom@example.test", "Invoice copy, please", "t-1")
    for page in (ana, ben):
        first = page.locator("#conv-list > li.conv-row").first
        await expect(first).to_have_id(f"conv-{new_id}", timeout=LIVE_TIMEOUT_MS)
        await expect(first).to_contain_text("Tom Example")
        await expect(page.locator("#count-all")).to_have_text("2")
        await expect(page.locator("#count-unassigned")).to_have_text("2")
    assert await ana.evaluate("window.__sameDocument === true")

    # Both open Maria's conversation; she writes again.
    conv_url = f"{server.base}/conversations/{seeded.conversation_id}"
    for page in (ana, ben):
        await page.goto(conv_url)
        await live(page)
    await write_in(rt, seeded.inbox_id, "maria@example.test", "Any news on #4471?", "m-2")
    for page in (ana, ben):
        added = page.locator("#timeline-items li.msg", has_text="Any news on #4471?")
        await expect(added).to_be_visible(timeout=LIVE_TIMEOUT_MS)

    # Ben claims in his browser; Ana's header follows at once.
    await ben.get_by_role("button", name="Claim").click()
    await expect(ben.locator("#assignee-name")).to_have_text("Ben Ortiz")
    await expect(ana.locator("#assignee-name")).to_have_text("Ben Ortiz")
    await expect(ana.get_by_role("button", name="Claim")).to_have_count(0)
    # Ben lets go; Ana claims with the button the socket just gave her (live
    # fragments carry no CSRF field: htmx sends the page's token as a header).
    await ben.get_by_role("button", name="Release").click()
    await expect(ana.locator("#assignee-name")).to_have_text("Unassigned")
    await ana.get_by_role("button", name="Claim").click()
    for page in (ana, ben):
        await expect(page.locator("#assignee-name")).to_have_text("Ana Berg")

    # Ana's own note comes back over her socket too: it must show once.
    note = "Asked the warehouse; parcel left Monday."
    await ana.locator("#composer-text").fill(note)
    await ana.get_by_role("button", name="Add note").click()
    for page in (ana, ben):
        await expect(page.locator("#timeline-items li.msg-note", has_text=note)).to_have_count(1)
    await asyncio.sleep(0.5)  # past the socket's copy, whichever came second
    await expect(ana.locator("#timeline-items li.msg-note", has_text=note)).to_have_count(1)

    # Presence: Ana starts a reply; Ben sees her typing, on the page and in his list.
    await expect(ben.locator("#presence")).to_have_text("Ana Berg is viewing this conversation")
    await ana.locator("#composer-text").press_sequentially("Good news: ")
    await expect(ben.locator("#presence")).to_have_text("Ana Berg is typing here…")
    # caret="initial": hiding the caret leaves style="" on the form's fields,
    # which htmx would later copy over, against the CSP.
    await ben.screenshot(path=str(SCREENSHOTS / "presence.png"), caret="initial")
    # She thinks better of it and hands the case over: the marker goes with the draft.
    await ana.locator("#composer-text").fill("")
    await ana.locator("#composer-text").dispatch_event("input")
    await expect(ben.locator("#presence")).to_have_text("Ana Berg is viewing this conversation")
    await ana.get_by_role("button", name="Release").click()
    await expect(ben.locator("#assignee-name")).to_have_text("Unassigned")

    # Ben drafts a reply; Maria writes again before he sends it. The server
    # refuses the reply he began before her message, and says why.
    await ben.locator("#composer-text").fill("It left on Monday.")
    await write_in(rt, seeded.inbox_id, "maria@example.test", "Wait, I moved house!", "m-4")
    await expect(ben.locator("#timeline-items li.msg", has_text="I moved house")).to_be_visible(
        timeout=LIVE_TIMEOUT_MS
    )
    await ben.get_by_role("button", name="Send reply").click()
    await expect(ben.locator("#composer-stale")).to_contain_text("New activity since you started")
    await expect(ben.locator("#composer-text")).to_have_value("It left on Monday.")
    # Reviewed and rewritten, it goes, claiming the conversation for Ben.
    await ben.locator("#composer-text").fill("Noted your new address; we'll redirect it.")
    await ben.get_by_role("button", name="Send reply").click()
    for page in (ana, ben):
        await expect(page.locator("#assignee-name")).to_have_text("Ben Ortiz")
        sent = page.locator("#timeline-items li.msg", has_text="we'll redirect it")
        await expect(sent).to_have_count(1)
    # The refusal's 409 is an answer, not a script error.
    assert [p for p in problems if "409" not in p] == [], "\n".join(problems)

    # The server goes away: the banner says so, and the page keeps its place.
    # (htmx-ext-ws backs off up to 64 s between attempts; shorten it for the test.)
    await ana.evaluate("htmx.config.wsReconnectDelay = () => 300")
    await server.stop()
    banner = ana.locator("#live-status")
    await expect(banner).to_have_attribute("data-state", "reconnecting")
    await expect(banner.locator(".live-reconnecting")).to_have_text("Reconnecting…")
    await expect(banner.locator(".live-reconnecting")).to_be_visible()
    await ana.screenshot(path=str(SCREENSHOTS / "live.png"))
    # Written while the page was disconnected: replayed from its last seq.
    await write_in(rt, seeded.inbox_id, "maria@example.test", "Hello? Still there?", "m-3")
    await server.start()
    await expect(banner).to_be_hidden(timeout=10_000)
    missed = ana.locator("#timeline-items li.msg", has_text="Hello? Still there?")
    await expect(missed).to_have_count(1, timeout=LIVE_TIMEOUT_MS)
    await expect(ana.locator("#timeline-items li.msg")).to_have_count(6)

    # Resuming from a position the server can't replay (here: one from the
    # future) pushes "Out of date"; the reload link brings the page back.
    await ana.evaluate(
        "document.getElementById('live-seq').dataset.seq = '999999999';"
        " window.__liveSocket.reconnect()"
    )
    await expect(banner).to_have_attribute("data-state", "stale")
    await expect(banner.locator(".live-stale")).to_be_visible()
    await banner.get_by_role("link", name="reload").click()
    await live(ana)
    await expect(banner).to_be_hidden()
    await expect(ana.locator("#timeline-items li.msg")).to_have_count(6)
