"""HTTP to URLs someone else chose, without becoming a way into our own network (SSRF).

A customer's message names media URLs, and an admin types webhook URLs: left
alone, either could point the server at 127.0.0.1, the cloud's metadata
service or a host on the private network. Use this client for any such URL:

    from inbox.channels.http_guard import FetchError, guarded_client

    async with guarded_client(allow_hosts=rt.settings.fetch_allow_hosts) as client:
        try:
            response = await client.get(url)          # any httpx call: get, post, stream
        except FetchError as exc:
            show(exc.reason)                          # safe for an admin; exc.transient: retry?

`guarded_client(*, allow_hosts=(), limit=10 MB, timeout=10 s, total_timeout=60 s,
max_redirects=5, verify=True, **client_options)` returns an `httpx.AsyncClient`
that follows redirects. Every problem it can have (refused destination, not
http(s), too many redirects, body over `limit`, compressed body, too slow,
unreachable) raises `FetchError`, whose `reason` names the host and the
problem but never the URL (URLs carry tokens) and whose `transient` says
whether trying later may help. HTTP error statuses are answers, not errors:
check `response.status_code` yourself.

How it holds:

* Destinations: httpcore asks its network backend to open every new
  connection, for the first request and for each redirect hop to a new
  origin. Ours (`_VettingBackend`) resolves the host once, refuses it if any
  of its addresses is not public (`address_problem`: loopback, RFC 1918 and
  fc00::/7, link-local, cloud metadata, CGNAT, unspecified, multicast,
  reserved, and those same addresses inside IPv4-mapped, 6to4, NAT64 and
  Teredo forms), then opens the socket to the very address it vetted. The
  name is never resolved a second time, so DNS rebinding between the check
  and the connect has nothing to act on; TLS is still started with the URL's
  host name, so certificates are verified against the name, not the address.
* Environment proxies are ignored (`trust_env=False`): a proxy would make the
  connection go somewhere other than the address vetted.
* Redirects: at most `max_redirects`, each hop checked as above; httpx drops
  the Authorization header on a hop to another origin.
* Size: the body is counted as it streams and cut off past `limit` (at once
  when Content-Length already says so). Responses are asked for
  uncompressed and a compressed one is refused, so `limit` is the size held.
* Time: httpx's connect/read/write timeouts (`timeout`), and `total_timeout`
  for the whole body, so a host trickling a byte at a time can't hold a
  worker.
* Allow-list: exact `host:port` pairs (`INBOX_FETCH_ALLOW_HOSTS`) skip the
  address check, and only they: a test's stand-in server on loopback, or an
  on-premises provider. A redirect from one of them to anywhere else is
  checked like any other destination.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import ssl
from collections.abc import AsyncIterator, Iterable
from typing import Any

import httpcore
import httpx

__all__ = [
    "DEFAULT_LIMIT",
    "FetchError",
    "GuardedClient",
    "address_problem",
    "guarded_client",
    "resolve",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# httpx logs every request's full URL at INFO, and URLs fetched here may carry
# a token (Telegram's do): the worker logs at INFO, so these loggers say less.
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).setLevel(logging.WARNING)

DEFAULT_LIMIT = 10 * 1024 * 1024
DEFAULT_TIMEOUT = 10.0
DEFAULT_TOTAL_TIMEOUT = 60.0
DEFAULT_MAX_REDIRECTS = 5
_SCHEMES = frozenset({"http", "https"})

# Named because `is_global` alone would call them just "private".
_METADATA = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
# NAT64 (RFC 6052, RFC 8215): the last 32 bits are an IPv4 address the gateway reaches.
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


class FetchError(Exception):
    """A guarded request that did not get an answer; `reason` is safe to show an admin."""

    def __init__(self, reason: str, *, transient: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        # True when the same request may work later (a timeout, a refused connection).
        self.transient = transient


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, NAT64, Teredo client), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def address_problem(ip: IPAddress) -> str | None:
    """Why we never connect to this address, or None for a public one."""
    if ip in _METADATA:
        return "a cloud metadata address"
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            problem = address_problem(embedded)
            if problem is not None:
                return problem
    checks = (
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_unspecified, "the unspecified address"),
        (ip.is_multicast, "a multicast address"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT, "a shared (CGNAT) address"),
        # Before is_private, which also counts 240.0.0.0/4.
        (ip.is_reserved, "a reserved address"),
        (ip.is_private, "a private address"),
        (not ip.is_global, "not a public address"),
    )
    return next((problem for failed, problem in checks if failed), None)


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to, in the resolver's order (a literal: itself)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"{host} could not be resolved", transient=True) from exc
    found: dict[IPAddress, None] = {}
    for _family, _type, _proto, _name, sockaddr in infos:
        # IPv6 answers may carry a zone ("fe80::1%eth0"): the address is what counts.
        found[ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])] = None
    return list(found)


def _split_host_port(entry: str) -> tuple[str, int]:
    host, _, port = entry.strip().rpartition(":")
    return host.strip("[]").lower(), int(port)


class _VettingBackend(httpcore.AsyncNetworkBackend):
    """Opens a connection only to an address it has just vetted."""

    def __init__(self, allow: frozenset[tuple[str, int]]) -> None:
        self._allow = allow
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if (host.strip("[]").lower(), port) in self._allow:
            return await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        try:
            async with asyncio.timeout(timeout):
                addresses = await resolve(host, port)
        except TimeoutError:
            raise FetchError(f"{host} could not be resolved in time", transient=True) from None
        if not addresses:
            raise FetchError(f"{host} could not be resolved", transient=True)
        for ip in addresses:
            problem = address_problem(ip)
            if problem is not None:
                what = "is" if str(ip) == host.strip("[]") else "resolves to"
                raise FetchError(f"refused: {host} {what} {problem}")
        last: Exception | None = None
        for ip in addresses:
            try:
                # The literal address: nothing between here and the socket resolves again.
                return await self._inner.connect_tcp(
                    str(ip), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise FetchError("refused: Unix sockets are never a fetch destination")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _CappedStream(httpx.AsyncByteStream):
    """The response body, cut off past `limit` bytes or past the deadline."""

    def __init__(
        self, inner: httpx.AsyncByteStream, host: str, limit: int, deadline: float
    ) -> None:
        self._inner = inner
        self._host = host
        self._limit = limit
        self._deadline = deadline

    async def __aiter__(self) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        seen = 0
        try:
            async for chunk in self._inner:
                seen += len(chunk)
                if seen > self._limit:
                    raise FetchError(_too_large(self._host, self._limit))
                if loop.time() > self._deadline:
                    raise FetchError(f"{self._host} took too long to send", transient=True)
                yield chunk
        except httpx.TransportError as exc:
            raise _transport_error(self._host, exc) from None

    async def aclose(self) -> None:
        await self._inner.aclose()


def _too_large(host: str, limit: int) -> str:
    return f"the response from {host} is larger than {limit:,} bytes"


class _GuardedTransport(httpx.AsyncHTTPTransport):
    def __init__(
        self,
        allow: frozenset[tuple[str, int]],
        limit: int,
        total_timeout: float,
        verify: ssl.SSLContext | bool,
    ) -> None:
        super().__init__(verify=verify, trust_env=False)
        # httpx has no network-backend option, but its transport is a thin
        # wrapper over this httpcore pool, which does: swap in one that vets.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=10,
            max_keepalive_connections=5,
            keepalive_expiry=5.0,
            network_backend=_VettingBackend(allow),
        )
        self._limit = limit
        self._total_timeout = total_timeout

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if request.url.scheme not in _SCHEMES:
            raise FetchError("refused: only http and https URLs are fetched")
        deadline = asyncio.get_running_loop().time() + self._total_timeout
        response = await super().handle_async_request(request)
        problem = None
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._limit:
            problem = FetchError(_too_large(host, self._limit))
        elif response.headers.get("content-encoding", "identity").lower() != "identity":
            # Decompressed, a small body can be gigabytes: `limit` must count what is held.
            problem = FetchError(f"{host} sent a compressed response, which is not accepted")
        if problem is not None:
            await response.aclose()
            raise problem
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _CappedStream(response.stream, host, self._limit, deadline)
        return response


def _transport_error(host: str, exc: httpx.TransportError) -> FetchError:
    if isinstance(exc, httpx.UnsupportedProtocol):
        return FetchError("refused: only http and https URLs are fetched")
    if isinstance(exc, httpx.TimeoutException):
        return FetchError(f"{host} did not answer in time", transient=True)
    if isinstance(exc, httpx.ConnectError):
        return FetchError(f"could not connect to {host}", transient=True)
    return FetchError(f"the connection to {host} failed", transient=True)


class GuardedClient(httpx.AsyncClient):
    """An httpx client whose every failure is a `FetchError` (see the module docstring)."""

    def __init__(self, *, total_timeout: float, **options: Any) -> None:
        super().__init__(**options)
        self._total_timeout = total_timeout

    async def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        host = request.url.host
        try:
            # A streamed body is timed by the transport's stream as it is read.
            async with asyncio.timeout(None if kwargs.get("stream") else self._total_timeout):
                return await super().send(request, **kwargs)
        except httpx.TooManyRedirects:
            raise FetchError(f"refused: more than {self.max_redirects} redirects") from None
        except httpx.TransportError as exc:
            raise _transport_error(_host_of(exc, host), exc) from None
        except TimeoutError:
            raise FetchError(f"{host} took too long to answer", transient=True) from None


def _host_of(exc: httpx.RequestError, fallback: str) -> str:
    """The host of the request that failed: after a redirect, not the first one's."""
    try:
        return exc.request.url.host
    except RuntimeError:  # raised before any request was made
        return fallback


def guarded_client(
    *,
    allow_hosts: Iterable[str] = (),
    limit: int = DEFAULT_LIMIT,
    timeout: float = DEFAULT_TIMEOUT,
    total_timeout: float = DEFAULT_TOTAL_TIMEOUT,
    max_redirects: int = DEFAULT_MAX_REDIRECTS,
    verify: ssl.SSLContext | bool = True,
    **client_options: Any,
) -> GuardedClient:
    """A client for URLs we don't control; use it as `async with` (see the module docstring).

    `allow_hosts`: "host:port" entries exempt from the address check.
    `client_options`: anything else httpx.AsyncClient takes (headers, auth, ...).
    """
    allow = frozenset(_split_host_port(entry) for entry in allow_hosts)
    headers = httpx.Headers(client_options.pop("headers", None))
    headers["Accept-Encoding"] = "identity"
    return GuardedClient(
        total_timeout=total_timeout,
        transport=_GuardedTransport(allow, limit, total_timeout, verify),
        follow_redirects=True,
        max_redirects=max_redirects,
        timeout=httpx.Timeout(timeout),
        trust_env=False,
        headers=headers,
        **client_options,
    )
