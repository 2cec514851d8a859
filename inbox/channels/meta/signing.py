"""`X-Hub-Signature-256: sha256=<hex>`: HMAC-SHA256 of the raw body under the app secret.

The raw bytes, never re-serialised JSON: Meta escapes non-ASCII and `/`
(e.g. `\\u00e9`, `\\/`), so a body parsed and dumped again no longer matches.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "x-hub-signature-256"
SCHEME = "sha256="


def signature(app_secret: str, body: bytes) -> str:
    return SCHEME + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def check(app_secret: str, supplied: str | None, body: bytes) -> str | None:
    """None when the body is authentic; otherwise why not (safe to show)."""
    if not supplied:
        return "missing X-Hub-Signature-256"
    expected = signature(app_secret, body)
    # Constant time, so the comparison leaks nothing about how much matched.
    if not hmac.compare_digest(expected.encode(), supplied.strip().lower().encode()):
        return "bad signature"
    return None


def verified_challenge(verify_token: str, params: dict[str, str]) -> str | None:
    """The challenge to echo when Meta's subscription handshake names our verify
    token; None otherwise."""
    mode = params.get("hub.mode", "")
    token = params.get("hub.verify_token", "")
    challenge = params.get("hub.challenge")
    if mode != "subscribe" or challenge is None:
        return None
    if not hmac.compare_digest(token.encode(), verify_token.encode()):
        return None
    return challenge
