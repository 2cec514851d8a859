"""Seeded databases per backend and scale, cached under bench/data/.

The schema comes from the real migrations; agents, teams, inboxes and access
grants come from the real actions (so the API token and the visibility rules
are the app's own); the bulk rows are loaded raw (seed_sqlite / seed_postgres).
A JSON manifest beside the data says what was seeded and holds the token.

    python -m bench.seed --backend sqlite --scales 10k,1M [--reseed]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Literal

from bench import seed_postgres, seed_sqlite
from bench.progress import Timer, say
from bench.shape import (
    INBOXES,
    SHAPE_VERSION,
    TEAM_SIZES,
    Plan,
    Realm,
    Scale,
    build_plan,
    parse_scale,
)
from inbox.config import Settings, load_settings

Backend = Literal["sqlite", "postgres"]
BACKENDS: tuple[Backend, ...] = ("sqlite", "postgres")

BENCH_DIR = Path(__file__).resolve().parent
DATA_DIR = BENCH_DIR / "data"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432"
SECRET_KEY = "bench-secret-key-not-for-production"


@dataclass(frozen=True)
class Target:
    """Where one backend's database for one scale lives."""

    backend: Backend
    scale: Scale
    pg_server: str = DEFAULT_PG

    @property
    def key(self) -> str:
        return f"{self.backend}-{self.scale.label}"

    @property
    def sqlite_path(self) -> Path:
        return DATA_DIR / f"{self.key}.sqlite3"

    @property
    def pg_database(self) -> str:
        return f"inbox_bench_{self.scale.label.lower()}"

    @property
    def raw_dsn(self) -> str:
        """For asyncpg / sqlite3 directly."""
        if self.backend == "sqlite":
            return str(self.sqlite_path)
        return f"{self.pg_server}/{self.pg_database}"

    @property
    def app_url(self) -> str:
        """INBOX_DATABASE_URL for the app."""
        if self.backend == "sqlite":
            return f"sqlite+aiosqlite:///{self.sqlite_path}"
        return "postgresql+asyncpg://" + self.raw_dsn.split("://", 1)[1]

    @property
    def manifest_path(self) -> Path:
        return DATA_DIR / f"{self.key}.json"


@dataclass
class Manifest:
    backend: str
    scale: str
    messages: int
    shape_version: int
    token: str
    agent_id: int
    inbox_ids: list[int]
    heavy_customer_ids: list[int]
    typical_customer_ids: list[int]
    counts: dict[str, int]
    seed_seconds: float
    seeded_at: str

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path) -> Manifest | None:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None


def app_settings(database_url: str) -> Settings:
    """The settings the benchmarked server gets, built the way the app builds them."""
    env = {"INBOX_DATABASE_URL": database_url, "INBOX_DATA_DIR": str(DATA_DIR / "app")}
    return replace(load_settings(env), secret_key=SECRET_KEY)


async def _create_realm(database_url: str) -> tuple[Realm, str, int]:
    """People, teams and inboxes through the actions; returns the bench agent's token."""
    from inbox.actions.agents import do_create_agent, do_create_team
    from inbox.actions.inboxes import do_create_inbox
    from inbox.models import ChannelKind, Role
    from inbox.runtime import create_runtime

    rt = create_runtime(app_settings(database_url))
    try:
        # The reader is an ordinary agent in both teams, so every request goes
        # through the team-based visibility rules rather than the admin shortcut.
        reader = await do_create_agent(
            rt, None, email="reader@bench.example", name="Bench Reader", role=Role.AGENT
        )
        agents_by_team: dict[str, list[int]] = {}
        team_ids: dict[str, int] = {}
        for team, size in TEAM_SIZES.items():
            members = []
            for i in range(size):
                created = await do_create_agent(
                    rt, None, email=f"{team.lower()}{i}@bench.example", name=f"{team} Agent {i}"
                )
                members.append(created.agent.id)
            agents_by_team[team] = members
            created_team = await do_create_team(
                rt, None, name=team, member_ids=[*members, reader.agent.id]
            )
            team_ids[team] = created_team.id
        inbox_ids = []
        for spec in INBOXES:
            inbox = await do_create_inbox(
                rt,
                None,
                name=spec.name,
                channel=ChannelKind(spec.channel),
                team_ids=[team_ids[spec.team]],
            )
            inbox_ids.append(inbox.id)
        return Realm(inbox_ids, team_ids, agents_by_team), reader.api_token, reader.agent.id
    finally:
        await rt.close()


