"""A real uvicorn server on a loopback port, in the test's own event loop."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import uvicorn
from starlette.applications import Starlette


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def serve(app: Starlette, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Yields the base URL (http://127.0.0.1:PORT, or http://[::1]:PORT) while the app is served."""
    port = free_port(host)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="off",
        log_level="warning",
        ws="websockets-sansio",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            # uvicorn offers no event to wait on.
            while not server.started:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        yield f"http://{f'[{host}]' if ':' in host else host}:{port}"
    finally:
        server.should_exit = True
        await task


async def migrated_app_env(tmp: Path) -> dict[str, str]:
    """Environment for a real `inbox` process on its own migrated SQLite file in `tmp`."""
    env = {
        **os.environ,
        "INBOX_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'inbox.sqlite3'}",
        "INBOX_DATA_DIR": str(tmp),
        "INBOX_SECRET_KEY": "real-process-test-secret-key",
    }
    env.pop("INBOX_REDIS_URL", None)
    migrate = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "inbox.cli", "migrate", env=env, stdout=subprocess.DEVNULL
    )
    assert await migrate.wait() == 0, "inbox migrate failed"
    return env
