"""A fresh database for each realtime setup: migrated, then seeded through the actions.

Agents, their team, and the API inbox with its signing secret come from the
real actions, so tokens, audiences and visibility are the app's own. Agents
get no password (tokens only), which keeps seeding fast.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]

from bench.realtime_infra import DATA_DIR, SECRET_KEY
from inbox.actions.agents import do_create_agent, do_create_team
from inbox.actions.inboxes import do_create_inbox
from inbox.config import Settings
from inbox.migrations import upgrade
from inbox.models import ChannelKind, Role
from inbox.runtime import create_runtime

SIGNING_SECRET = "whsec_realtime_bench_not_for_production"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/rt_bench"


@dataclass(frozen=True)
class Seeded:
    database_url: str  # for the app (SQLAlchemy, async driver)
    raw: str  # the same database as a SQLite path or an asyncpg DSN
    inbox_id: int
    secret: str
    agent_ids: list[int]
    tokens: list[str]
    telegram_inbox_id: int | None = None  # with prepare(telegram_secret=...)


def sqlite_path(name: str) -> Path:
    return DATA_DIR / f"{name}.sqlite3"


def remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def reset_postgres(dsn: str) -> None:
    """Empty the scratch database (its public schema only; never another database)."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public")
    finally:
        await conn.close()


async def ensure_database(dsn: str) -> None:
    """Create the scratch database when it is missing (never touches an existing one)."""
    server, name = dsn.rsplit("/", 1)
    try:
        conn = await asyncpg.connect(dsn)
    except asyncpg.InvalidCatalogNameError:
        admin = await asyncpg.connect(f"{server}/postgres")
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
    else:
        await conn.close()


async def prepare(
    backend: str, agents: int, *, pg_dsn: str, name: str, telegram_secret: str | None = None
) -> Seeded:
    """A fresh app database: the SQLite file `name`, or the scratch PostgreSQL `pg_dsn`.

    With `telegram_secret`, also a Telegram inbox for the same team.
    """
    if backend == "sqlite":
        path = sqlite_path(name)
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        remove_sqlite(path)
        url, raw = f"sqlite+aiosqlite:///{path}", str(path)
    else:
        await ensure_database(pg_dsn)
        await reset_postgres(pg_dsn)
        url, raw = "postgresql+asyncpg://" + pg_dsn.split("://", 1)[1], pg_dsn
    await asyncio.to_thread(upgrade, url)
    settings = Settings(
        database_url=url,
        redis_url=None,
        channel_layer="pubsub",
        secret_key=SECRET_KEY,
        data_dir=DATA_DIR / "app",
        secure_cookies=False,
        allowed_origins=(),
    )
    rt = create_runtime(settings)
    try:
        created = [
            await do_create_agent(
                rt, None, email=f"agent{n}@bench.test", name=f"Agent {n}", role=Role.AGENT
            )
            for n in range(agents)
        ]
        team = await do_create_team(
            rt, None, name="Support", member_ids=[c.agent.id for c in created]
        )
        inbox = await do_create_inbox(
            rt,
            None,
            name="App messages",
            channel=ChannelKind.API,
            team_ids=[team.id],
            secrets={"signing_secret": SIGNING_SECRET},
        )
        telegram = None
        if telegram_secret is not None:
            telegram = await do_create_inbox(
                rt,
                None,
                name="Telegram bot",
                channel=ChannelKind.TELEGRAM,
                team_ids=[team.id],
                secrets={"secret_token": telegram_secret},
            )
    finally:
        await rt.close()
    return Seeded(
        database_url=url,
        raw=raw,
        inbox_id=inbox.id,
        secret=SIGNING_SECRET,
        agent_ids=[c.agent.id for c in created],
        tokens=[c.api_token for c in created],
        telegram_inbox_id=telegram.id if telegram is not None else None,
    )
