"""Reply tokens: how a reply finds its conversation without trusting what it claims.

A token is ``c<conversation id>.<mac>``, where the MAC is the first 50 bits of
HMAC-SHA256(secret, "inbox-reply-token:v1:<id>") in lower-case base32: short,
and safe in a Message-ID, a URL and an email local part (``support+c42.k3j9x2m1q0@x``).
It goes into the Message-ID of every email we send (`message_id_for`), so a
reply carries it back in In-Reply-To/References even when its client rewrote
one of them, and can go into a plus-address Reply-To for clients that keep
neither.

Anyone can write ``c42.`` into a header; only a valid MAC makes it ours. A
valid token proves that whoever wrote the mail saw (or was shown) a message we
sent for that conversation, not who they are: sender identity is checked
separately. 50 bits cannot be guessed online; rotating the secret orphans the
tokens already out (threading then falls back to Message-ID matching).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable

__all__ = ["find_reply_token", "message_id_for", "read_reply_token", "reply_token"]

_MAC_CHARS = 10  # base32: 5 bits each
_MAX_ID_DIGITS = 19  # a BIGINT
_TOKEN = re.compile(rf"c([1-9][0-9]{{0,{_MAX_ID_DIGITS - 1}}})\.([a-z2-7]{{{_MAC_CHARS}}})")
# Delimited by anything that cannot continue the token: '<', '+', '.', '@', ...
_EMBEDDED = re.compile(rf"(?<![A-Za-z0-9]){_TOKEN.pattern}(?![A-Za-z0-9])", re.IGNORECASE)
_DOMAIN = re.compile(
    r"(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
)
# Message-ID header values and address lists can be long; nothing real is longer.
_SCAN_LIMIT = 64 * 1024


def _mac(conversation_id: int, secret: str) -> str:
    if not secret:
        raise ValueError("the reply-token secret is empty")
    digest = hmac.new(
        secret.encode(), f"inbox-reply-token:v1:{conversation_id}".encode(), hashlib.sha256
    ).digest()
    return base64.b32encode(digest).decode("ascii").lower()[:_MAC_CHARS]


def reply_token(conversation_id: int, secret: str) -> str:
    """The token for a conversation, e.g. 'c42.k3j9x2m1q0'."""
    if isinstance(conversation_id, bool) or not isinstance(conversation_id, int):
        raise TypeError("conversation_id must be an int")
    if conversation_id < 1 or len(str(conversation_id)) > _MAX_ID_DIGITS:
        raise ValueError("conversation_id out of range")
    return f"c{conversation_id}.{_mac(conversation_id, secret)}"


def _verify(id_digits: str, mac: str, secret: str) -> int | None:
    conversation_id = int(id_digits)
    expected = _mac(conversation_id, secret)
    return conversation_id if hmac.compare_digest(expected, mac.lower()) else None


def read_reply_token(token: str, secret: str) -> int | None:
    """The conversation id of a token we issued, or None (malformed or forged)."""
    match = _TOKEN.fullmatch(token.strip().lower())
    if match is None:
        return None
    return _verify(match.group(1), match.group(2), secret)


def message_id_for(conversation_id: int, domain: str, secret: str) -> str:
    """A fresh Message-ID carrying the conversation's token: '<c42.k3j9x2m1q0.RANDOM@domain>'."""
    domain = domain.strip().lower()
    if not _DOMAIN.fullmatch(domain):
        raise ValueError(f"not a domain name: {domain!r}")
    random = base64.b32encode(secrets.token_bytes(10)).decode("ascii").lower()
    return f"<{reply_token(conversation_id, secret)}.{random}@{domain}>"


def find_reply_token(values: Iterable[str], secret: str) -> int | None:
    """The first conversation id carried by a valid token in these strings.

    `values` are Message-ID-like strings and addresses in the order they should
    be trusted (say In-Reply-To, then References newest first, then To/Cc); the
    token may be anywhere in each, delimited by non-alphanumerics. Forged or
    foreign tokens are skipped, not fatal.
    """
    for value in values:
        for match in _EMBEDDED.finditer(value[:_SCAN_LIMIT]):
            found = _verify(match.group(1), match.group(2), secret)
            if found is not None:
                return found
    return None
