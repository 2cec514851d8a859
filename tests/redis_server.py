"""A private, throwaway redis-server for tests that stop and restart Redis.

Tests that kill Redis can't share the machine's server (127.0.0.1:6379) with
anything else, and two test runs sharing one server would hear each other's
events: pub/sub channels ignore the database number. So each test starts its
own `redis-server` on a free loopback port, without persistence, in the
foreground (so the PID we hold is the server's, not a daemonising parent's).

`require_redis` applies the suite's rule for missing services: skip with a
reason locally, fail under CI=true.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.live import free_port

MACHINE_REDIS = ("127.0.0.1", 6379)


def _parent_death_signal() -> Callable[[], None] | None:
    """A preexec_fn that has Linux SIGKILL the child when this process dies.

    `finally` blocks stop the servers a test starts, but a run killed from
    outside (a CI timeout's SIGTERM) never reaches them, and a shared
    machine would collect orphaned servers. Resolved here, in the parent:
    the child only makes the one system call before it execs.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def set_it() -> None:
        prctl(pr_set_pdeathsig, signal.SIGKILL)

    return set_it


# For every subprocess these tests start (redis-server and the app processes).
DIE_WITH_PARENT = _parent_death_signal()


def missing(reason: str) -> None:
    """Skip locally; under CI a missing service is a failure, never a skip."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def redis_server_binary() -> str | None:
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )


def ping(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when a Redis answers PING there (a raw socket: no client pool to clean up)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def require_redis() -> None:
    """The machine has what these tests need: redis-server to run privately.

    The machine's own Redis is checked too, because CI promises one; without
    the binary we can't stop and restart a server, which is the point here.
    """
    if redis_server_binary() is None:
        where = "127.0.0.1:6379 answers" if ping(*MACHINE_REDIS) else "nor does 127.0.0.1:6379"
        missing(f"redis-server is not installed ({where}): apt-get install -y redis-server")


class RedisServer:
    """One redis-server process on a fixed loopback port that can be killed and restarted."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        binary = redis_server_binary()
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.binary = binary
        self.port = port or free_port()
        self.workdir = workdir
        self.log_path = workdir / f"redis-{self.port}.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    async def start(self, within: float = 5.0) -> None:
        """Start (or restart, on the same port) and wait until it answers PING."""
        assert not self.running, "already running"
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            # Output goes to a file: a pipe nobody reads would eventually block
            # it. Popen, not asyncio's: stop() and freeze() must work from
            # synchronous cleanup too, and starting a process doesn't block.
            self._proc = subprocess.Popen(  # noqa: ASYNC220
                [
                    self.binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                    "--dir",
                    str(self.workdir),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=DIE_WITH_PARENT,
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            if self._proc.poll() is not None:
                break
            if await asyncio.to_thread(ping, "127.0.0.1", self.port, 0.2):
                return
            await asyncio.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server on port {self.port} did not start:\n{self.log_tail()}")

    def stop(self) -> None:
        """Kill it outright, the way a crash or an OOM kill would; wait for it to go."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.kill()  # SIGKILL works on a stopped (frozen) process too
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)

    def freeze(self) -> None:
        """SIGSTOP: connections stay open and connects still complete (the
        kernel answers them) but nothing replies, like a hung or partitioned
        server. Unlike a dead one, this fails no request quickly."""
        assert self._proc is not None and self._proc.poll() is None
        self._proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self._proc is not None
        self._proc.send_signal(signal.SIGCONT)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
