"""The SSRF guard, against real HTTP servers on loopback."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpcore
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from inbox.channels import http_guard
from inbox.channels.http_guard import FetchError, guarded_client
from inbox.config import load_settings
from tests.live import serve

CHUNK = b"x" * 1000


def _app(hits: list[str]) -> Starlette:
    async def ok(request: Request) -> Response:
        hits.append(request.url.path)
        return PlainTextResponse("hello")

    async def big(request: Request) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(50):
                yield CHUNK

        return StreamingResponse(chunks(), media_type="application/octet-stream")

    async def declared(request: Request) -> Response:
        return Response(CHUNK * 5, media_type="application/octet-stream")

    async def drip(request: Request) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(20):
                yield b"."
                await asyncio.sleep(0.1)

        return StreamingResponse(chunks(), media_type="text/plain")

    async def gzipped(request: Request) -> Response:
        return Response(b"\x1f\x8b" + CHUNK, headers={"Content-Encoding": "gzip"})

    async def redirect(request: Request) -> Response:
        return RedirectResponse(request.query_params["to"], status_code=302)

    async def loop(request: Request) -> Response:
        return RedirectResponse("/loop", status_code=302)

    return Starlette(
        routes=[
            Route("/ok", ok),
            Route("/big", big),
            Route("/declared", declared),
            Route("/drip", drip),
            Route("/gzip", gzipped),
            Route("/redirect", redirect),
            Route("/loop", loop),
        ]
    )


def listed(base: str) -> list[str]:
    """The allow-list naming this server ("127.0.0.1:PORT")."""
    return [base.removeprefix("http://")]


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[str]]]:
    hits: list[str] = []
    async with serve(_app(hits)) as base:
        yield base, hits


@pytest.fixture
async def other_server() -> AsyncIterator[tuple[str, list[str]]]:
    """A second loopback service, which no allow-list names."""
    hits: list[str] = []
    async with serve(_app(hits)) as base:
        yield base, hits


async def _refusal(url: str, **options: object) -> FetchError:
    async with guarded_client(**options) as client:  # type: ignore[arg-type]
        with pytest.raises(FetchError) as raised:
            await client.get(url)
    return raised.value


async def test_an_allow_listed_host_is_fetched(server: tuple[str, list[str]]) -> None:
    base, hits = server
    async with guarded_client(allow_hosts=listed(base)) as client:
        response = await client.get(f"{base}/ok")
    assert (response.status_code, response.text) == (200, "hello")
    assert hits == ["/ok"]


async def test_a_loopback_server_is_refused_unless_listed(server: tuple[str, list[str]]) -> None:
    base, hits = server
    port = base.rsplit(":", 1)[1]
    for url in (
        f"{base}/ok",
        f"http://localhost:{port}/ok",
        f"http://[::ffff:127.0.0.1]:{port}/ok",
    ):
        refused = await _refusal(url)
        assert "loopback" in refused.reason, url
        assert not refused.transient
        # The reason names the host, never the URL (URLs carry tokens).
        assert "/ok" not in refused.reason
    assert hits == []


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback here")
async def test_the_ipv6_loopback_is_refused() -> None:
    hits: list[str] = []
    async with serve(_app(hits), host="::1") as base:
        refused = await _refusal(f"{base}/ok")
        assert refused.reason.endswith("is a loopback address")
        # Listed, the same server answers: the refusal above was the guard's.
        async with guarded_client(allow_hosts=listed(base)) as client:
            assert (await client.get(f"{base}/ok")).text == "hello"
    assert hits == ["/ok"]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://10.1.2.3/", "private"),
        ("http://192.168.0.10:8080/", "private"),
        ("http://172.16.5.4/", "private"),
        ("http://[fd12:3456::1]/", "private"),
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("http://[fd00:ec2::254]/", "cloud metadata"),
        ("http://100.100.100.200/", "cloud metadata"),
        ("http://169.254.1.1/", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://100.64.0.1/", "CGNAT"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://224.0.0.1/", "multicast"),
        ("http://240.0.0.1/", "reserved"),
        ("http://[::ffff:10.0.0.1]/", "private"),
        ("http://[2002:7f00:1::]/", "loopback"),  # 6to4 wrapping 127.0.0.1
        ("http://[64:ff9b::a9fe:a9fe]/", "cloud metadata"),  # NAT64 of 169.254.169.254
        ("http://2130706433/", "loopback"),  # 127.0.0.1 as one number
    ],
)
async def test_non_public_addresses_are_refused_before_connecting(url: str, problem: str) -> None:
    refused = await _refusal(url, timeout=2)
    assert refused.reason.startswith("refused: ")
    assert problem in refused.reason


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/x", "file:///etc/passwd", "gopher://example.com/"]
)
async def test_only_http_and_https_are_fetched(url: str) -> None:
    refused = await _refusal(url)
    assert refused.reason == "refused: only http and https URLs are fetched"


@pytest.mark.parametrize("target", ["other", "http://169.254.169.254/latest/meta-data/"])
async def test_a_listed_host_redirecting_elsewhere_is_refused_after_the_redirect(
    server: tuple[str, list[str]], other_server: tuple[str, list[str]], target: str
) -> None:
    base, _ = server
    other, other_hits = other_server
    to = f"{other}/ok" if target == "other" else target
    refused = await _refusal(f"{base}/redirect?to={to}", allow_hosts=listed(base))
    assert "refused" in refused.reason
    assert ("loopback" if target == "other" else "cloud metadata") in refused.reason
    assert other_hits == []


async def test_redirects_are_capped(server: tuple[str, list[str]]) -> None:
    base, _ = server
    refused = await _refusal(f"{base}/loop", allow_hosts=listed(base), max_redirects=3)
    assert refused.reason == "refused: more than 3 redirects"


@pytest.mark.parametrize("path", ["/big", "/declared"])
async def test_an_oversized_body_is_cut_off(server: tuple[str, list[str]], path: str) -> None:
    base, _ = server
    refused = await _refusal(f"{base}{path}", allow_hosts=listed(base), limit=4000)
    assert refused.reason == "the response from 127.0.0.1 is larger than 4,000 bytes"
    # Streaming stops at the limit too.
    async with guarded_client(allow_hosts=listed(base), limit=4000) as client:
        with pytest.raises(FetchError, match="larger than"):
            async with client.stream("GET", f"{base}/big") as response:
                async for _ in response.aiter_bytes():
                    pass


async def test_a_compressed_body_is_refused(server: tuple[str, list[str]]) -> None:
    base, _ = server
    refused = await _refusal(f"{base}/gzip", allow_hosts=listed(base))
    assert "compressed" in refused.reason


async def test_a_slow_drip_runs_out_of_time(server: tuple[str, list[str]]) -> None:
    base, _ = server
    refused = await _refusal(f"{base}/drip", allow_hosts=listed(base), total_timeout=0.5)
    assert refused.transient
    assert "too long" in refused.reason


async def test_the_vetted_address_is_the_one_connected_to(
    server: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: a second lookup would now answer loopback; there is none."""
    base, hits = server
    port = int(base.rsplit(":", 1)[1])
    answers = iter(["93.184.215.14", "127.0.0.1"])
    lookups: list[str] = []
    connects: list[str] = []

    async def rebinding_resolver(host: str, port: int) -> list[http_guard.IPAddress]:
        lookups.append(host)
        return [ipaddress.ip_address(next(answers))]

    async def recording_connect(self: object, host: str, port: int, *args: object) -> object:
        connects.append(host)
        # The public address isn't reachable from a test: fail as a dead host would.
        raise httpcore.ConnectError("unreachable")

    monkeypatch.setattr(http_guard, "resolve", rebinding_resolver)
    monkeypatch.setattr(httpcore.AnyIOBackend, "connect_tcp", recording_connect)
    refused = await _refusal(f"http://media.example.test:{port}/ok")
    assert lookups == ["media.example.test"]
    assert connects == ["93.184.215.14"]
    assert refused.reason == "could not connect to media.example.test"
    assert refused.transient
    assert hits == []


