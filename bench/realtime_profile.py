"""Where a server's event loop spends its time, from a py-spy sample of it under load.

Optional (`--profile`): py-spy is not a project dependency. Install it
outside the venv, e.g. `pip install --target /tmp/pyspy py-spy`. Sampling
pauses the process briefly, so it runs in its own phase after the measured
ones and never overlaps a figure.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections import Counter
from pathlib import Path

from bench.realtime_infra import DATA_DIR

# A stack belongs to the innermost frame that matches a pattern ("function@file"),
# so a send made from the stream loop counts as sending, not as the loop.
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("websocket send (framing, deflate, transport)", ("WebSocket.send@",)),
    ("frame JSON (model_dump + json.dumps, per socket)", ("to_json@events.py", "dumps@__init__")),
    (
        "feed wait: Feed.next and the stream loop's asyncio.wait",
        # With the tasks Feed.next creates per event, which run at the loop's top.
        ("Feed.next@", "_live@stream.py", "_on_completion@tasks", "Event.wait@", "Queue.get@"),
    ),
    ("hub and Redis: publish, transport, outbox poll", ("Hub.", "LayerTransport.", "PubSub")),
    ("HTTP requests (webhook ingest, claims: ORM, SQL, auth)", ("run_asgi@httptools_impl",)),
    (
        "websocket reads, pings, handshakes",
        (
            "WebSocketsSansIOProtocol.data_received",
            "WebSocketsSansIOProtocol.handle_",
            "websocket_session",
        ),
    ),
)
IDLE_LEAVES = ("Runner.run@", "select@", "_run_once@")


def find_pyspy() -> str | None:
    found = shutil.which("py-spy")
    if found:
        return found
    candidate = Path("/tmp/pyspy/bin/py-spy")
    return str(candidate) if candidate.exists() else None


def _frames(stack: str) -> list[str]:
    out = []
    for frame in stack.split(";"):
        name, _, where = frame.partition(" (")
        out.append(f"{name}@{where.split(':')[0].rsplit('/', 1)[-1]}")
    return out


def _category(frames: list[str]) -> str:
    for frame in reversed(frames):
        for label, patterns in CATEGORIES:
            if any(p in frame for p in patterns):
                return label
    return "other"


def categorise(raw_path: Path) -> dict[str, float]:
    """Share of the event loop's busy samples per category (worker threads left out)."""
    counts: Counter[str] = Counter()
    for line in raw_path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit() or "_connection_worker_thread" in stack:
            continue  # aiosqlite's thread: database time shows as waiting in the loop
        frames = _frames(stack)
        if frames and frames[-1].startswith(IDLE_LEAVES):
            counts["idle"] += int(n)
            continue
        counts[_category(frames)] += int(n)
    busy = sum(v for k, v in counts.items() if k != "idle")
    if not busy:
        return {}
    shares = {k: round(v / busy, 3) for k, v in counts.most_common() if k != "idle"}
    shares["busy_samples"] = busy
    return shares


async def profile(pyspy: str, pid: int, seconds: int, name: str) -> dict[str, float]:
    out = DATA_DIR / f"profile-{name}.txt"
    proc = await asyncio.create_subprocess_exec(
        pyspy,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(seconds),
        "--rate",
        "200",
        "--format",
        "raw",
        "--output",
        str(out),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await asyncio.wait_for(proc.wait(), seconds + 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return categorise(out) if out.exists() else {}
