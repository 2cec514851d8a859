"""The real app under `inbox serve --no-migrate`, as a subprocess on a free port.

The server gets its own process group, so stopping it also stops the
uvicorn worker processes it forked; it is always stopped, even on errors.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from bench.cpu import group_cpu
from bench.seed import DATA_DIR, SECRET_KEY

_START_TIMEOUT = 60.0
_STOP_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _command(port: int, workers: int) -> list[str]:
    script = Path(sys.executable).with_name("inbox")
    base = [str(script)] if script.exists() else [sys.executable, "-m", "inbox.cli"]
    return [
        *base,
        "serve",
        "--no-migrate",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


@dataclass(frozen=True)
class Server:
    base_url: str
    pid: int

    def cpu_seconds(self) -> float:
        """CPU of uvicorn and its workers: the server runs in its own process group."""
        return group_cpu(self.pid)


@asynccontextmanager
async def serving(database_url: str, workers: int, log_name: str) -> AsyncIterator[Server]:
    """Start the app against `database_url`; yield it; stop it."""
    port = free_port()
    env = {
        **os.environ,
        "INBOX_DATABASE_URL": database_url,
        "INBOX_SECRET_KEY": SECRET_KEY,
        "INBOX_DATA_DIR": str(DATA_DIR / "app"),
        "WEB_CONCURRENCY": str(workers),
    }
    env.pop("INBOX_REDIS_URL", None)
    log_path = DATA_DIR / f"{log_name}.log"
    base_url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        # The access log goes to a file, not a pipe nobody reads, so the
        # server never blocks on a full pipe.
        proc = _spawn(_command(port, workers), env, log)
        try:
            await _wait_ready(proc, base_url, log_path)
            yield Server(base_url, proc.pid)
        finally:
            _stop(proc)


def _spawn(command: list[str], env: dict[str, str], log: IO[bytes]) -> subprocess.Popen[bytes]:
    # Its own session (process group), so _stop reaches the uvicorn workers too.
    return subprocess.Popen(
        command,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


async def _wait_ready(proc: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    async with httpx.AsyncClient(base_url=base_url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}; see {log_path}")
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"server not ready after {_START_TIMEOUT:.0f} s; see {log_path}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass
