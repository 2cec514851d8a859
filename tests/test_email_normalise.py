"""A fetched email turned into what ingest takes: identities, threading keys, kept bytes."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from inbox.blobs import BlobStore
from inbox.channels.base import InboundMessage
from inbox.channels.email.normalise import Rejected, to_inbound
from inbox.channels.ingest import ingest
from inbox.models import Direction, EmailDetails, OutboundEmail
from inbox.runtime import Runtime
from tests.conftest import World

FIXTURES = Path(__file__).parent / "fixtures" / "email"
SECRET = "fixture-secret"  # the fixtures' reply tokens were made with it
LIMIT = 25 * 2**20


def taken(name: str, blobs: BlobStore) -> InboundMessage | Rejected:
    raw = (FIXTURES / name).read_bytes()
    return to_inbound(7, raw, blobs=blobs, secret=SECRET, max_bytes=LIMIT)


def test_a_reply_to_us_carries_our_token_and_only_the_sender_is_an_identity(
    tmp_path: Path,
) -> None:
    blobs = BlobStore(tmp_path)
    inbound = taken("gmail_reply.eml", blobs)
    assert isinstance(inbound, InboundMessage) and inbound.email is not None
    assert [(i.kind.value, i.value) for i in inbound.identities] == [
        ("email", inbound.email.from_address)
    ]
    assert inbound.email.token_conversation_id == 42
    assert inbound.external_id.startswith("<") and inbound.email.in_reply_to
    assert inbound.email.raw_sha256 and blobs.exists(inbound.email.raw_sha256)
    assert inbound.email.quoted_text  # the history, kept beside the new text


def test_a_bounce_threads_to_the_mail_it_returns_and_is_marked(tmp_path: Path) -> None:
    inbound = taken("bounce.eml", BlobStore(tmp_path))
    assert isinstance(inbound, InboundMessage) and inbound.email is not None
    assert inbound.email.auto_kind == "bounce"
    assert inbound.email.in_reply_to  # the returned original's Message-ID


def test_mail_without_a_sender_or_over_the_limit_is_rejected_with_its_bytes_kept(
    tmp_path: Path,
) -> None:
    blobs = BlobStore(tmp_path)
    nobody = taken("missing_headers.eml", blobs)
    assert isinstance(nobody, Rejected) and nobody.reason == "it names no sender address"
    assert blobs.exists(nobody.raw_sha256)
    raw = (FIXTURES / "gmail_reply.eml").read_bytes()
    big = to_inbound(7, raw, blobs=blobs, secret=SECRET, max_bytes=100)
    assert isinstance(big, Rejected) and "limit" in big.reason and blobs.exists(big.raw_sha256)


def test_without_a_message_id_the_bytes_identify_it(tmp_path: Path) -> None:
    raw = b"From: a@example.test\r\nSubject: hi\r\n\r\nhello\r\n"
    inbound = to_inbound(7, raw, blobs=BlobStore(tmp_path), secret=SECRET, max_bytes=LIMIT)
    assert isinstance(inbound, InboundMessage) and inbound.email is not None
    assert inbound.external_id == f"sha256:{inbound.email.raw_sha256}"


async def test_an_out_of_office_is_stored_marked_and_never_answered(
    rt: Runtime, world: World
) -> None:
    raw = (FIXTURES / "out_of_office.eml").read_bytes()
    inbound = to_inbound(world.email_inbox.id, raw, blobs=rt.blobs, secret=SECRET, max_bytes=LIMIT)
    assert isinstance(inbound, InboundMessage)
    received = await ingest(rt, inbound)
    async with rt.read_sessions() as db:
        kept = await db.get(EmailDetails, received.message.id)
        queued = (await db.scalars(select(OutboundEmail))).all()
    assert kept is not None and kept.auto_kind == "auto_reply"
    # Nothing answers it on its own: no loop can start with an auto-responder.
    assert queued == []


async def test_mail_from_an_agents_address_is_still_the_customers_message(
    rt: Runtime, world: World
) -> None:
    # Anyone can write From: an agent's address; without our token it is
    # taken as what it is: inbound mail, never a reply by that agent.
    raw = (
        b"From: Ana <ana@example.test>\r\nSubject: Re: x\r\nMessage-ID: <fake@x.test>\r\n\r\nok\r\n"
    )
    inbound = to_inbound(world.email_inbox.id, raw, blobs=rt.blobs, secret=SECRET, max_bytes=LIMIT)
    assert isinstance(inbound, InboundMessage)
    received = await ingest(rt, inbound)
    assert received.message.direction is Direction.INBOUND
    assert received.message.sender_agent_id is None