async def test_a_name_with_any_non_public_address_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def mixed(host: str, port: int) -> list[http_guard.IPAddress]:
        return [ipaddress.ip_address("93.184.215.14"), ipaddress.ip_address("10.0.0.7")]

    monkeypatch.setattr(http_guard, "resolve", mixed)
    refused = await _refusal("https://cdn.example.test/file.jpg")
    assert refused.reason == "refused: cdn.example.test resolves to a private address"


async def test_the_allow_list_setting_names_exact_host_port_pairs(
    server: tuple[str, list[str]], tmp_path: Path
) -> None:
    base, hits = server
    env = {"INBOX_DATA_DIR": str(tmp_path), "INBOX_SECRET_KEY": "k"}
    listed_env = {**env, "INBOX_FETCH_ALLOW_HOSTS": f" {listed(base)[0]} , [::1]:9000"}
    settings = load_settings(listed_env)
    assert settings.fetch_allow_hosts == (listed(base)[0], "[::1]:9000")
    async with guarded_client(allow_hosts=settings.fetch_allow_hosts) as client:
        assert (await client.get(f"{base}/ok")).text == "hello"
    # The same host on another port is not listed.
    other_port = f"http://127.0.0.1:{int(base.rsplit(':', 1)[1]) + 1}/ok"
    assert "loopback" in (await _refusal(other_port, allow_hosts=settings.fetch_allow_hosts)).reason
    with pytest.raises(ValueError, match="not host:port"):
        load_settings({**env, "INBOX_FETCH_ALLOW_HOSTS": "127.0.0.1"})
    assert hits == ["/ok"]
