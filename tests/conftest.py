"""Shared fixtures: a migrated database (SQLite or PostgreSQL), a runtime, an app, a team.

Set INBOX_TEST_DATABASE_URL to run the suite against PostgreSQL. Under CI=true
an unreachable database fails the run; it never skips.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from inbox.channels.email.smtp_send import SmtpSettings
from inbox.config import Settings, normalise_database_url
from inbox.db import make_engine
from inbox.models import Base
from inbox.runtime import Runtime, create_runtime
from tests.smtp_server import Recorder, smtp_server

_TMP = Path(tempfile.mkdtemp(prefix="inbox-tests-"))
DATABASE_URL = normalise_database_url(
    os.environ.get("INBOX_TEST_DATABASE_URL") or f"sqlite+aiosqlite:///{_TMP / 'test.sqlite3'}"
)
IS_POSTGRES = DATABASE_URL.startswith("postgresql")


@pytest.fixture(autouse=True, scope="session")
def cheap_password_hashing() -> Iterator[None]:
    """Argon2 with the cheapest parameters: still the real hash, but the suite
    creates hundreds of agents and production-strength hashing dominated its time."""
    from argon2 import PasswordHasher

    import inbox.auth

    original = inbox.auth._hasher
    inbox.auth._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    try:
        yield
    finally:
        inbox.auth._hasher = original


def pytest_report_header() -> str:
    return f"database: {DATABASE_URL.split('@')[-1]}"


async def _prepare_database() -> None:
    if IS_POSTGRES:
        engine = make_engine(DATABASE_URL)
        try:
            async with engine.begin() as conn:
                await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
                await conn.execute(text("CREATE SCHEMA public"))
        except OSError as exc:
            raise pytest.UsageError(f"PostgreSQL at {DATABASE_URL} is unreachable: {exc}") from exc
        finally:
            await engine.dispose()
    from inbox.migrations import upgrade

    await asyncio.to_thread(upgrade, DATABASE_URL)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    asyncio.run(_prepare_database())
    yield DATABASE_URL


def make_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "redis_url": None,
        "channel_layer": "pubsub",
        "secret_key": "test-secret-key-not-for-production",
        "data_dir": _TMP,
        "secure_cookies": False,
        "allowed_origins": (),
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


async def _empty_tables(rt: Runtime) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    async with rt.engine.begin() as conn:
        if IS_POSTGRES:
            await conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                await conn.execute(text(f"DELETE FROM {name}"))
            await conn.execute(text("DELETE FROM sqlite_sequence"))


@pytest.fixture
async def rt(database_url: str) -> AsyncIterator[Runtime]:
    runtime = create_runtime(make_settings(database_url))
    await _empty_tables(runtime)
    try:
        yield runtime
    finally:
        await runtime.close()


@pytest.fixture
async def app(rt: Runtime):  # type: ignore[no-untyped-def]
    from inbox.app import create_app

    return create_app(runtime=rt)


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


PASSWORD = "correct horse battery"


@dataclass
class World:
    """A small team: who can see what is the point of most tests."""

    admin: object
    lead: object
    ana: object  # agent in the support team, sees email + chat
    ben: object  # agent in the support team
    olga: object  # agent in the sales team only, sees the sales inbox
    tokens: dict[str, str]
    support: object
    sales: object
    email_inbox: object
    chat_inbox: object
    sales_inbox: object


@pytest.fixture
async def world(rt: Runtime) -> World:
    from inbox.actions.agents import do_create_agent, do_create_team
    from inbox.actions.inboxes import do_create_inbox
    from inbox.models import ChannelKind, Role

    tokens: dict[str, str] = {}
    people = {}
    for key, role in [
        ("admin", Role.ADMIN),
        ("lead", Role.LEAD),
        ("ana", Role.AGENT),
        ("ben", Role.AGENT),
        ("olga", Role.AGENT),
    ]:
        created = await do_create_agent(
            rt,
            None,
            email=f"{key}@example.test",
            name=key.capitalize(),
            role=role,
            password=PASSWORD,
        )
        people[key] = created.agent
        tokens[key] = created.api_token
    support = await do_create_team(
        rt,
        None,
        name="Support",
        member_ids=[people["lead"].id, people["ana"].id, people["ben"].id],
    )
    sales = await do_create_team(rt, None, name="Sales", member_ids=[people["olga"].id])
    email_inbox = await do_create_inbox(
        rt,
        None,
        name="Support email",
        channel=ChannelKind.EMAIL,
        team_ids=[support.id],
        config={"address": "help@example.test"},
        secrets={"imap_password": "hunter2-secret"},
    )
    chat_inbox = await do_create_inbox(
        rt, None, name="Website chat", channel=ChannelKind.LIVE_CHAT, team_ids=[support.id]
    )
    sales_inbox = await do_create_inbox(
        rt, None, name="Sales WhatsApp", channel=ChannelKind.WHATSAPP, team_ids=[sales.id]
    )
    return World(
        people["admin"],
        people["lead"],
        people["ana"],
        people["ben"],
        people["olga"],
        tokens,
        support,
        sales,
        email_inbox,
        chat_inbox,
        sales_inbox,
    )


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    """Sign in through the real form; returns the session's CSRF token."""
    page = await client.get("/login")
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    response = await client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token, "next": "/"}
    )
    assert response.status_code == 303, response.text
    return await csrf_of(client)


async def csrf_of(client: httpx.AsyncClient) -> str:
    """The CSRF token the inbox page embeds for htmx (`hx-headers` on <body>)."""
    response = await client.get("/")
    assert response.status_code == 200, response.text
    return response.text.split('"X-CSRF-Token": "', 1)[1].split('"', 1)[0]


@pytest.fixture
def smtp() -> Iterator[tuple[Recorder, SmtpSettings]]:
    """A real SMTP server (aiosmtpd) on loopback, and the settings to reach it."""
    with smtp_server() as server:
        yield server
