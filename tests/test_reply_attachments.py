"""Files agents attach to email replies: limits, storage, the email sent, timeline, API."""

from __future__ import annotations

import html
import itertools
import os
import re
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import ConsoleMessage, async_playwright, expect
from sqlalchemy import func, select
from starlette.applications import Starlette

from inbox.actions.inboxes import do_update_email_settings
from inbox.actions.messages import NewAttachment, do_post_reply
from inbox.channels.email.sender import send_due
from inbox.channels.email.settings import EmailSecrets
from inbox.channels.email.smtp_send import SmtpSettings
from inbox.channels.ingest import ingest
from inbox.models import Attachment, Delivery, Message, OutboundEmail
from inbox.runtime import Runtime
from inbox.views.uploads import clean_content_type, clean_filename
from tests.conftest import PASSWORD, World, login
from tests.helpers import inbound
from tests.live import serve
from tests.smtp_server import Recorder
from tests.test_api_openapi import _check, _document
from tests.test_api_support import bearer
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, require_chromium
from tests.test_email_threading import email
from tests.test_outbound_mail import SETTINGS

_threads = itertools.count(1)
# The non-ASCII name travels RFC 2231-encoded; the binary file has every byte value.
NAME = "Rechnung März 年度 (Kopie).pdf"
PDF = b"%PDF-1.4\n% invoice \xe2\x82\xac 42\n%%EOF\n"


def binary() -> bytes:
    # Unique per call: blobs are shared by the whole run, and tests delete some.
    return bytes(range(256)) * 3 + os.urandom(64)


async def email_conversation(rt: Runtime, world: World, *, max_mb: int | None = None) -> int:
    settings = (
        SETTINGS if max_mb is None else SETTINGS.model_copy(update={"max_message_mb": max_mb})
    )
    await do_update_email_settings(
        rt, world.admin, world.email_inbox.id, settings, EmailSecrets(imap_password="pw")
    )
    first = await ingest(rt, email(world.email_inbox.id, f"<att-{next(_threads)}@mail.test>"))
    return first.message.conversation_id


async def htmx_client(client: httpx.AsyncClient, who: str = "ana") -> dict[str, str]:
    csrf = await login(client, f"{who}@example.test")
    return {"HX-Request": "true", "X-CSRF-Token": csrf}


