"""Recognising mail no human wrote, and addresses no human reads.

Answering a robot with a robot is how mail loops start, so anything classified
here is never auto-answered (`should_auto_answer`), whatever the kind, nor is
an address `unattended_address` recognises. (What we do send automatically,
and how often, is inbox/actions/auto_reply.py.) The checks, first match wins:

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
from email.message import Message
from enum import StrEnum
from weakref import WeakKeyDictionary

__all__ = [
    "AutoKind",
    "classify",
    "header_values",
    "should_auto_answer",
    "unattended_address",
]


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
    index = _INDEXES.get(msg)
    if index is None:
        index = _INDEXES[msg] = _index(msg)
    return list(index.get(name.lower(), ()))


# A parsed message's headers by lower-case name, made on first use. Parsing
# asks for thirty-odd headers of every message; a scan of them all per
# question was a tenth of its time. Parsed messages are never changed, and
# the index goes with its message.
_INDEXES: WeakKeyDictionary[Message, dict[str, list[str]]] = WeakKeyDictionary()


def _index(msg: Message) -> dict[str, list[str]]:
    try:
        items = list(msg.raw_items())
    except Exception:
        return {}
    index: dict[str, list[str]] = {}
    for key, value in items:
        cleaned = _FOLD.sub("", str(value)).replace("\x00", "").strip()
        index.setdefault(str(key).lower(), []).append(cleaned)
    return index


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


# Local parts that no person reads, or that RFC 3834 (section 2) says an
# automatic responder must not answer: no-reply senders, mail daemons, list
# software and their bounce and request addresses. A "+tag" is ignored.
_UNATTENDED = re.compile(
    r"(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|bounces?)(?:[-_.].*)?"
    r"|mailer[-_]daemon|mail-daemon|postmaster|listserv|majordomo"
    r"|owner-.+|.+-(?:request|bounces?|owner)"
)


def unattended_address(address: str) -> bool:
    """Whether mail to this address reaches a program rather than a person."""
    local = address.strip().lower().rpartition("@")[0] or address.strip().lower()
    return bool(_UNATTENDED.fullmatch(local.partition("+")[0]))
