"""The migrations build exactly the schema the models describe, up and down."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command

from inbox.migrations import alembic_config, downgrade, upgrade


async def test_migrated_schema_matches_the_models(database_url: str) -> None:
    # `check` raises when autogenerate would emit anything.
    await asyncio.to_thread(command.check, alembic_config(database_url))


async def test_fresh_database_migrates_down_and_up_again(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.sqlite3'}"
    await asyncio.to_thread(upgrade, url)
    await asyncio.to_thread(downgrade, url, "base")
    await asyncio.to_thread(upgrade, url)
    await asyncio.to_thread(command.check, alembic_config(url))
