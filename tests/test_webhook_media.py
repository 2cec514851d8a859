"""Media on the messaging webhooks: each provider's saved payload through the real
endpoint, a stand-in provider on loopback serving the lookups and the bytes,
then the worker's fetch step; what an agent downloads and sees afterwards."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import select, update
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from inbox.channels import media_fetcher
from inbox.channels.media_fetcher import fetch_due_media
from inbox.events import MessageMediaFetched
from inbox.models import Attachment, ChannelKind, Inbox, Message, MessageMedia
from inbox.runtime import Runtime
from tests.conftest import World, login
from tests.helpers import captured_events
from tests.live import serve
from tests.test_live_ui import oob, recv, signed_in
from tests.test_webhook_meta import deliver as deliver_meta
from tests.test_webhook_sms import AUTH_TOKEN
from tests.test_webhook_sms import deliver as deliver_sms
from tests.test_webhook_telegram import SECRET_TOKEN
from tests.test_webhook_telegram import deliver as deliver_telegram
from tests.webhook_support import fixture, make_inbox, replayed_concurrently, stored

BOT_TOKEN = "7000000001:AAH-test-token"
ACCESS_TOKEN = "EAAG-media-token"
ACCOUNT_SID = "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(range(256)) * 4
OGG = b"OggS\x00\x02" + bytes(range(200))
PDF = b"%PDF-1.4\n% a receipt\n"
# Telegram's file paths, as getFile names them.
TELEGRAM_FILES = {
    "AgACAgIAAxkBAAIBQ2Z2": ("photos/file_7.jpg", JPEG),
    "AwACAgIAAxkBAAIBU2Z9": ("voice/file_8.oga", OGG),
    "BQACAgIAAxkBAAIBRGZ3": ("documents/file_9.pdf", PDF),
}
WHATSAPP_MEDIA = {
    "1098765432101234": ("image/jpeg", JPEG),
    "2098765432105678": ("application/pdf", PDF),
}


@dataclass
class Provider:
    """Every provider's API and media host on one loopback server, recording each request
    (path and Authorization header); the Twilio media host is a second server."""

    base: str = ""
    media_base: str = ""
    asked: list[tuple[str, str | None]] = field(default_factory=list)
    # Answer 503 this many more times before serving (a provider's hiccup).
    failures: int = 0

    def record(self, request: Request) -> Response | None:
        self.asked.append((request.url.path, request.headers.get("authorization")))
        if self.failures > 0:
            self.failures -= 1
            return Response("busy", status_code=503)
        return None

    def app(self) -> Starlette:
        async def get_file(request: Request) -> Response:
            if (busy := self.record(request)) is not None:
                return busy
            if request.path_params["token"] != BOT_TOKEN:
                return JSONResponse(
                    {"ok": False, "error_code": 401, "description": "Unauthorized"}, 401
                )
            file_id = request.query_params.get("file_id", "")
            if file_id not in TELEGRAM_FILES:
                return JSONResponse(
                    {"ok": False, "error_code": 400, "description": "Bad Request: invalid file_id"},
                    400,
                )
            path, data = TELEGRAM_FILES[file_id]
            return JSONResponse(
                {
                    "ok": True,
                    "result": {
                        "file_id": file_id,
                        "file_unique_id": "AQADv8kxG-x",
                        "file_size": len(data),
                        "file_path": path,
                    },
                }
            )

        async def telegram_file(request: Request) -> Response:
            self.record(request)
            if request.path_params["token"] != BOT_TOKEN:
                return Response(status_code=401)
            by_path = {path: data for path, data in TELEGRAM_FILES.values()}
            data = by_path.get(request.path_params["path"])
            # Telegram's file server labels everything octet-stream.
            return (
                Response(data, media_type="application/octet-stream")
                if data
                else Response(status_code=404)
            )

        async def graph_media(request: Request) -> Response:
            self.record(request)
            if request.headers.get("authorization") != f"Bearer {ACCESS_TOKEN}":
                return JSONResponse(
                    {"error": {"message": "Invalid OAuth access token", "code": 190}}, 401
                )
            media_id = request.path_params["media_id"]
            mime, data = WHATSAPP_MEDIA[media_id]
            return JSONResponse(
                {
                    "messaging_product": "whatsapp",
                    "url": f"{self.base}/whatsapp/?mid={media_id}&ext=1767256500&hash=ATuQ",
                    "mime_type": mime,
                    "sha256": "8HsXnNn1lAcFnJ6W0NmNwdKrS9xwIEvpMWgiBn9xnKg=",
                    "file_size": len(data),
                    "id": media_id,
                }
            )

        async def whatsapp_cdn(request: Request) -> Response:
            self.record(request)
            if request.headers.get("authorization") != f"Bearer {ACCESS_TOKEN}":
                return Response(status_code=401)
            mime, data = WHATSAPP_MEDIA[request.query_params["mid"]]
            return Response(data, media_type=mime)

        async def meta_cdn(request: Request) -> Response:
            if (busy := self.record(request)) is not None:
                return busy
            return Response(JPEG, media_type="image/jpeg")

        async def twilio_media(request: Request) -> Response:
            self.record(request)
            expected = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
            if request.headers.get("authorization") != f"Basic {expected}":
                return Response(status_code=401)
            media_sid = request.path_params["media_sid"]
            return RedirectResponse(f"{self.media_base}/media/{media_sid}.jpg", status_code=307)

        return Starlette(
            routes=[
                Route("/bot{token}/getFile", get_file),
                Route("/file/bot{token}/{path:path}", telegram_file),
                Route("/v21.0/{media_id}", graph_media),
                Route("/whatsapp/", whatsapp_cdn),
                Route("/v/t1.15752-9/{name}", meta_cdn),
                Route("/ig_messaging_cdn/", meta_cdn),
                Route(
                    "/2010-04-01/Accounts/{sid}/Messages/{message_sid}/Media/{media_sid}",
                    twilio_media,
                ),
            ]
        )

    def media_host(self) -> Starlette:
        async def media(request: Request) -> Response:
            self.record(request)
            return Response(JPEG, media_type="image/jpeg")

        return Starlette(routes=[Route("/media/{name}", media)])


@pytest.fixture
async def provider(rt: Runtime) -> AsyncIterator[Provider]:
    stand_in = Provider()
    async with serve(stand_in.app()) as base, serve(stand_in.media_host()) as media_base:
        stand_in.base, stand_in.media_base = base, media_base
        # Only the stand-ins are reachable on loopback, as INBOX_FETCH_ALLOW_HOSTS would say.
        rt.settings = dataclasses.replace(
            rt.settings,
            fetch_allow_hosts=(base.removeprefix("http://"), media_base.removeprefix("http://")),
        )
        yield stand_in


async def _inbox(
    rt: Runtime, world: World, provider: Provider, kind: ChannelKind, **config: str
) -> Inbox:
    secrets = {
        ChannelKind.TELEGRAM: {"bot_token": BOT_TOKEN, "secret_token": SECRET_TOKEN},
        ChannelKind.SMS: {"auth_token": AUTH_TOKEN},
    }.get(
        kind,
        {
            "app_secret": "3f8d1c0b9a7e6d5c4b3a29180f7e6d5c",
            "verify_token": "v",
            "access_token": ACCESS_TOKEN,
        },
    )
    return await make_inbox(rt, world, kind, secrets, api_base_url=provider.base, **config)


async def _attachments(rt: Runtime, message: Message) -> list[Attachment]:
    async with rt.read_sessions() as db:
        rows = await db.scalars(
            select(Attachment).where(Attachment.message_id == message.id).order_by(Attachment.id)
        )
        return list(rows.all())


async def _media_rows(rt: Runtime) -> list[MessageMedia]:
    async with rt.read_sessions() as db:
        return list((await db.scalars(select(MessageMedia).order_by(MessageMedia.id))).all())


async def _page(client: httpx.AsyncClient, message: Message) -> str:
    response = await client.get(f"/conversations/{message.conversation_id}")
    assert response.status_code == 200, response.text
    return response.text


async def _download(client: httpx.AsyncClient, attachment: Attachment) -> httpx.Response:
    response = await client.get(f"/attachments/{attachment.id}")
    assert response.status_code == 200
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"].startswith("sandbox")
    return response


async def test_telegram_files_are_fetched_after_the_webhook_and_attached(
    client: httpx.AsyncClient, rt: Runtime, world: World, provider: Provider
) -> None:
    inbox = await _inbox(rt, world, provider, ChannelKind.TELEGRAM)
    for name in ("photo_message.json", "voice_message.json", "captioned_document.json"):
        response = await deliver_telegram(client, inbox.id, fixture("telegram", name))
        assert response.status_code == 200, response.text
    # The webhook answered without asking the provider for anything.
    assert provider.asked == []
    photo, voice, document = await stored(rt)
    # A message with only media is taken, saying what was sent.
    assert (photo.text, voice.text, document.text) == ("[photo]", "[voice]", "Here is the receipt")
    await login(client, "ana@example.test")
    assert "/attachments/" not in await _page(client, photo)

    with captured_events(rt) as events:
        assert await fetch_due_media(rt) == 3

    # The largest of the photo's sizes was asked for, by the bot's token.
    asked = [path for path, _ in provider.asked]
    assert f"/bot{BOT_TOKEN}/getFile" in asked
    assert f"/file/bot{BOT_TOKEN}/photos/file_7.jpg" in asked
    [photo_file] = await _attachments(rt, photo)
    [voice_file] = await _attachments(rt, voice)
    [pdf] = await _attachments(rt, document)
    assert (photo_file.filename, photo_file.content_type, photo_file.size) == (
        "file_7.jpg",
        "image/jpeg",
        len(JPEG),
    )
    assert (voice_file.filename, voice_file.content_type) == ("file_8.oga", "audio/ogg")
    assert (pdf.filename, pdf.content_type) == ("receipt.pdf", "application/pdf")

    shown = await _download(client, photo_file)
    assert shown.content == JPEG
    assert shown.headers["content-type"] == "image/jpeg"
    assert shown.headers["content-disposition"].startswith("inline;")
    saved = await _download(client, pdf)
    assert saved.content == PDF
    assert saved.headers["content-disposition"].startswith('attachment; filename="receipt.pdf"')
    assert (await _download(client, voice_file)).content == OGG

    page = await _page(client, photo)
    assert f'<img src="/attachments/{photo_file.id}" alt="file_7.jpg"' in page
    assert f'href="/attachments/{pdf.id}" rel="noopener" download>receipt.pdf</a>' in page
    assert f'href="/attachments/{voice_file.id}" rel="noopener" download>file_8.oga</a>' in page

    # Told live, to the agents who may see the inbox (Sales' Olga is not one).
    fetched = [p for p in events if isinstance(p.event, MessageMediaFetched)]
    assert sorted((p.event.message_id, p.event.outcome) for p in fetched) == [
        (photo.id, "attached"),
        (voice.id, "attached"),
        (document.id, "attached"),
    ]
    team = {world.admin.id, world.lead.id, world.ana.id, world.ben.id}  # type: ignore[attr-defined]
    assert all(p.audience.agent_ids == team for p in fetched)


async def test_whatsapp_media_is_looked_up_then_downloaded_with_the_token(
    client: httpx.AsyncClient, rt: Runtime, world: World, provider: Provider
) -> None:
    inbox = await _inbox(rt, world, provider, ChannelKind.WHATSAPP)
    for name in ("image_message.json", "document_message.json"):
        response = await deliver_meta(client, inbox, fixture("whatsapp", name))
        assert response.status_code == 200, response.text
    image, document = await stored(rt)
    assert (image.text, document.text) == ("The box arrived like this", "[document]")
    assert await fetch_due_media(rt) == 2

    # The lookup, then the file, each with the Bearer token.
    assert ("/v21.0/1098765432101234", f"Bearer {ACCESS_TOKEN}") in provider.asked
    assert ("/whatsapp/", f"Bearer {ACCESS_TOKEN}") in provider.asked
    [photo] = await _attachments(rt, image)
    [pdf] = await _attachments(rt, document)
    assert (photo.filename, photo.content_type) == ("image.jpg", "image/jpeg")
    assert (pdf.filename, pdf.content_type) == ("invoice-1042.pdf", "application/pdf")
    await login(client, "ana@example.test")
    assert (await _download(client, photo)).content == JPEG
    page = await _page(client, image)
    assert "The box arrived like this" in page
    assert f'<img src="/attachments/{photo.id}"' in page
    assert "invoice-1042.pdf</a>" in page


@pytest.mark.parametrize(
    ("kind", "cdn"),
    [
        (ChannelKind.MESSENGER, "https://scontent.xx.fbcdn.net"),
        (ChannelKind.INSTAGRAM, "https://lookaside.fbsbx.com"),
    ],
)
async def test_messenger_and_instagram_attachments_are_fetched_from_their_url(
    client: httpx.AsyncClient,
    rt: Runtime,
    world: World,
    provider: Provider,
    kind: ChannelKind,
    cdn: str,
) -> None:
    inbox = await _inbox(rt, world, provider, kind)
    # The saved payload, with Meta's CDN played by the stand-in.
    body = fixture(kind.value, "image_attachment.json").replace(
        cdn.encode(), provider.base.encode()
    )
    response = await deliver_meta(client, inbox, body)
    assert response.status_code == 200, response.text
    [message] = await stored(rt)
    assert message.text == "[image]"
    assert await fetch_due_media(rt) == 1
    # A plain download: no token goes to a CDN.
    assert [auth for _, auth in provider.asked] == [None]
    [photo] = await _attachments(rt, message)
    assert (photo.content_type, photo.size) == ("image/jpeg", len(JPEG))
    await login(client, "ana@example.test")
    assert (await _download(client, photo)).content == JPEG
    assert f'<img src="/attachments/{photo.id}"' in await _page(client, message)


def _sms_body(name: str, media_url_root: str) -> bytes:
    twilio = quote("https://api.twilio.com", safe="")
    return fixture("sms", name).replace(twilio.encode(), quote(media_url_root, safe="").encode())


async def test_twilio_mms_is_fetched_with_basic_auth_and_the_redirect_gets_none(
    client: httpx.AsyncClient, rt: Runtime, world: World, provider: Provider
) -> None:
    inbox = await _inbox(
        rt, world, provider, ChannelKind.SMS, phone_number="+14155550100", account_sid=ACCOUNT_SID
    )
    response = await deliver_sms(client, inbox, _sms_body("mms_only.txt", provider.base))
    assert response.status_code == 200, response.text
    [message] = await stored(rt)
    assert message.text == "[image/jpeg]"
    assert await fetch_due_media(rt) == 1
    (api_path, api_auth), (media_path, media_auth) = provider.asked
    assert api_path.endswith("/Media/ME0123456789abcdef0123456789abcdef")
    assert api_auth is not None and api_auth.startswith("Basic ")
    # Twilio's media host is another origin: the credentials stayed behind.
    assert (media_path, media_auth) == ("/media/ME0123456789abcdef0123456789abcdef.jpg", None)
    [photo] = await _attachments(rt, message)
    assert (photo.filename, photo.content_type) == ("image.jpg", "image/jpeg")
    await login(client, "ana@example.test")
    assert (await _download(client, photo)).content == JPEG


async def test_a_concurrent_replay_fetches_and_attaches_once(
    client: httpx.AsyncClient, rt: Runtime, world: World, provider: Provider
) -> None:
    inbox = await _inbox(rt, world, provider, ChannelKind.TELEGRAM)
    body = fixture("telegram", "photo_message.json")
    responses = await replayed_concurrently(lambda: deliver_telegram(client, inbox.id, body))
    assert all(r.status_code == 200 for r in responses)
    [message] = await stored(rt)
    assert len(await _media_rows(rt)) == 1
    # Two workers on the same queue: one claims the file, the other finds it taken.
    results = await asyncio.gather(fetch_due_media(rt), fetch_due_media(rt))
    assert sorted(results) == [0, 1]
    assert await fetch_due_media(rt) == 0
    # A replay after the fetch queues nothing again.
    assert (await deliver_telegram(client, inbox.id, body)).json()["duplicates"] == 1
    assert await fetch_due_media(rt) == 0
    assert len(await _attachments(rt, message)) == 1
    assert [p for p, _ in provider.asked].count(f"/bot{BOT_TOKEN}/getFile") == 1


async def test_a_refused_media_url_leaves_a_note_and_the_text(
    client: httpx.AsyncClient, rt: Runtime, world: World, provider: Provider
) -> None:
    inbox = await _inbox(rt, world, provider, ChannelKind.SMS, phone_number="+14155550100")
    body = _sms_body("mms_with_text.txt", "http://169.254.169.254")
    response = await deliver_sms(client, inbox, body)
    assert response.status_code == 200, response.text
    with captured_events(rt) as events:
        assert await fetch_due_media(rt) == 0
    [message] = await stored(rt)
    assert message.text == "The label is torn, see photo"
    assert await _attachments(rt, message) == []
    note = "attachment could not be fetched: refused: 169.254.169.254 is a cloud metadata address"
    assert message.media_error == note
    [item] = await _media_rows(rt)
    assert item.done_at is not None and item.attempts == 1  # not retried: it never will work
    [told] = [p.event for p in events if isinstance(p.event, MessageMediaFetched)]
    assert (told.message_id, told.outcome) == (message.id, "failed")
    await login(client, "ana@example.test")
    page = await _page(client, message)
    assert "The label is torn, see photo" in page
    assert f'<p class="media-problem" role="status">{note}</p>' in page
    # Integrations see it too, on the message.
    api = await client.get(f"/api/v1/conversations/{message.conversation_id}")
    assert api.status_code == 200, api.text
    [shown] = [m for m in api.json()["messages"] if m["id"] == message.id]
    assert shown["media_error"] == note and shown["attachments"] == []


async def test_a_provider_hiccup_is_retried_and_then_attached(
    client: httpx.AsyncClient, rt: Runtime, world: World, provider: Provider
) -> None:
    inbox = await _inbox(rt, world, provider, ChannelKind.MESSENGER)
    body = fixture("messenger", "image_attachment.json").replace(
        b"https://scontent.xx.fbcdn.net", provider.base.encode()
    )
    assert (await deliver_meta(client, inbox, body)).status_code == 200
    provider.failures = 1
    assert await fetch_due_media(rt) == 0
    [item] = await _media_rows(rt)
    assert (item.done_at, item.attempts) == (None, 1)
    assert item.last_error == "the media host answered 503 for the attachment"
    # Not due again yet; once its retry time comes, it is fetched.
    assert await fetch_due_media(rt) == 0
    async with rt.write_sessions() as db, db.begin():
        await db.execute(update(MessageMedia).values(next_attempt_at=item.created_at))
    assert await fetch_due_media(rt) == 1
    [message] = await stored(rt)
    assert message.media_error is None
    assert len(await _attachments(rt, message)) == 1


async def test_an_open_conversation_shows_the_file_as_soon_as_it_is_attached(
    app: Starlette, client: httpx.AsyncClient, rt: Runtime, world: World, provider: Provider
) -> None:
    inbox = await _inbox(rt, world, provider, ChannelKind.TELEGRAM)
    body = fixture("telegram", "photo_message.json")
    assert (await deliver_telegram(client, inbox.id, body)).status_code == 200
    [message] = await stored(rt)
    async with (
        serve(app) as base_url,
        signed_in(base_url, "ana") as ana,
        ana.watch(f"/conversations/{message.conversation_id}") as ws,
    ):
        assert await fetch_due_media(rt) == 1
        batch = await recv(ws)
    [photo] = await _attachments(rt, message)
    # The message is redrawn in place, now with its photo.
    assert ("true", f"m-{message.id}") in oob(batch)
    assert f'<img src="/attachments/{photo.id}" alt="file_7.jpg"' in batch


async def test_a_file_over_the_size_cap_is_cut_off_and_said_so(
    client: httpx.AsyncClient,
    rt: Runtime,
    world: World,
    provider: Provider,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(media_fetcher, "MAX_MEDIA_BYTES", 100)
    inbox = await _inbox(rt, world, provider, ChannelKind.INSTAGRAM)
    body = fixture("instagram", "image_attachment.json").replace(
        b"https://lookaside.fbsbx.com", provider.base.encode()
    )
    assert (await deliver_meta(client, inbox, body)).status_code == 200
    assert await fetch_due_media(rt) == 0
    [message] = await stored(rt)
    host = provider.base.removeprefix("http://").rsplit(":", 1)[0]
    assert message.media_error == (
        f"attachment could not be fetched: the response from {host} is larger than 100 bytes"
    )
    assert await _attachments(rt, message) == []
