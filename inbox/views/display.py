"""Turning stored values into what an agent reads: labels, times, initials.

Templates get these precomputed on their typed context objects rather than as
Jinja filters, so any code that renders a partial needs no import side effects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

CHANNEL_LABELS: dict[str, str] = {
    "email": "Email",
    "live_chat": "Live chat",
    "telegram": "Telegram",
    "whatsapp": "WhatsApp",
    "messenger": "Messenger",
    "instagram": "Instagram",
    "sms": "SMS",
    "api": "API",
    "phone": "Phone",
}


def channel_label(kind: str) -> str:
    return CHANNEL_LABELS.get(kind, kind.replace("_", " ").capitalize())


@dataclass(frozen=True)
class Moment:
    """A point in time, ready for `<time datetime=... title=...>ago</time>`."""

    iso: str
    exact: str
    ago: str


def exact_time(at: datetime) -> str:
    # No per-agent time zone is stored yet, so times are shown in UTC and say so.
    at = at.astimezone(UTC)
    return f"{at.day} {at:%b %Y}, {at:%H:%M} UTC"


def relative_time(at: datetime, now: datetime) -> str:
    seconds = (now - at).total_seconds()
    if seconds < 45:  # also covers small clock skew into the future
        return "just now"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{max(minutes, 1)} min ago"
    hours = minutes // 60
    if hours < 24:
        return f"{hours} h ago"
    days = hours // 24
    if days == 1:
        return "yesterday"
    if days < 7:
        return f"{days} days ago"
    at = at.astimezone(UTC)
    return f"{at.day} {at:%b}" if at.year == now.year else f"{at.day} {at:%b %Y}"


def moment(at: datetime, now: datetime) -> Moment:
    return Moment(at.astimezone(UTC).isoformat(), exact_time(at), relative_time(at, now))


def initials(name: str) -> str:
    parts = [p for p in name.split() if p[:1].isalnum()]
    if not parts:
        return "?"
    letters = parts[0][0] + (parts[-1][0] if len(parts) > 1 else "")
    return letters.upper()
