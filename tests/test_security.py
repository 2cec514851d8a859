"""Cross-cutting protections: CSRF on every unsafe route, sessions, headers, layering."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Route

from inbox.actions.agents import do_deactivate_agent
from inbox.models import AuditEntry, OutboxEvent
from inbox.runtime import Runtime
from tests.conftest import PASSWORD, World, login

ROOT = Path(__file__).resolve().parent.parent


def unsafe_routes(routes: list[BaseRoute], prefix: str = "") -> list[tuple[str, str]]:
    found = []
    for route in routes:
        if isinstance(route, Mount):
            found += unsafe_routes(list(route.routes), prefix + route.path)
        elif isinstance(route, Route):
            for method in sorted((route.methods or set()) - {"GET", "HEAD", "OPTIONS"}):
                # Any integer satisfies an {id:int} parameter for this purpose.
                found.append((method, prefix + re.sub(r"\{[^}]+\}", "1", route.path)))
    return found


async def state_counts(rt: Runtime) -> tuple[int, int]:
    async with rt.read_sessions() as db:
        events = await db.scalar(select(func.count()).select_from(OutboxEvent))
        audit = await db.scalar(select(func.count()).select_from(AuditEntry))
    return int(events or 0), int(audit or 0)


async def test_every_unsafe_route_refuses_a_session_request_without_csrf(
    app: Starlette, client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    await login(client, "admin@example.test")
    # Webhooks authenticate by signature and never read the session (CsrfMiddleware
    # exempts /webhooks/); tests/test_channel_api.py covers them. So does the chat
    # widget's session (its token is in the body): tests/test_live_chat.py.
    routes = [
        r
        for r in unsafe_routes(list(app.routes))
        if not r[1].startswith("/webhooks/") and r[1] != "/chat/session"
    ]
    assert ("POST", "/logout") in routes and len(routes) > 3
    before = await state_counts(rt)
    for method, path in routes:
        for kwargs in ({}, {"data": {"text": "x"}}, {"json": {"text": "x"}}):
            response = await client.request(method, path, **kwargs)  # type: ignore[arg-type]
            assert response.status_code == 403, (method, path, response.status_code)
            assert "CSRF" in response.text
        wrong = await client.request(method, path, headers={"X-CSRF-Token": "forged"})
        assert wrong.status_code == 403, (method, path)
    assert await state_counts(rt) == before
    assert (await client.get("/healthz")).status_code == 200


async def test_login_form_needs_its_csrf_token(client: httpx.AsyncClient, world: World) -> None:
    response = await client.post("/login", data={"email": "ana@example.test", "password": PASSWORD})
    assert response.status_code == 403


async def test_login_never_redirects_off_site(client: httpx.AsyncClient, world: World) -> None:
    page = await client.get("/login")
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil"):
        response = await client.post(
            "/login",
            data={
                "email": "ana@example.test",
                "password": PASSWORD,
                "csrf_token": token,
                "next": target,
            },
        )
        assert response.status_code == 303
        assert not response.headers["location"].startswith(("//", "http")), target
        await client.post("/logout", headers={"X-CSRF-Token": await _token(client)})
        page = await client.get("/login")
        token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


async def _token(client: httpx.AsyncClient) -> str:
    home = await client.get("/")
    return home.text.split('"X-CSRF-Token": "', 1)[1].split('"', 1)[0]


async def test_deactivated_agent_loses_session_and_token_at_once(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    await login(client, "ben@example.test")
    assert (await client.get("/")).status_code == 200
    token = world.tokens["ben"]
    api = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/v1/me", headers=api)).status_code == 200
    await do_deactivate_agent(rt, world.admin, world.ben.id)
    page = await client.get("/")
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    assert (await client.get("/api/v1/me", headers=api)).status_code == 401


async def test_bearer_header_is_never_mixed_with_the_cookie(
    client: httpx.AsyncClient, world: World
) -> None:
    await login(client, "ana@example.test")
    # A bad token next to a good cookie is still a bad token.
    response = await client.get("/api/v1/me", headers={"Authorization": "Bearer inb_wrong"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_pages_carry_security_headers(client: httpx.AsyncClient) -> None:
    response = await client.get("/login")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"


def test_events_are_published_only_from_actions_and_realtime() -> None:
    offenders = []
    for path in (ROOT / "inbox").rglob("*.py"):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(("inbox/actions/", "inbox/realtime/", "inbox/models/")):
            continue
        source = path.read_text()
        if re.search(r"\.(publish|group_send|deliver_local)\(|OutboxEvent\(", source):
            offenders.append(rel)
    assert offenders == []


def test_views_and_connectors_never_write_to_the_database() -> None:
    writers = re.compile(
        r"\.(add|add_all|delete|merge|commit|flush)\(|(?<![.\w])(insert|update|delete)\("
    )
    offenders = []
    for folder in ("inbox/views", "inbox/api", "inbox/channels"):
        for path in (ROOT / folder).rglob("*.py"):
            if writers.search(path.read_text()):
                offenders.append(path.relative_to(ROOT).as_posix())
    assert offenders == []


async def test_password_change_ends_other_sessions(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    from inbox.actions.agents import do_set_password

    await login(client, "ana@example.test")
    await do_set_password(rt, world.ana, world.ana.id, "a brand new passphrase")
    page = await client.get("/")
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    await login(client, "ana@example.test", "a brand new passphrase")
