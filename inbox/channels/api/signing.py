"""Request signatures for the API channel's webhook.

The integration signs `f"{timestamp}.".encode() + raw_body` with HMAC-SHA256
under the inbox's signing secret and sends:

    X-Inbox-Timestamp: <unix seconds>
    X-Inbox-Signature: sha256=<hex digest>

The timestamp is inside the MAC, so it can't be moved; the replay window
bounds how long a captured request stays usable, and idempotency on the
message id makes a replay inside the window store nothing new.
"""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP_HEADER = "x-inbox-timestamp"
SIGNATURE_HEADER = "x-inbox-signature"
SCHEME = "sha256="
# How far the sender's clock may be from ours, either way.
REPLAY_WINDOW_SECONDS = 300
# Unix seconds stay 10 digits until the year 2286; anything much longer is junk.
_MAX_TIMESTAMP_DIGITS = 12


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The header value for `body` sent at `timestamp` (the header's exact text)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return SCHEME + digest.hexdigest()


def check(
    secret: str, timestamp: str | None, supplied: str | None, body: bytes, now: float
) -> str | None:
    """None when the request is authentic and fresh; otherwise why not (safe to show)."""
    if not timestamp or not supplied:
        return "missing X-Inbox-Timestamp or X-Inbox-Signature"
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > _MAX_TIMESTAMP_DIGITS:
        return "X-Inbox-Timestamp must be unix seconds"
    expected = signature(secret, timestamp, body)
    # Constant time, so the comparison leaks nothing about how much matched.
    if not hmac.compare_digest(expected.encode(), supplied.strip().lower().encode()):
        return "bad signature"
    # Checked after the MAC: only an authentic request learns that it is stale.
    if abs(now - int(timestamp)) > REPLAY_WINDOW_SECONDS:
        return "timestamp is outside the 5-minute replay window"
    return None
