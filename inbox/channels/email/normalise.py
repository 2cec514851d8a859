"""One fetched email, parsed, turned into the InboundMessage that ingest takes.

The raw bytes are kept in the blob store before anything else, so even a
message that then fails to parse is never lost (it is quarantined with them).
Only the sender becomes an identity: the people in To and Cc are kept on the
message, never made into customers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from inbox.blobs import BlobStore
from inbox.channels.base import InboundAttachment, InboundEmail, InboundMessage
from inbox.channels.email.parse import ParsedEmail, UnparseableEmail, parse_email
from inbox.channels.email.tokens import find_reply_token
from inbox.errors import BadRequest
from inbox.profiles.identities import ref

# Message-IDs longer than the column are rare and useless for threading;
# such a message is identified by its bytes instead.
_MAX_EXTERNAL_ID = 500


@dataclass(frozen=True)
class Rejected:
    """Why a message can't be taken in; it goes to quarantine with its raw bytes."""

    reason: str
    raw_sha256: str
    size: int


def external_id(parsed: ParsedEmail, raw_sha256: str) -> str:
    """Idempotency per inbox: the Message-ID, or the hash of the bytes without one."""
    if parsed.message_id and len(parsed.message_id) <= _MAX_EXTERNAL_ID:
        return parsed.message_id
    return f"sha256:{raw_sha256}"


def to_inbound(
    inbox_id: int,
    raw: bytes,
    *,
    blobs: BlobStore,
    secret: str,
    max_bytes: int,
    received_at: datetime | None = None,
    durable: bool = True,
) -> InboundMessage | Rejected:
    """Keep the bytes, parse them, and say what ingest should store (or why not).

    ``durable=False`` leaves the blobs' fsyncs to the caller (`blob_digests`
    names them), which batches them.
    """
    raw_sha256 = blobs.put(raw, durable=durable)
    if len(raw) > max_bytes:
        limit = max_bytes // 2**20
        return Rejected(f"larger than the {limit} MB limit", raw_sha256, len(raw))
    try:
        parsed = parse_email(raw, max_part_bytes=max_bytes)
    except UnparseableEmail as exc:
        return Rejected(f"could not be parsed: {exc.reason}", raw_sha256, len(raw))
    if not parsed.from_address:
        return Rejected("it names no sender address", raw_sha256, len(raw))
    try:
        sender = ref("email", parsed.from_address)
    except BadRequest as exc:
        return Rejected(f"the sender's address is invalid: {exc.message}", raw_sha256, len(raw))
    attachments = tuple(
        InboundAttachment(
            filename=a.filename,
            content_type=a.content_type,
            size=len(a.data),
            sha256=blobs.put(a.data, durable=durable),
        )
        for a in parsed.attachments
    )
    in_reply_to = parsed.in_reply_to
    if parsed.bounced_message_id and not in_reply_to:
        # A bounce carries the original's Message-ID inside: thread it there.
        in_reply_to = (parsed.bounced_message_id,)
    # Our token may come back in any of these: the ids it answers, or a
    # plus-address we replied from.
    token_conversation_id = find_reply_token(
        (*in_reply_to, *parsed.references, *parsed.to, *parsed.cc), secret
    )
    return InboundMessage(
        inbox_id=inbox_id,
        external_id=external_id(parsed, raw_sha256),
        identities=(sender,),
        text=parsed.text,
        sender_name=parsed.from_name,
        html=parsed.html,
        subject=parsed.subject,
        # The server's arrival time (INTERNALDATE) first: the Date header is
        # whatever the sender's clock or software said.
        received_at=received_at or parsed.date,
        attachments=attachments,
        email=InboundEmail(
            in_reply_to=in_reply_to,
            references=parsed.references,
            token_conversation_id=token_conversation_id,
            raw_sha256=raw_sha256,
            raw_size=len(raw),
            quoted_text=parsed.quoted,
            from_address=parsed.from_address,
            headers={
                "to": list(parsed.to),
                "cc": list(parsed.cc),
                "reply_to": list(parsed.reply_to),
                **({"problems": list(parsed.problems)} if parsed.problems else {}),
                **dict(parsed.headers),
            },
            auto_kind=parsed.auto.value if parsed.auto else None,
            bounce=parsed.bounce,
        ),
    )


def blob_digests(result: InboundMessage | Rejected) -> list[str]:
    """The blobs `to_inbound` stored for this message."""
    if isinstance(result, Rejected):
        return [result.raw_sha256]
    raw = [result.email.raw_sha256] if result.email and result.email.raw_sha256 else []
    return [*raw, *(a.sha256 for a in result.attachments)]
