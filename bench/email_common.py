"""Small shared pieces of the email sync benchmark: progress lines, percentiles, IMAP logins."""

from __future__ import annotations

import math
import socket
import statistics
import time
from dataclasses import dataclass
from typing import Any

from imapclient import IMAPClient

from bench.progress import say

PASSWORD = "email-bench-mailbox-pw"
_EVERY_SECONDS = 3.0


@dataclass(frozen=True)
class Endpoint:
    """Where an IMAP client connects: Dovecot itself, or the delay proxy in front of it."""

    name: str  # "loopback" | "20ms"
    host: str
    port: int
    rtt_ms: float  # added round-trip time (0 at loopback)


def login(endpoint: Endpoint, user: str, timeout: float = 60.0) -> Any:
    """A bare imapclient session for the baselines, with Nagle's algorithm off.

    imapclient writes some commands (SEARCH, APPEND) in more than one send();
    with Nagle on, the last piece waits for the server's delayed ACK, about
    40 ms on Linux. The baselines are floors and ceilings, so they don't pay
    that; the app's MailboxSync does (see the report).
    """
    client = IMAPClient(endpoint.host, endpoint.port, ssl=False, timeout=timeout)
    client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client.login(user, PASSWORD)
    return client


class Ticker:
    """Counts work done; prints the count and rate every few seconds, and once at the end."""

    def __init__(self, label: str, total: int | None = None) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.started = self.last = time.perf_counter()

    def tick(self, n: int = 1) -> None:
        self.done += n
        now = time.perf_counter()
        if now - self.last >= _EVERY_SECONDS:
            self.last = now
            share = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
            rate = self.done / (now - self.started)
            say(f"    {self.label}: {self.done:,}{share}, {rate:,.0f}/s")

    def finish(self) -> float:
        elapsed = time.perf_counter() - self.started
        rate = self.done / elapsed if elapsed else 0.0
        say(f"    {self.label}: {self.done:,} in {elapsed:.1f} s, {rate:,.1f}/s")
        return elapsed


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0-100); the p99 of 50 samples is their maximum."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summary_ms(seconds: list[float]) -> dict[str, Any]:
    """Median, p90, p99 and max of durations given in seconds, in milliseconds."""
    ms = [s * 1000 for s in seconds]
    if not ms:
        return {"n": 0}
    return {
        "n": len(ms),
        "median": round(statistics.median(ms), 2),
        "p90": round(percentile(ms, 90), 2),
        "p99": round(percentile(ms, 99), 2),
        "max": round(max(ms), 2),
        "min": round(min(ms), 2),
    }
