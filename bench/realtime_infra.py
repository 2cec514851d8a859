"""Processes the realtime benchmark runs: a private Redis, the app, the baselines.

Every process gets its own session (process group), is tracked by the
`Processes` registry of the run, and is killed in the run's `finally`, so
nothing outlives the benchmark even when it fails halfway.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.cpu import group_cpu
from bench.server import free_port

BENCH_DIR = Path(__file__).resolve().parent
DATA_DIR = BENCH_DIR / "data" / "realtime"
SECRET_KEY = "realtime-bench-secret-key-not-for-production"
_START_TIMEOUT = 60.0


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    base_url: str = ""

    @property
    def pid(self) -> int:
        return self.popen.pid

    def cpu_seconds(self) -> float:
        return group_cpu(self.pid)

    def rss_bytes(self) -> int:
        return group_rss(self.pid)


@dataclass
class Processes:
    """Every process the run started; `stop_all` ends each of them, by its own id."""

    running: list[Proc] = field(default_factory=list)

    def spawn(self, name: str, command: list[str], env: dict[str, str]) -> Proc:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        log_path = DATA_DIR / f"{name}.log"
        with log_path.open("wb") as log:
            # A file, never a pipe nobody reads: a full pipe would stall the server.
            popen = subprocess.Popen(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc = Proc(name, popen, log_path)
        self.running.append(proc)
        return proc

    def stop(self, proc: Proc) -> None:
        _stop(proc.popen)
        if proc in self.running:
            self.running.remove(proc)

    def stop_all(self) -> None:
        for proc in list(self.running):
            self.stop(proc)


def _stop(popen: subprocess.Popen[bytes]) -> None:
    if popen.poll() is not None:
        return
    try:
        os.killpg(popen.pid, signal.SIGTERM)
        popen.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(popen.pid, signal.SIGKILL)
        popen.wait()
    except ProcessLookupError:
        pass


def group_rss(pgid: int) -> int:
    """Resident memory of the live processes in one process group, in bytes."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid:
                continue
            for line in (stat.parent / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except (OSError, IndexError, ValueError):
            continue  # it exited while we looked
    return total


async def wait_http(proc: Proc, path: str = "/healthz") -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    async with httpx.AsyncClient(base_url=proc.base_url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if proc.popen.poll() is not None:
                raise RuntimeError(
                    f"{proc.name} exited ({proc.popen.returncode}); see {proc.log_path}"
                )
            try:
                if (await client.get(path)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{proc.name} not ready after {_START_TIMEOUT:.0f} s; see {proc.log_path}")


def _inbox_command(port: int) -> list[str]:
    script = Path(sys.executable).with_name("inbox")
    base = [str(script)] if script.exists() else [sys.executable, "-m", "inbox.cli"]
    return [*base, "serve", "--no-migrate", "--host", "127.0.0.1", "--port", str(port)]


def app_env(database_url: str, redis_url: str | None, layer: str) -> dict[str, str]:
    env = {
        **os.environ,
        "INBOX_DATABASE_URL": database_url,
        "INBOX_SECRET_KEY": SECRET_KEY,
        "INBOX_DATA_DIR": str(DATA_DIR / "app"),
        "WEB_CONCURRENCY": "1",
    }
    env.pop("INBOX_REDIS_URL", None)
    env.pop("INBOX_CHANNEL_LAYER", None)
    if redis_url:
        # Without Redis the app uses channels' in-process layer whatever this says.
        env["INBOX_REDIS_URL"] = redis_url
        env["INBOX_CHANNEL_LAYER"] = layer
    return env


async def start_app(
    procs: Processes, name: str, database_url: str, redis_url: str | None, layer: str
) -> Proc:
    """One `inbox serve` process (one uvicorn worker) on a free port."""
    port = free_port()
    proc = procs.spawn(name, _inbox_command(port), app_env(database_url, redis_url, layer))
    proc.base_url = f"http://127.0.0.1:{port}"
    await wait_http(proc)
    return proc


async def start_module(procs: Processes, name: str, module: str, *args: str) -> Proc:
    """`python -m bench.<module> --port P ...`, ready when its /healthz answers."""
    port = free_port()
    command = [sys.executable, "-m", module, "--port", str(port), *args]
    env = {**os.environ, "PYTHONPATH": str(BENCH_DIR.parent)}
    proc = procs.spawn(name, command, env)
    proc.base_url = f"http://127.0.0.1:{port}"
    await wait_http(proc)
    return proc


async def start_redis(procs: Processes, name: str = "redis") -> tuple[Proc, str]:
    """A private Redis: no persistence, loopback only, gone when the run ends."""
    port = free_port()
    command = [
        "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    proc = procs.spawn(name, command, dict(os.environ))
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
            return proc, url
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError(f"redis did not start; see {proc.log_path}")


@contextmanager
def more_open_files() -> Iterator[int]:
    """Raise the soft open-file limit to the hard one (children inherit it)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 65536
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, target), hard))
    try:
        yield max(soft, target)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
