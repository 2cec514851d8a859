"""CPU clocks read from /proc: a process group, a database's backends, the whole machine.

Read before and after a timed loop, they tell how much CPU each party spent
per request, and how much of the machine went to work that is not ours
(the machine is shared), which latency alone can't show.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def _processes() -> Iterator[tuple[Path, list[str]]]:
    """(/proc/PID, the stat fields after the command name) for each live process."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            yield stat.parent, stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # it exited while we looked


def _ticks(fields: list[str]) -> int:
    return int(fields[11]) + int(fields[12])  # utime + stime


def group_cpu(pgid: int) -> float:
    """Seconds of CPU used by the live processes of one process group."""
    return sum(_ticks(f) for _, f in _processes() if int(f[2]) == pgid) / _TICKS


class DatabaseBackendsClock:
    """Seconds of CPU used by PostgreSQL backends connected to `database`.

    Backends name their database in their process title ("postgres: 15/main:
    USER DATABASE HOST(PORT) STATE"). Connections come and go (a pool's
    overflow is closed on return), so each read adds what every backend used
    since it was last seen: the clock never runs backwards, and a backend that
    exits between two reads loses only its last few ticks.
    """

    def __init__(self, database: str) -> None:
        self.marker = f" {database} "
        self.seen: dict[int, int] = {}
        self.total = 0

    def __call__(self) -> float:
        for proc, fields in _processes():
            try:
                title = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if title.startswith("postgres:") and self.marker in title:
                pid, ticks = int(proc.name), _ticks(fields)
                self.total += ticks - self.seen.get(pid, 0)
                self.seen[pid] = ticks
        return self.total / _TICKS


def machine_busy() -> float:
    """Seconds of non-idle CPU summed over all cores since boot."""
    first = Path("/proc/stat").read_text().splitlines()[0].split()
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in first[1:9])
    return (user + nice + system + irq + softirq + steal) / _TICKS


def process_cpu() -> float:
    """This process, every thread (aiosqlite runs queries in threads)."""
    return os.times().user + os.times().system


Clock = Callable[[], float]