def _typical_customers(plan: Plan, count: int = 200) -> list[int]:
    """Customers with an ordinary history (2 to 60 messages), a fixed sample."""
    heavy = set(plan.heavy_customer_ids)
    pool = sorted(
        cid
        for cid, n in plan.message_count_by_customer.items()
        if 2 <= n <= 60 and cid not in heavy
    )
    return sorted(random.Random(plan.scale.messages).sample(pool, min(count, len(pool))))


def _remove_sqlite_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def _is_cached(target: Target) -> Manifest | None:
    manifest = Manifest.load(target.manifest_path)
    if manifest is None or manifest.shape_version != SHAPE_VERSION:
        return None
    if manifest.messages != target.scale.messages:
        return None
    if target.backend == "sqlite":
        if not target.sqlite_path.exists():
            return None
        found: int | None = await asyncio.to_thread(seed_sqlite.message_count, target.sqlite_path)
    else:
        found = await seed_postgres.message_count(target.raw_dsn)
    return manifest if found == target.scale.messages else None


async def ensure_seeded(target: Target, *, reseed: bool = False) -> Manifest:
    if not reseed and (cached := await _is_cached(target)):
        say(f"{target.key}: using the cached database ({cached.seed_seconds:.0f} s to seed)")
        return cached
    from inbox.migrations import upgrade

    DATA_DIR.mkdir(parents=True, exist_ok=True)
    say(f"{target.key}: seeding {target.scale.messages:,} messages")
    started = time.perf_counter()
    if target.backend == "sqlite":
        await asyncio.to_thread(_remove_sqlite_files, target.sqlite_path)
    else:
        await seed_postgres.recreate_database(f"{target.pg_server}/postgres", target.pg_database)
    with Timer("migrations"):
        # upgrade() runs its own event loop, so it needs a thread of its own.
        await asyncio.to_thread(upgrade, target.app_url)
    with Timer("agents, teams and inboxes through the actions"):
        realm, token, agent_id = await _create_realm(target.app_url)
    with Timer("planning rows"):
        plan = build_plan(target.scale, realm)
    with Timer("bulk load"):
        if target.backend == "sqlite":
            counts = await asyncio.to_thread(seed_sqlite.load, target.sqlite_path, plan)
        else:
            counts = await seed_postgres.load(target.raw_dsn, plan)
    elapsed = time.perf_counter() - started
    manifest = Manifest(
        backend=target.backend,
        scale=target.scale.label,
        messages=target.scale.messages,
        shape_version=SHAPE_VERSION,
        token=token,
        agent_id=agent_id,
        inbox_ids=realm.inbox_ids,
        heavy_customer_ids=plan.heavy_customer_ids,
        typical_customer_ids=_typical_customers(plan),
        counts=counts,
        seed_seconds=round(elapsed, 1),
        seeded_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    manifest.save(target.manifest_path)
    say(f"{target.key}: seeded in {elapsed:.0f} s: {counts}")
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=BACKENDS, required=True)
    parser.add_argument("--scales", default="10k,1M")
    parser.add_argument("--reseed", action="store_true", help="rebuild even if cached")
    parser.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL server URL, no database")
    args = parser.parse_args()
    for label in args.scales.split(","):
        target = Target(args.backend, parse_scale(label), args.pg)
        asyncio.run(ensure_seeded(target, reseed=args.reseed))


if __name__ == "__main__":
    main()
