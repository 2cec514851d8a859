"""Where the app's email sync spends CPU, from a py-spy sample of the benchmark process.

Optional: py-spy is not a project dependency (install it outside the venv,
e.g. `pip install --target /tmp/pyspy py-spy`). py-spy only records threads
that are running, so the shares are of busy samples: the event loop, the
threads `asyncio.to_thread` uses for IMAP and parsing, and aiosqlite's
connection thread. A stack is filed under the innermost frame that matches a
category, so SQLAlchemy called from the ingest action counts as SQLAlchemy.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

# (label, patterns): a pattern matches "function@file" or a path fragment.
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "IMAP client (imaplib, imapclient: reading and parsing responses)",
        ("imaplib.py", "imapclient/"),
    ),
    ("blob store: hashing, writing, fsync", ("blobs.py",)),
    ("HTML sanitising (nh3) and text preview", ("sanitize.py", "nh3")),
    ("quoted-history split (quoting.py)", ("quoting.py",)),
    (
        "stdlib email package: MIME parsing, headers, decoding",
        ("/email/", "quopri", "base64", "encodings/"),
    ),
    (
        "app parser glue (parse.py), auto-reply rules, reply tokens",
        ("parse.py", "auto.py", "tokens.py", "normalise.py"),
    ),
    ("SQLAlchemy ORM and Core (flush, compile, results)", ("sqlalchemy/",)),
    ("database driver (aiosqlite/sqlite3, asyncpg)", ("aiosqlite/", "asyncpg/", "sqlite3/")),
    ("pydantic (events, settings)", ("pydantic",)),
    (
        "app actions: ingest, threading, events, outbox",
        ("inbox/actions/", "inbox/events", "inbox/realtime/", "inbox/profiles/"),
    ),
    (
        "asyncio, threads, greenlets (hand-offs)",
        ("asyncio/", "concurrent/", "threading.py", "greenlet"),
    ),
)


# Leaves that mean waiting: the event loop in select, the thread pool and
# aiosqlite's thread blocked on their queues (no Python frame below the loop).
IDLE_LEAVES = (
    "select@",
    "EpollSelector.select@",
    "_worker@",
    "_connection_worker_thread@",
)


def _frames(stack: str) -> list[str]:
    """ "function@path" for each frame; with --threads the first is the thread, kept whole."""
    out = []
    for frame in stack.split(";"):
        if frame.startswith("thread ("):
            out.append(frame)
            continue
        name, _, where = frame.partition(" (")
        out.append(f"{name}@{where.split(':')[0]}")
    return out


def _category(frames: list[str]) -> str:
    for frame in reversed(frames):
        for label, patterns in CATEGORIES:
            if any(p in frame for p in patterns):
                return label
    return "other"


def categorise(raw_path: Path, top: int = 15) -> dict[str, object]:
    """Shares of busy samples per category, and the functions with the most own samples."""
    counts: Counter[str] = Counter()
    own: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    for line in raw_path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        frames = _frames(stack)
        if not frames:
            continue
        thread = frames[0]
        if "py-spy" in thread:
            continue
        body = frames[1:] if frames[0].startswith("thread (") else frames
        if not body or body[-1].startswith(IDLE_LEAVES):
            continue  # a thread waiting (for the GIL, for work, in select): not work
        samples = int(n)
        counts[_category(body)] += samples
        leaf = body[-1]
        own[leaf] += samples
        threads[_thread_kind(thread)] += samples
    busy = sum(counts.values())
    if not busy:
        return {}
    return {
        "busy_samples": busy,
        "categories": {k: round(v / busy, 3) for k, v in counts.most_common()},
        "threads": {k: round(v / busy, 3) for k, v in threads.most_common()},
        "top_functions": {_short(k): round(v / busy, 3) for k, v in own.most_common(top)},
    }


def _thread_kind(thread: str) -> str:
    if "MainThread" in thread:
        return "event loop (main thread)"
    if "_connection_worker_thread" in thread:
        return "aiosqlite connection thread"
    if "asyncio_" in thread:
        return "asyncio.to_thread pool (IMAP, parsing, blobs)"
    return "other threads"


def _short(frame: str) -> str:
    name, _, path = frame.partition("@")
    parts = path.split("/")
    tail = "/".join(parts[-2:]) if len(parts) > 1 else path
    return f"{name} ({tail})"
