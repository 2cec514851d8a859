"""What the benchmarks' commands share: where a run's results go, and running one."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from bench.progress import say

RESULTS_DIR = Path(__file__).resolve().parent / "results"

Options = TypeVar("Options")


def results_path(name: str, quick: bool, out: str | None) -> Path:
    """`out` if given, else bench/results/NAME (NAME-quick for a quick run), no suffix."""
    return Path(out) if out else RESULTS_DIR / (f"{name}-quick" if quick else name)


def run_and_report(
    run: Callable[[Options, Path], Coroutine[Any, Any, Any]], opts: Options, out: Path
) -> None:
    """Run the benchmark; `run` writes OUT.md and OUT.json."""
    asyncio.run(run(opts, out))
    say(f"wrote {out.with_suffix('.md')} and .json")
