"""Small formatting helpers shared by the realtime report's modules."""

from __future__ import annotations

from typing import Any


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def times(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def setups_of(results: dict[str, Any], kind: str | None = None) -> list[dict[str, Any]]:
    return [
        s
        for s in results["setups"].values()
        if "failed" not in s and (kind is None or s["kind"] == kind)
    ]


def latency_of(s: dict[str, Any], sockets: str) -> dict[str, Any]:
    block: dict[str, Any] = s.get("latency", {}).get(sockets, {})
    return block
