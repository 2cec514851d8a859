"""Recognising mail no human wrote, and limiting the mail we send automatically.

Answering a robot with a robot is how mail loops start, so anything classified
here is never auto-answered (`should_auto_answer`), whatever the kind. The
checks, first match wins:

1. BOUNCE: ``multipart/report; report-type=delivery-status``, or a sender whose
   local part is mailer-daemon / postmaster. First, because MTAs also stamp
   ``Auto-Submitted`` on the bounces they generate.
   (A ``report-type=disposition-notification``, a read receipt, is AUTO_REPLY.)
2. AUTO_REPLY: ``Auto-Submitted: auto-replied`` (RFC 3834), ``X-Autoreply``,
   ``X-Autorespond`` (any value but "no"), ``Precedence: auto_reply``.
3. BULK: ``Precedence`` (or ``X-Precedence``) bulk / list / junk, ``List-Id``,
   ``List-Unsubscribe``. After the auto-reply checks, because a vacation
   responder answering a list still is a vacation responder.
4. AUTO_REPLY: any other ``Auto-Submitted`` value but "no" (auto-generated,
   auto-notified), and ``X-Auto-Response-Suppress`` containing All, OOF or
   AutoReply (Exchange sets it on its own automatic mail; some ticketing
   systems on theirs. A human using such a system loses only auto-answers).
5. BOUNCE: an empty ``Return-Path: <>``. Last, because RFC 3834 asks
   responders to use the null sender too, and those are caught by 2 or 4.

Headers are read raw (``Message.raw_items``) so that a header the modern
policy cannot parse never makes classification raise.
"""

from __future__ import annotations

import re
from collections import deque
from datetime import datetime, timedelta
from email.message import Message
from enum import StrEnum

__all__ = ["AutoKind", "AutoReplyLimiter", "classify", "header_values", "should_auto_answer"]


class AutoKind(StrEnum):
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"
    BULK = "bulk"


_FOLD = re.compile(r"\r?\n(?=[ \t])")
_DAEMONS = frozenset({"mailer-daemon", "mailer_daemon", "mail-daemon", "postmaster"})
_SUPPRESS = frozenset({"all", "oof", "autoreply"})
_BULK_PRECEDENCE = frozenset({"bulk", "list", "junk"})
_TOKEN = re.compile(r"[\w.-]+")


def header_values(msg: Message, name: str) -> list[str]:
    """Every raw value of header `name`, unfolded, stripped, without NULs; never raises.

    Non-ASCII bytes stay surrogate-escaped as the parser left them; callers that
    display a value decode it (see `parse.decode_header_text`).
    """
    wanted = name.lower()
    try:
        items = list(msg.raw_items())
    except Exception:
        return []
    return [
        _FOLD.sub("", str(value)).replace("\x00", "").strip()
        for key, value in items
        if key.lower() == wanted
    ]


def _first_token(msg: Message, name: str) -> str | None:
    """The first value's leading token, lower-cased: 'auto-replied' of 'auto-replied (x); y=z'.

    '' when the header is present but has no token, None when it is absent.
    """
    values = header_values(msg, name)
    if not values:
        return None
    match = _TOKEN.match(values[0].strip().strip('"').lower())
    return match.group(0) if match else ""


def _report_type(msg: Message) -> tuple[str, str]:
    try:
        ctype = msg.get_content_type()
        report = msg.get_param("report-type") if ctype == "multipart/report" else None
    except Exception:
        return "", ""
    return ctype, (str(report).strip().lower() if isinstance(report, str) else "")


def _sender_is_daemon(msg: Message, from_address: str | None) -> bool:
    if from_address:
        return from_address.partition("@")[0].lower() in _DAEMONS
    # No parsable address; "From: MAILER-DAEMON" (no domain) is common in bounces.
    raw = " ".join(header_values(msg, "From")).lower()
    return any(daemon in raw for daemon in _DAEMONS)


def classify(msg: Message, from_address: str | None) -> AutoKind | None:
    """What kind of automatic mail this is, or None for (presumably) a human."""
    ctype, report = _report_type(msg)
    if ctype == "multipart/report" and report == "delivery-status":
        return AutoKind.BOUNCE
    if _sender_is_daemon(msg, from_address):
        return AutoKind.BOUNCE
    if ctype == "multipart/report" and report == "disposition-notification":
        return AutoKind.AUTO_REPLY

    submitted = _first_token(msg, "Auto-Submitted")
    precedences = {
        token
        for token in (_first_token(msg, "Precedence"), _first_token(msg, "X-Precedence"))
        if token
    }
    if submitted == "auto-replied" or "auto_reply" in precedences:
        return AutoKind.AUTO_REPLY
    for name in ("X-Autoreply", "X-Autorespond"):
        token = _first_token(msg, name)
        if token is not None and token != "no":
            return AutoKind.AUTO_REPLY

    if precedences & _BULK_PRECEDENCE or any(
        header_values(msg, name) for name in ("List-Id", "List-Unsubscribe")
    ):
        return AutoKind.BULK

    if submitted and submitted != "no":
        return AutoKind.AUTO_REPLY
    suppress = ",".join(header_values(msg, "X-Auto-Response-Suppress")).lower()
    if {token.strip() for token in suppress.split(",")} & _SUPPRESS:
        return AutoKind.AUTO_REPLY

    if any(re.fullmatch(r"<\s*>", value) for value in header_values(msg, "Return-Path")):
        return AutoKind.BOUNCE
    return None


def should_auto_answer(kind: AutoKind | None) -> bool:
    """Whether we may send an automatic reply to a message of this kind: only to humans."""
    return kind is None


class AutoReplyLimiter:
    """At most `max_per_window` of OUR automatic replies to one address per sliding window.

    The rule: a reply to `address` at `now` is allowed iff fewer than
    `max_per_window` replies to it were allowed in the half-open interval
    ``(now - window, now]``; an allowed reply is recorded. Addresses compare
    case-insensitively. A blank address is never allowed (nowhere to send, and a
    sign of a bounce).

    Pure and in-memory, for one process; the DB-backed variant applies the same
    rule to the replies it finds in the database, so both agree on every case.
    `now` comes from the caller (aware UTC, like the database's timestamps), which
    keeps the rule testable and the clock in one place.
    """

    # Beyond this many tracked addresses, expired ones are swept on the next call.
    _SWEEP_AT = 10_000

    def __init__(self, max_per_window: int = 1, window: timedelta = timedelta(hours=1)) -> None:
        if max_per_window < 0:
            raise ValueError("max_per_window must be >= 0")
        if window <= timedelta(0):
            raise ValueError("window must be positive")
        self.max_per_window = max_per_window
        self.window = window
        self._sent: dict[str, deque[datetime]] = {}

    def allow(self, address: str, now: datetime) -> bool:
        key = address.strip().lower()
        if not key:
            return False
        horizon = now - self.window
        if len(self._sent) >= self._SWEEP_AT:
            self._sweep(horizon)
        sent = self._sent.get(key)
        if sent is not None:
            while sent and sent[0] <= horizon:
                sent.popleft()
        if sent is not None and len(sent) >= self.max_per_window:
            return False
        if self.max_per_window == 0:
            return False
        self._sent.setdefault(key, deque()).append(now)
        return True

    def _sweep(self, horizon: datetime) -> None:
        for key in [key for key, sent in self._sent.items() if not sent or sent[-1] <= horizon]:
            del self._sent[key]
