"""The chat widget in a real Chromium, on another site's page, talking to an agent.

Two browser contexts: a visitor on a host page served from another origin
(which embeds the widget with its script tag), and Ana signed in to the app.
Messages and typing go both ways, live; an agent's reply full of markup is
shown as text, never run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Page, async_playwright, expect
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from inbox.runtime import Runtime
from tests.chat_support import chat_inbox
from tests.conftest import PASSWORD, World
from tests.live import serve
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, require_chromium
from tests.test_browser_live import live, watch_socket

XSS = '<img src=x onerror="window.__xss = 1">'


def host_site(app_url: str, key: str) -> Starlette:
    """A shop's page, on its own origin, that embeds the widget."""

    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse(
            "<!doctype html><html><head><title>Shop</title>"
            # The host's own styles must not reach into the widget.
            "<style>button { background: red !important; font-size: 40px }</style></head>"
            "<body><h1>Our shop</h1>"
            f'<script src="{app_url}/chat/widget.js" data-inbox="{key}"'
            ' data-user-name="Maria" async></script></body></html>'
        )

    async def no_icon(request: Request) -> Response:
        return Response(status_code=204)

    return Starlette(routes=[Route("/", page), Route("/favicon.ico", no_icon)])


@pytest.fixture
async def app_url(app: Starlette) -> AsyncIterator[str]:
    async with serve(app) as url:
        yield url


async def test_a_visitor_and_an_agent_chat_live_in_real_browsers(
    app_url: str, rt: Runtime, world: World
) -> None:
    require_chromium()
    chat = await chat_inbox(rt, world)
    problems: list[str] = []
    site = host_site(app_url, chat.inbox.config["public_key"])
    async with serve(site) as shop_url, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            agent = await (await browser.new_context()).new_page()
            agent.set_default_timeout(6000)
            agent.on("pageerror", lambda exc: problems.append(f"agent: {exc}"))
            await watch_socket(agent)
            await agent.goto(f"{app_url}/login")
            await agent.get_by_label("Email").fill("ana@example.test")
            await agent.get_by_label("Password").fill(PASSWORD)
            await agent.get_by_role("button", name="Sign in").click()
            await expect(agent).to_have_url(f"{app_url}/")

            visitor = await (
                await browser.new_context(viewport={"width": 900, "height": 700})
            ).new_page()
            visitor.set_default_timeout(6000)
            visitor.on("pageerror", lambda exc: problems.append(f"visitor: {exc}"))
            visitor.on(
                "console",
                lambda m: problems.append(f"visitor: {m.text}") if m.type == "error" else None,
            )
            await visitor.goto(shop_url)
            await _scenario(agent, visitor)
        finally:
            await browser.close()
    assert problems == []


async def _scenario(agent: Page, visitor: Page) -> None:
    launcher = visitor.locator(".launcher")
    await launcher.click()
    status = visitor.locator(".status")
    await expect(status).to_have_text("We're here to help.")
    # The host page's red, 40px buttons stop at the shadow root.
    size = await launcher.evaluate("b => getComputedStyle(b).fontSize")
    assert size == "14px"

    box = visitor.get_by_label("Message")
    await box.fill("Hello, where is my <b>parcel</b>?")
    await box.press("Enter")
    await expect(visitor.locator(".msg.mine")).to_have_text("Hello, where is my <b>parcel</b>?")

    # Ana's list shows the new chat live; she opens it.
    row = agent.locator(".conv-row", has_text="where is my").first
    await expect(row).to_be_visible()
    await row.locator("a").first.click()
    await expect(agent.locator("#timeline-items")).to_contain_text(
        "Hello, where is my <b>parcel</b>?"
    )
    # Typing is sent to the agents on the chat's page as it happens, never
    # replayed: Ana's page must be connected before Maria types.
    await live(agent)

    # Typing, both ways.
    await box.fill("One more thing")
    await expect(agent.locator("#presence")).to_contain_text("Maria is typing in the chat…")
    await agent.locator("#composer-text").fill("Let me check")
    await expect(visitor.locator(".typing")).to_have_text("Support is typing…")

    # Her reply full of markup arrives as text.
    await agent.locator("#composer-text").fill(f"Found it! {XSS}")
    await agent.get_by_role("button", name="Send reply").click()
    theirs = visitor.locator(".msg.theirs")
    await expect(theirs).to_have_text(f"AnaFound it! {XSS}")
    await expect(visitor.locator(".typing")).to_have_text("")
    assert await visitor.locator("[data-inbox-chat] img").count() == 0
    assert await visitor.evaluate("window.__xss") is None

    await box.press("Enter")
    await expect(agent.locator("#timeline-items")).to_contain_text("One more thing")
    await visitor.screenshot(path=str(SCREENSHOTS / "live-chat-widget.png"))

    # A reload continues the same conversation.
    await visitor.reload()
    await visitor.locator(".launcher").click()
    await expect(visitor.locator(".msg")).to_have_count(3)
