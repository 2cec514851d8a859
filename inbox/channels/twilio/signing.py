"""`X-Twilio-Signature`: base64 of HMAC-SHA1, under the account's auth token, of
the full URL Twilio called followed by every POST parameter sorted by name,
each name immediately followed by its value
(https://www.twilio.com/docs/usage/webhooks/webhooks-security).

The URL is the one Twilio called, so behind a TLS-terminating proxy the one
this process sees is wrong. With `INBOX_TRUST_PROXY_HEADERS` on, the scheme and
host come from `X-Forwarded-Proto` and `X-Forwarded-Host`; turn it on only
behind a proxy you control that overwrites those headers, or any caller could
name the URL its signature covers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

from starlette.datastructures import URL
from starlette.requests import Request

SIGNATURE_HEADER = "x-twilio-signature"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def signature(auth_token: str, url: str, params: Sequence[tuple[str, str]]) -> str:
    # As Twilio's own RequestValidator: names sorted, each with its distinct values sorted.
    names = sorted({name for name, _ in params})
    signed = url + "".join(
        name + value for name in names for value in sorted({v for n, v in params if n == name})
    )
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def called_url(request: Request, trust_proxy_headers: bool) -> URL:
    url = request.url
    if not trust_proxy_headers:
        return url
    # A chain of proxies lists one value per hop; the first is the client's.
    proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    host = request.headers.get("x-forwarded-host", "").split(",")[0].strip()
    if proto in _DEFAULT_PORTS:
        url = url.replace(scheme=proto)
    if host:
        url = url.replace(netloc=host)
    return url


def _port_variants(url: URL) -> list[str]:
    """The URL with and without its default port: Twilio signs whichever it was
    configured with, and its SDK accepts both."""
    default = _DEFAULT_PORTS.get(url.scheme)
    if url.hostname is None or default is None:
        return [str(url)]
    bare = url.replace(netloc=url.hostname if url.port in (None, default) else url.netloc)
    with_port = url.replace(netloc=f"{url.hostname}:{url.port or default}")
    return list(dict.fromkeys([str(url), str(bare), str(with_port)]))


def check(
    auth_token: str, supplied: str | None, url: URL, params: Sequence[tuple[str, str]]
) -> str | None:
    """None when the request is authentic; otherwise why not (safe to show)."""
    if not supplied:
        return "missing X-Twilio-Signature"
    matched = False
    for candidate in _port_variants(url):
        expected = signature(auth_token, candidate, params)
        # Constant time; every variant is tried so timing says nothing either.
        matched |= hmac.compare_digest(expected.encode(), supplied.strip().encode())
    return None if matched else "bad signature"
