"""Progress lines for long steps, so a 1M seed never looks hung."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_EVERY_SECONDS = 3.0


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def counted(rows: Iterable[T], label: str, total: int | None) -> Iterator[T]:
    """Pass `rows` through, printing a line every few seconds and one at the end."""
    started = last = time.perf_counter()
    done = 0
    for row in rows:
        done += 1
        if done & 0x3FFF == 0:
            now = time.perf_counter()
            if now - last >= _EVERY_SECONDS:
                last = now
                share = f" ({100 * done / total:.0f}%)" if total else ""
                say(f"  {label}: {done:,}{share}, {done / (now - started):,.0f} rows/s")
        yield row
    elapsed = time.perf_counter() - started
    say(f"  {label}: {done:,} rows in {elapsed:.1f} s")


class Timer:
    """`with Timer("building indexes"):` prints how long the block took."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.started = 0.0
        self.elapsed = 0.0

    def __enter__(self) -> Timer:
        self.started = time.perf_counter()
        say(f"{self.label} ...")
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.perf_counter() - self.started
        say(f"{self.label}: {self.elapsed:.1f} s")
