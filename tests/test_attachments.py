"""Attachments served to agents: only to who may see them, never as active content."""

from __future__ import annotations

import hashlib
import itertools
import os
import re
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.types import Message as AsgiMessage
from starlette.types import Receive, Scope, Send

from inbox.actions.messages import do_post_note
from inbox.channels.base import InboundAttachment
from inbox.models import Attachment, Message
from inbox.profiles.identities import ref
from inbox.runtime import Runtime
from inbox.views.attachments import content_disposition, safe_media_type
from tests.conftest import World, login
from tests.test_pages import inbound, signed_in

PDF = b"%PDF-1.4\n% a customer's invoice\n%%EOF\n"
# The 8-byte PNG signature and an IHDR start: enough for a type, not a picture.
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
_externals = itertools.count(1)


async def attach(
    rt: Runtime,
    inbox: Any,
    data: bytes,
    filename: str,
    content_type: str,
    *,
    store: bool = True,
    sha256: str | None = None,
) -> tuple[Message, Attachment]:
    """An inbound email from Maria carrying one attachment, its bytes in the blob store."""
    digest = rt.blobs.put(data) if store else sha256 or hashlib.sha256(data).hexdigest()
    message = await inbound(
        rt,
        inbox,
        f"att-{next(_externals)}",
        (ref("email", "maria@example.test"),),
        "Please see the attachment.",
        name="Maria Lopez",
        attachments=(InboundAttachment(filename, content_type, len(data), digest),),
    )
    return message, await only_attachment(rt, message.id)


async def only_attachment(rt: Runtime, message_id: int) -> Attachment:
    async with rt.read_sessions() as db:
        [found] = (
            await db.scalars(select(Attachment).where(Attachment.message_id == message_id))
        ).all()
    return found


def disposition_params(value: str) -> tuple[str, str, str]:
    """(disposition, plain filename, decoded filename*) of our Content-Disposition."""
    match = re.fullmatch(
        r'(inline|attachment); filename="([^"\\\x00-\x1f\x7f]*)"; '
        r"filename\*=UTF-8''([A-Za-z0-9!#$&+\-.^_`|~%]*)",
        value,
    )
    assert match, value
    return match.group(1), match.group(2), unquote(match.group(3), errors="strict")