def files(*items: tuple[str, bytes, str]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", item) for item in items]


async def stored_counts(rt: Runtime, conversation_id: int) -> tuple[int, int, int]:
    """(messages in the conversation, attachment rows, blob files on disk)."""
    async with rt.read_sessions() as db:
        messages = await db.scalar(
            select(func.count()).where(Message.conversation_id == conversation_id)
        )
        attachments = await db.scalar(select(func.count()).select_from(Attachment))
    blobs = sum(1 for p in rt.blobs.root.rglob("*") if p.is_file() and "tmp" not in p.parts)
    return int(messages or 0), int(attachments or 0), blobs


def flash_text(response: httpx.Response) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", response.text)).strip()


def sent_parts(recorder: Recorder) -> list[tuple[str | None, str, bytes]]:
    (envelope,) = recorder.received
    assert isinstance(envelope.content, bytes)
    mail = message_from_bytes(envelope.content, policy=email_policy.default)
    assert isinstance(mail, EmailMessage)
    parts = []
    for part in mail.iter_attachments():
        assert part["Content-Transfer-Encoding"] == "base64"
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        parts.append((part.get_filename(), part.get_content_type(), payload))
    return parts


async def test_a_reply_with_two_files_goes_out_whole_and_shows_its_links(
    client: httpx.AsyncClient, rt: Runtime, world: World, smtp: tuple[Recorder, SmtpSettings]
) -> None:
    recorder, server = smtp
    conv_id = await email_conversation(rt, world)
    headers = await htmx_client(client)
    data = binary()
    page = await client.get(f"/conversations/{conv_id}")
    assert 'enctype="multipart/form-data"' in page.text and 'type="file" name="files"' in page.text

    response = await client.post(
        f"/conversations/{conv_id}/replies",
        data={"text": "Your invoice and the log, attached."},
        files=files(
            (NAME, PDF, "application/pdf"),
            # A Windows path and a parameter: only the name and the type/subtype are kept.
            ("C:\\Users\\ana\\trace.bin", data, "Application/Octet-Stream; name=x"),
        ),
        headers=headers,
    )
    assert response.status_code == 200, response.text
    # The author's copy links to both at once; the composer's file input comes back empty.
    links = re.findall(r'href="(/attachments/\d+)"[^>]*>([^<]+)</a>', response.text)
    assert [html.unescape(name) for _, name in links] == [NAME, "trace.bin"]
    assert 'id="composer-files"' in response.text

    assert await send_from_worker(rt, world, server) == 1
    assert sent_parts(recorder) == [
        (NAME, "application/pdf", PDF),
        ("trace.bin", "application/octet-stream", data),
    ]
    (envelope,) = recorder.received
    assert b"filename*" in envelope.content  # the non-ASCII name, RFC 2231-encoded

    # The timeline shows them as on any message, and they download as sent.
    page = await client.get(f"/conversations/{conv_id}")
    reply = page.text.split("Your invoice and the log, attached.", 1)[1].split("</li>\n", 3)
    assert all(url in "".join(reply) for url, _ in links)
    for (url, _), expected in zip(links, (PDF, data), strict=True):
        download = await client.get(url)
        assert download.status_code == 200 and download.content == expected


async def send_from_worker(rt: Runtime, world: World, server: SmtpSettings) -> int:
    return await send_due(rt, world.email_inbox.id, server, rt.blobs)


async def test_the_inbox_limit_counts_all_files_together_and_keeps_the_draft(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    conv_id = await email_conversation(rt, world, max_mb=1)
    headers = await htmx_client(client)
    before = await stored_counts(rt, conv_id)
    page = await client.get(f"/conversations/{conv_id}")
    assert "up to 10 files, 1 MB in all" in page.text
    half = 600 * 1024
    response = await client.post(
        f"/conversations/{conv_id}/replies",
        data={"text": "Both logs"},
        files=files(
            ("a.log", os.urandom(half), "text/plain"), ("b.log", b"x" * half, "text/plain")
        ),
        headers=headers,
    )
    assert response.status_code == 413
    assert "larger than the 1 MB allowed" in flash_text(response)
    # Shown in the flash area; the composer (text and chosen files) is left alone.
    assert response.headers["HX-Retarget"] == "#flash"
    assert "composer" not in response.text
    assert await stored_counts(rt, conv_id) == before


async def test_too_many_files_are_refused(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    conv_id = await email_conversation(rt, world)
    headers = await htmx_client(client)
    before = await stored_counts(rt, conv_id)
    eleven = files(*((f"f{n}.txt", os.urandom(8), "text/plain") for n in range(11)))
    response = await client.post(
        f"/conversations/{conv_id}/replies",
        data={"text": "All of them"},
        files=eleven,
        headers=headers,
    )
    assert response.status_code == 400
    assert flash_text(response) == "a reply can carry at most 10 files"
    assert await stored_counts(rt, conv_id) == before


async def test_a_note_takes_no_file_but_an_empty_file_input_is_fine(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    conv_id = await email_conversation(rt, world)
    headers = await htmx_client(client)
    before = await stored_counts(rt, conv_id)
    refused = await client.post(
        f"/conversations/{conv_id}/notes",
        data={"text": "See the file"},
        files=files(("secret.txt", os.urandom(16), "text/plain")),
        headers=headers,
    )
    assert refused.status_code == 400
    assert flash_text(refused) == "a note can't carry attachments: attach files to a reply"
    assert await stored_counts(rt, conv_id) == before
    # What a browser sends for "Add note" with no file chosen: one nameless empty part.
    note = await client.post(
        f"/conversations/{conv_id}/notes",
        data={"text": "Just a note"},
        files=files(("", b"", "application/octet-stream")),
        headers=headers,
    )
    assert note.status_code == 200, note.text
    assert "Just a note" in note.text and "/attachments/" not in note.text


async def test_a_chat_reply_takes_no_file(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    received = await ingest(rt, inbound(world.chat_inbox.id, chat_id="visitor-att"))
    conv_id = received.message.conversation_id
    headers = await htmx_client(client)
    page = await client.get(f"/conversations/{conv_id}")
    assert 'type="file"' not in page.text and "multipart" not in page.text
    before = await stored_counts(rt, conv_id)
    response = await client.post(
        f"/conversations/{conv_id}/replies",
        data={"text": "Here you go"},
        files=files(("photo.png", os.urandom(32), "image/png")),
        headers=headers,
    )
    assert response.status_code == 400
    assert flash_text(response) == (
        "replies in Website chat can't carry attachments: only email replies can"
    )
    assert await stored_counts(rt, conv_id) == before


async def test_a_multipart_post_needs_the_csrf_token(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    conv_id = await email_conversation(rt, world)
    csrf = await login(client, "ana@example.test")
    before = await stored_counts(rt, conv_id)
    url = f"/conversations/{conv_id}/replies"
    attached = files(("a.txt", os.urandom(16), "text/plain"))
    missing = await client.post(url, data={"text": "Hi"}, files=attached)
    wrong = await client.post(
        url, data={"text": "Hi"}, files=attached, headers={"X-CSRF-Token": "forged"}
    )
    wrong_field = await client.post(
        url, data={"text": "Hi", "csrf_token": "forged"}, files=attached
    )
    for refused in (missing, wrong, wrong_field):
        assert refused.status_code == 403
        assert "CSRF token missing or wrong" in refused.text
    assert await stored_counts(rt, conv_id) == before
    # A form posted without JavaScript carries the token as a field of the multipart body.
    plain = await client.post(url, data={"text": "Hi", "csrf_token": csrf}, files=attached)
    assert plain.status_code == 303
    messages, attachments, _ = await stored_counts(rt, conv_id)
    assert (messages, attachments) == (before[0] + 1, before[1] + 1)


async def test_the_api_takes_a_multipart_reply_and_gives_each_file_a_url(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    conv_id = await email_conversation(rt, world)
    doc = await _document(client, world)
    post = doc["paths"]["/conversations/{id}/messages"]["post"]
    form_ref = post["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"]
    form_schema = doc["components"]["schemas"][form_ref.rsplit("/", 1)[1]]
    assert form_schema["properties"]["files"]["items"]["format"] == "binary"
    ana = bearer(world, "ana")
    url = f"/api/v1/conversations/{conv_id}/messages"
    data = binary()

    response = await client.post(
        url,
        data={"kind": "reply", "text": "The file", "based_on": ""},
        files=files(("report.bin", data, "application/x-custom")),
        headers=ana,
    )
    assert response.status_code == 201, response.text
    _check(doc, "/conversations/{id}/messages", "post", response)
    (attachment,) = response.json()["message"]["attachments"]
    assert attachment["filename"] == "report.bin" and attachment["size"] == len(data)
    assert attachment["url"] == f"/attachments/{attachment['id']}"
    download = await client.get(attachment["url"], headers=ana)
    assert download.status_code == 200 and download.content == data
    detail = await client.get(f"/api/v1/conversations/{conv_id}", headers=ana)
    assert detail.json()["messages"][-1]["attachments"] == [attachment]

    before = await stored_counts(rt, conv_id)
    note = await client.post(
        url,
        data={"kind": "note", "text": "n"},
        files=files(("a.txt", b"a", "text/plain")),
        headers=ana,
    )
    assert note.status_code == 400
    assert note.json()["error"]["message"] == (
        "a note can't carry attachments: attach files to a reply"
    )
    unknown = await client.post(
        url,
        data={"kind": "reply", "text": "t", "color": "red"},
        files=files(("a.txt", b"a", "text/plain")),
        headers=ana,
    )
    assert unknown.status_code == 422
    assert await stored_counts(rt, conv_id) == before
    # JSON as before.
    plain = await client.post(url, json={"kind": "reply", "text": "Plain"}, headers=ana)
    assert plain.status_code == 201 and plain.json()["message"]["attachments"] == []


async def test_a_reply_never_goes_out_without_its_files(
    client: httpx.AsyncClient, rt: Runtime, world: World, smtp: tuple[Recorder, SmtpSettings]
) -> None:
    recorder, server = smtp
    conv_id = await email_conversation(rt, world)
    headers = await htmx_client(client)
    response = await client.post(
        f"/conversations/{conv_id}/replies",
        data={"text": "Attached"},
        files=files(("log.bin", binary(), "application/octet-stream")),
        headers=headers,
    )
    assert response.status_code == 200, response.text
    message_id = int(re.findall(r'id="m-(\d+)"', response.text)[0])
    async with rt.read_sessions() as db:
        queued = await db.get(OutboundEmail, message_id)
    assert queued is not None
    # The worker sends the email composed with the reply: gone from disk, it fails, saying so.
    rt.blobs.path(queued.raw_sha256).unlink()
    assert await send_from_worker(rt, world, server) == 0
    assert recorder.received == []
    page = await client.get(f"/conversations/{conv_id}")
    assert "Not delivered: the composed email is missing from storage" in page.text

    # A file gone before the email could be composed: the reply is kept, failed, never queued.
    missing = NewAttachment("lost.pdf", "application/pdf", 10, "0" * 64)
    reply = await do_post_reply(rt, world.ana, conv_id, "Try this", attachments=[missing])
    assert reply.delivery is Delivery.FAILED
    assert reply.delivery_error == "the attachment lost.pdf is missing from storage"
    async with rt.read_sessions() as db:
        assert await db.get(OutboundEmail, reply.id) is None


def test_names_and_types_are_reduced_to_safe_ones() -> None:
    assert clean_filename("../../etc/passwd") == "passwd"
    assert clean_filename("C:\\fakepath\\report.pdf") == "report.pdf"
    assert clean_filename("invoice\u202efdp.exe") == "invoicefdp.exe"
    assert clean_filename("a\r\nb\x00c.txt") == "abc.txt"
    assert clean_filename(".htaccess") == "htaccess"
    assert clean_filename("..") == "attachment"
    long = clean_filename("x" * 500 + ".pdf")
    assert len(long) == 200 and long.endswith(".pdf")
    assert clean_content_type("Image/PNG; charset=binary") == "image/png"
    assert clean_content_type("text/html\r\nX-Evil: 1") == "application/octet-stream"
    assert clean_content_type("") == "application/octet-stream"
    assert clean_content_type(None) == "application/octet-stream"


async def test_in_chromium_an_agent_attaches_a_file_and_it_is_sent(
    app: Starlette, rt: Runtime, world: World, smtp: tuple[Recorder, SmtpSettings], tmp_path: Path
) -> None:
    require_chromium()
    recorder, server = smtp
    conv_id = await email_conversation(rt, world, max_mb=1)
    chosen = tmp_path / "Lieferschein März.pdf"
    chosen.write_bytes(PDF + os.urandom(32))
    too_big = tmp_path / "scan.tiff"
    too_big.write_bytes(os.urandom(12 * 2**20))
    problems: list[str] = []
    async with serve(app) as base, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            page.set_default_timeout(5000)

            def on_console(msg: ConsoleMessage) -> None:
                # The 413 below is on purpose; htmx reports it as a response error.
                if msg.type == "error" and "413" not in msg.text:
                    problems.append(msg.text)

            page.on("console", on_console)
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            await page.goto(f"{base}/login?next=/conversations/{conv_id}")
            await page.get_by_label("Email").fill("ana@example.test")
            await page.get_by_label("Password").fill(PASSWORD)
            await page.get_by_role("button", name="Sign in").click()
            await expect(page).to_have_url(f"{base}/conversations/{conv_id}")

            draft = "The delivery note is attached."
            files_input = page.get_by_label("Attach files")
            await page.locator("#composer-text").fill(draft)
            # Over the inbox's limit: the reason shows, and the draft and the choice stay.
            await files_input.set_input_files(str(too_big))
            await page.get_by_role("button", name="Send reply").click()
            await expect(page.locator("#flash")).to_have_text(
                "the attachments are larger than the 1 MB allowed"
            )
            await expect(page.locator("#composer-text")).to_have_value(draft)
            assert await files_input.evaluate("input => input.files[0].name") == too_big.name

            await files_input.set_input_files(str(chosen))
            await page.get_by_role("button", name="Send reply").click()
            sent = page.locator("li.msg-outbound", has_text="The delivery note is attached.")
            await expect(sent.locator("a.attachment-name")).to_have_text(chosen.name)
            await expect(page.locator("#composer-text")).to_have_value("")
            await expect(page.get_by_label("Attach files")).to_have_value("")
        finally:
            await browser.close()
    assert problems == []
    assert await send_from_worker(rt, world, server) == 1
    assert sent_parts(recorder) == [(chosen.name, "application/pdf", chosen.read_bytes())]


async def test_a_client_still_uploading_gets_the_reason_not_a_reset(
    app: Starlette, rt: Runtime, world: World
) -> None:
    conv_id = await email_conversation(rt, world, max_mb=1)
    before = await stored_counts(rt, conv_id)
    async with serve(app) as base, httpx.AsyncClient(base_url=base) as http:
        headers = await htmx_client(http)
        # Refused by its Content-Length before a byte is parsed, and by counting
        # when the length is not declared (a chunked upload).
        big = os.urandom(8 * 2**20)
        declared = await http.post(
            f"/conversations/{conv_id}/replies",
            data={"text": "Big"},
            files=files(("big.bin", big, "application/octet-stream")),
            headers=headers,
        )

        async def chunked() -> Any:
            boundary = b"b0undary"
            yield (
                b"--" + boundary + b'\r\nContent-Disposition: form-data; name="text"\r\n\r\nBig\r\n'
            )
            yield b"--" + boundary + b'\r\nContent-Disposition: form-data; name="files"; '
            yield b'filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
            for start in range(0, len(big), 2**16):
                yield big[start : start + 2**16]
            yield b"\r\n--" + boundary + b"--\r\n"

        streamed = await http.post(
            f"/conversations/{conv_id}/replies",
            content=chunked(),
            headers={**headers, "Content-Type": "multipart/form-data; boundary=b0undary"},
        )
    for response in (declared, streamed):
        assert response.status_code == 413
        assert flash_text(response) == "the attachments are larger than the 1 MB allowed"
    assert await stored_counts(rt, conv_id) == before
