"""A closed-loop load generator: N workers, each sending its next request when
the previous one answers, bounded by a request count and a deadline.

Latency is measured per call from just before it is issued to just after its
result is read, so it includes any waiting for a pooled connection: the same
for the HTTP client and for the raw SQL baseline. A figure may be built from
several samples (rounds interleaved with other scales, see read_paths).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

Call = Callable[[int], Awaitable[None]]
# Named CPU clocks (seconds), read around each timed sample.
Meters = dict[str, Callable[[], float]]


@dataclass
class Sample:
    latencies_ms: list[float]
    errors: list[str]
    seconds: float
    cpu_seconds: dict[str, float]


@dataclass(frozen=True)
class Stats:
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    per_second: float
    first_error: str | None = None
    # CPU milliseconds per timed request, by meter name.
    cpu_ms_per_request: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def percentile(ordered: list[float], share: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not ordered:
        return float("nan")
    rank = min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))
    return ordered[rank]


async def sample(
    call: Call,
    *,
    requests: int,
    concurrency: int,
    time_limit: float,
    meters: Meters | None = None,
    offset: int = 0,
) -> Sample:
    """Run `call(offset + i)` for i = 0..requests-1 over `concurrency` workers.

    Stops early at `time_limit` seconds; the sample then holds fewer requests.
    """
    meters = meters or {}
    latencies: list[float] = []
    errors: list[str] = []
    next_index = 0
    before = {name: read() for name, read in meters.items()}
    started = time.perf_counter()
    deadline = started + time_limit

    async def worker() -> None:
        nonlocal next_index
        while next_index < requests and time.perf_counter() < deadline:
            index = next_index
            next_index += 1
            t0 = time.perf_counter()
            try:
                await call(offset + index)
            except Exception as exc:  # counted and reported, never hidden
                errors.append(f"{type(exc).__name__}: {exc}")
                continue
            latencies.append((time.perf_counter() - t0) * 1000)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    used = {name: read() - before[name] for name, read in meters.items()}
    return Sample(latencies, errors, elapsed, used)


def summarise(samples: list[Sample]) -> Stats:
    latencies = sorted(x for s in samples for x in s.latencies_ms)
    errors = [e for s in samples for e in s.errors]
    seconds = sum(s.seconds for s in samples)
    done = len(latencies)
    cpu: dict[str, float] = {}
    for s in samples:
        for name, used in s.cpu_seconds.items():
            cpu[name] = cpu.get(name, 0.0) + used
    return Stats(
        requests=done,
        errors=len(errors),
        seconds=round(seconds, 2),
        p50_ms=round(percentile(latencies, 0.50), 3),
        p90_ms=round(percentile(latencies, 0.90), 3),
        p99_ms=round(percentile(latencies, 0.99), 3),
        max_ms=round(latencies[-1], 3) if latencies else float("nan"),
        mean_ms=round(sum(latencies) / done, 3) if done else float("nan"),
        per_second=round(done / seconds, 1) if seconds > 0 else 0.0,
        first_error=errors[0] if errors else None,
        cpu_ms_per_request={k: round(v * 1000 / done, 3) for k, v in cpu.items()} if done else {},
    )