async def test_agent_downloads_the_exact_bytes_with_protective_headers(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    message, attachment = await attach(rt, world.email_inbox, PDF, "invoice.pdf", "application/pdf")
    await login(client, "ana@example.test")

    response = await client.get(f"/attachments/{attachment.id}")

    assert response.status_code == 200
    assert response.content == PDF
    headers = response.headers
    assert headers["content-type"] == "application/pdf"
    assert headers["content-length"] == str(len(PDF))
    assert headers["content-disposition"] == (
        "attachment; filename=\"invoice.pdf\"; filename*=UTF-8''invoice.pdf"
    )
    assert headers["x-content-type-options"] == "nosniff"
    csp = headers["content-security-policy"]
    assert csp.startswith("sandbox;") and "default-src 'none'" in csp
    assert "script-src" not in csp and "style-src 'none'" in csp
    assert headers["cache-control"].startswith("private, max-age=")
    assert headers["etag"] == f'"{hashlib.sha256(PDF).hexdigest()}"'
    assert headers["cross-origin-resource-policy"] == "same-origin"

    # The timeline links to it: a save link with the name and a human size.
    page = (await client.get(f"/conversations/{message.conversation_id}")).text
    link = re.search(rf'<a [^>]*href="/attachments/{attachment.id}"[^>]*>([^<]*)</a>', page)
    assert link, page
    assert 'rel="noopener"' in link.group(0) and " download" in link.group(0)
    assert link.group(1) == "invoice.pdf"
    assert f"application/pdf · {len(PDF)} B" in page


async def test_bearer_token_works_too(client: httpx.AsyncClient, rt: Runtime, world: World) -> None:
    _, attachment = await attach(rt, world.email_inbox, PDF, "invoice.pdf", "application/pdf")
    ana = {"Authorization": f"Bearer {world.tokens['ana']}"}
    olga = {"Authorization": f"Bearer {world.tokens['olga']}"}
    assert (await client.get(f"/attachments/{attachment.id}", headers=ana)).content == PDF
    assert (await client.get(f"/attachments/{attachment.id}", headers=olga)).status_code == 404


async def test_signed_out_visitor_gets_nothing(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    _, attachment = await attach(rt, world.email_inbox, PDF, "invoice.pdf", "application/pdf")
    response = await client.get(f"/attachments/{attachment.id}")
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert PDF not in response.content


async def test_raster_image_is_inline_and_opens_in_a_tab(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    data = PNG + os.urandom(3 * 1024 - len(PNG))
    message, attachment = await attach(rt, world.email_inbox, data, "photo.png", "IMAGE/PNG")
    await login(client, "ana@example.test")

    response = await client.get(f"/attachments/{attachment.id}")

    assert response.content == data
    assert response.headers["content-type"] == "image/png"
    assert disposition_params(response.headers["content-disposition"])[0] == "inline"
    page = (await client.get(f"/conversations/{message.conversation_id}")).text
    link = re.search(rf'<a [^>]*href="/attachments/{attachment.id}"[^>]*>', page)
    assert link and 'target="_blank"' in link.group(0) and "download" not in link.group(0)
    assert 'rel="noopener"' in link.group(0)
    assert "IMAGE/PNG · 3.0 KB" in page


@pytest.mark.parametrize(
    ("filename", "declared", "data"),
    [
        ("page.html", "text/html", b"<script>alert(document.cookie)</script>"),
        ("page.htm", "text/html; charset=utf-8", b"<html><script>alert(1)</script></html>"),
        ("logo.svg", "image/svg+xml", b'<svg xmlns="http://www.w3.org/2000/svg" onload="x()"/>'),
        ("page.xhtml", "application/xhtml+xml", b"<html xmlns='http://www.w3.org/1999/xhtml'/>"),
        ("data.xml", "text/xml", b"<?xml version='1.0'?><a/>"),
        ("data.xml", "application/xml", b"<?xml version='1.0'?><b/>"),
        ("app.js", "text/javascript", b"fetch('/logout', {method: 'POST'})"),
        ("app.js", "application/javascript", b"navigator.serviceWorker.register('x')"),
        ("look.css", "text/css", b"body { background: url(//evil.example/) }"),
        ("feed.rss", "application/rss+xml", b"<rss/>"),
        ("stream", "multipart/x-mixed-replace; boundary=x", b"--x\r\n"),
        ("no type", "definitely not a type", b"<script>1</script>"),
    ],
)
async def test_active_content_is_downloaded_as_inert_bytes(
    client: httpx.AsyncClient,
    rt: Runtime,
    world: World,
    filename: str,
    declared: str,
    data: bytes,
) -> None:
    _, attachment = await attach(rt, world.email_inbox, data, filename, declared)
    await login(client, "ana@example.test")

    response = await client.get(f"/attachments/{attachment.id}")

    assert response.status_code == 200 and response.content == data
    assert response.headers["content-type"] == "application/octet-stream"
    disposition, plain, _ = disposition_params(response.headers["content-disposition"])
    assert disposition == "attachment" and plain == filename
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"].startswith("sandbox;")


def test_media_types_keep_only_what_is_passive() -> None:
    kept = {
        "application/pdf": "application/pdf",
        "Application/PDF; name=x.pdf": "application/pdf",
        "application/zip": "application/zip",
        "application/json": "application/json",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        ),
        "audio/mpeg": "audio/mpeg",
        "video/mp4": "video/mp4",
        "message/rfc822": "message/rfc822",
        "text/plain; charset=iso-8859-1": "text/plain",
        "text/csv": "text/csv",
        "image/jpeg": "image/jpeg",
        "image/tiff": "image/tiff",
    }
    for declared, sent in kept.items():
        assert safe_media_type(declared) == sent, declared
    for declared in (
        "",
        "pdf",
        "text/",
        "/html",
        "text/html",
        "text/plain\r\nX-Evil: 1",
        "text/plain/extra",
        "text/vtt",
        "text/xsl",
        "text/ecmascript",
        "text/x-unknown",
        "image/svg+xml",
        "image/x-unknown",
        "application/x-javascript",
        "application/ecmascript",
        "application/wasm",
        "application/x-shockwave-flash",
        "application/xslt+xml",
        "application/mathml+xml",
        "application/vnd.ms-htmlhelp",
        "multipart/mixed",
        "x-custom/thing",
        "a" * 200 + "/b",
    ):
        assert safe_media_type(declared) == "application/octet-stream", declared


async def test_hostile_file_names_are_encoded_safely(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    hostile = '..\\../évil "quoted"\r\nSet-Cookie: x=1;\x00 résumé 日本\u202egpj.pdf'
    message, attachment = await attach(rt, world.email_inbox, PDF, hostile, "application/pdf")
    await login(client, "ana@example.test")

    response = await client.get(f"/attachments/{attachment.id}")

    assert response.status_code == 200 and response.content == PDF
    # No header was split off: CR and LF never reach the wire.
    assert all(b"\r" not in v and b"\n" not in v for _, v in response.headers.raw)
    assert "x" not in client.cookies
    disposition, plain, full = disposition_params(response.headers["content-disposition"])
    assert disposition == "attachment"
    # The UTF-8 name keeps every visible character but quotes, separators and controls.
    assert full == "_.._évil quotedSet-Cookie: x=1; résumé 日本gpj.pdf"
    # The ASCII fallback: no quote, backslash, slash, percent, control or non-ASCII.
    assert plain.isascii() and not set(plain) & set('"\\/%\r\n;')
    assert plain == "_.._evil quotedSet-Cookie_ x=1_ resume __gpj.pdf"
    # The page shows the name as escaped text inside the link.
    page = (await client.get(f"/conversations/{message.conversation_id}")).text
    assert "&#34;quoted&#34;" in page and '"quoted"' not in page


def test_content_disposition_edge_cases() -> None:
    def parts(name: str) -> tuple[str, str, str]:
        return disposition_params(content_disposition("attachment", name, "attachment-7"))

    assert parts("日本語.pdf") == ("attachment", "attachment-7.pdf", "日本語.pdf")
    assert parts("Привет") == ("attachment", "attachment-7", "Привет")
    assert parts("") == ("attachment", "attachment-7", "attachment-7")
    assert parts('"\r\n"') == ("attachment", "attachment-7", "attachment-7")
    assert parts(".htaccess") == ("attachment", "htaccess", "htaccess")
    assert parts("../../etc/passwd") == ("attachment", "_.._etc_passwd", "_.._etc_passwd")
    assert parts("100% done.txt") == ("attachment", "100_ done.txt", "100% done.txt")
    assert parts("Cafe\u0301.txt") == ("attachment", "Cafe.txt", "Café.txt")


async def test_agent_who_cannot_see_the_inbox_gets_the_same_404_as_a_missing_id(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    _, attachment = await attach(rt, world.email_inbox, PDF, "invoice.pdf", "application/pdf")
    await login(client, "olga@example.test")  # Sales only: no Support email

    hidden = await client.get(f"/attachments/{attachment.id}")
    missing = await client.get(f"/attachments/{attachment.id + 1000}")
    beyond = await client.get(f"/attachments/{2**40}")

    assert hidden.status_code == missing.status_code == beyond.status_code == 404
    assert hidden.text == missing.text == beyond.text
    assert "attachment not found" in hidden.text
    assert PDF not in hidden.content
    # Even a correct guess of its ETag confirms nothing.
    etag = f'"{hashlib.sha256(PDF).hexdigest()}"'
    guessed = await client.get(f"/attachments/{attachment.id}", headers={"If-None-Match": etag})
    assert guessed.status_code == 404 and guessed.text == missing.text


async def test_a_notes_attachment_follows_its_conversation(
    app: Starlette, rt: Runtime, world: World
) -> None:
    message, _ = await attach(rt, world.email_inbox, PDF, "invoice.pdf", "application/pdf")
    note = await do_post_note(rt, world.ana, message.conversation_id, "Internal: see the scan")
    data = b"scan of the signed form"
    # No action attaches files to notes yet; the row is what one would write.
    async with rt.write_sessions() as db:
        row = Attachment(
            message_id=note.id,
            filename="scan.txt",
            content_type="text/plain",
            size=len(data),
            sha256=rt.blobs.put(data),
        )
        db.add(row)
        await db.commit()
        attachment_id = row.id
    async with signed_in(app, "ben") as (ben, _), signed_in(app, "olga") as (olga, _):
        assert (await ben.get(f"/attachments/{attachment_id}")).content == data
        hidden = await olga.get(f"/attachments/{attachment_id}")
        missing = await olga.get(f"/attachments/{attachment_id + 1000}")
    assert hidden.status_code == 404 and hidden.text == missing.text


async def test_etag_revalidation_answers_304(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    _, attachment = await attach(rt, world.email_inbox, PDF, "invoice.pdf", "application/pdf")
    await login(client, "ana@example.test")
    url = f"/attachments/{attachment.id}"
    etag = (await client.get(url)).headers["etag"]

    for condition in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        response = await client.get(url, headers={"If-None-Match": condition})
        assert response.status_code == 304, condition
        assert response.content == b""
        assert response.headers["etag"] == etag
        assert response.headers["cache-control"].startswith("private")
        assert response.headers["x-content-type-options"] == "nosniff"

    changed = await client.get(url, headers={"If-None-Match": '"something-else"'})
    assert changed.status_code == 200 and changed.content == PDF


async def test_missing_blob_is_a_clear_404(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    never_stored = os.urandom(64)
    _, gone = await attach(
        rt, world.email_inbox, never_stored, "lost.pdf", "application/pdf", store=False
    )
    _, malformed = await attach(
        rt, world.email_inbox, PDF, "odd.pdf", "application/pdf", store=False, sha256="../x"
    )
    await login(client, "ana@example.test")

    for attachment in (gone, malformed):
        response = await client.get(f"/attachments/{attachment.id}")
        assert response.status_code == 404
        assert "missing from storage" in response.text


async def test_large_file_is_streamed_in_chunks(app: Starlette, rt: Runtime, world: World) -> None:
    data = os.urandom(5 * 1024 * 1024)
    mib = 1 << 20
    sha, size = rt.blobs.put_stream(data[i : i + mib] for i in range(0, len(data), mib))
    assert size == len(data)
    _, attachment = await attach(
        rt, world.email_inbox, data, "backup.zip", "application/zip", sha256=sha, store=False
    )
    bodies: list[int] = []

    async def spy(scope: Scope, receive: Receive, send: Send) -> None:
        async def sending(message: AsgiMessage) -> None:
            if message["type"] == "http.response.body" and scope["path"].startswith("/att"):
                bodies.append(len(message.get("body", b"")))
            await send(message)

        await app(scope, receive, sending)

    transport = httpx.ASGITransport(app=spy)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        await login(c, "ana@example.test")
        response = await c.get(f"/attachments/{attachment.id}")
        head = await c.head(f"/attachments/{attachment.id}")
        part = await c.get(f"/attachments/{attachment.id}", headers={"Range": "bytes=100-199"})

    assert response.status_code == 200 and response.content == data
    assert response.headers["content-length"] == str(len(data))
    # Sent piece by piece, never as one 5 MB body.
    assert max(bodies) <= 64 * 1024 and len(bodies) >= len(data) // (64 * 1024)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(data))
    assert part.status_code == 206 and part.content == data[100:200]
