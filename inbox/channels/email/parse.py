"""Turning raw RFC 5322 bytes into what an agent reads, whatever the sender's client did.

Parsing uses the standard library's ``email`` package with the ``compat32``
policy, falling back to the modern one (``email.policy.default``) when it
raises. Headers are read raw and decoded here, so the modern policy's header
objects would buy nothing, and building them took two thirds of the parse.
Each header is read defensively on its own, so one broken header costs
only that header. `UnparseableEmail` is raised only when nothing usable is
there: empty input, or no email header at all (not an email). Broken MIME still
yields the best text possible.

Rules chosen
------------
* Body: the inline text/plain parts, joined; without any, text derived from the
  text/html parts (`quoting.html_to_text`). ``format=flowed`` is unwrapped.
  A multipart whose boundary is missing or wrong is re-read with the first
  boundary-looking line of its body, else taken as plain text.
* ``text`` is the new text only and ``quoted`` the history cut from it
  (`quoting.split_quoted` / `split_quoted_html`). A forward (subject starting
  Fwd:/FW:/WG:/TR:/RV:/ENC:) is never split: what is forwarded is the request.
* ``html`` is the displayed part of the text/html body (history containers
  removed, like ``text``), sanitised by `inbox.sanitize.clean_html`; None when
  there is no HTML part. The full history stays in ``quoted`` (as text) and in
  the raw message.
* Charsets: the declared one, then utf-8, cp1252, latin-1 (which cannot fail),
  so decoding never raises. A declared single-byte charset loses to utf-8 when
  the bytes are valid non-ASCII UTF-8 (the usual lie: UTF-8 labelled
  iso-8859-1); "iso-8859-1" itself is read as cp1252, like browsers do.
  Without a declared charset, an HTML part's <meta charset> is used.
* NUL bytes are removed from every string produced; header-derived strings
  also lose other control characters.
* Addresses are lower-cased addr-specs; garbage entries are dropped. Display
  names are decoded by the library's address parser (after raw 8-bit bytes
  went through the charset chain above). Message
  ids keep their case, are normalised to ``<...>``, at most 500 characters
  (the ``external_id`` column), and bare ``local@domain`` is accepted.
* Attachments: every part that is not inline body text (a text part with a
  file name, or marked ``attachment``, is an attachment). Filenames come from
  Content-Disposition or the Content-Type name, RFC 2047/2231 decoded, then
  reduced to a bare name (no directories, control or bidi characters, leading
  dots); a missing name becomes ``attachment-<n>.<ext>``. Content types are
  checked for syntax only (``application/octet-stream`` if broken): serve
  attachments as downloads, never by their declared type. ``content_id`` is
  the Content-ID without angle brackets, as ``cid:`` URLs name it.
* Attachments larger than `max_part_bytes` (decoded) are left out and body
  text is cut to that many characters, noted in ``problems``; the raw
  message keeps everything.
* An attached message (message/rfc822, a delivery-status report) is one
  attachment, not walked into: its bytes are re-serialised by the library,
  equivalent to but not byte-identical with what was received.
* Beyond the fields asked for, ``bounced_message_id`` (the Message-ID of the
  original returned in a delivery report, so a bounce can be threaded by its
  reply token) and ``problems`` (what was skipped or repaired) are reported.
* ``bounce``: for a report carrying a message/delivery-status part (RFC 3464)
  and the original's Message-ID, each recipient's Action, Status and
  Diagnostic-Code. It is ``failed`` only when some recipient's Action is
  ``failed`` (a ``delayed`` message is still being tried). A bounce without
  such a report (old-style prose from a mailer-daemon) has no ``bounce``: its
  wording is too varied to tell a failure from a delay or a warning reliably.

Memory: the caller's ``raw`` is fed to the parser in 1 MiB slices, so no
whole-message str copy is made. For a message carrying one attachment of D
bytes (about 1.37 D of base64 in ``raw``), the peak on top of ``raw`` is the
parser's: its list of line strings for the part plus their join into one str
(about 2.7 D together, while the part is assembled); the decoded bytes (D)
come later, straight from that str (no ASCII bytes copy), and are then held
once, in ``ParsedAttachment.data``. Measured: a 25 MiB attachment (34 MiB raw)
peaks at ~94 MiB traced beyond ``raw`` and leaves ~25 MiB (the attachment)
after return; tests/test_email_parse.py keeps it under 3.3 x the raw size.
Callers should bound the raw size they accept (the IMAP RFC822.SIZE).
"""

from __future__ import annotations

import binascii
import codecs
import functools
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy as email_policy
from email.headerregistry import AddressHeader, HeaderRegistry
from email.message import Message
from email.parser import BytesFeedParser, HeaderParser
from email.utils import getaddresses, parsedate_to_datetime
from types import MappingProxyType

from inbox.sanitize import clean_html

from .auto import AutoKind, classify, header_values
from .quoting import html_to_text, split_quoted, split_quoted_html

__all__ = [
    "Bounce",
    "ParsedAttachment",
    "ParsedEmail",
    "RecipientStatus",
    "UnparseableEmail",
    "decode_bytes",
    "decode_header_text",
    "msg_ids",
    "normalise_msg_id",
    "parse_email",
]


@dataclass(frozen=True)
class ParsedAttachment:
    filename: str
    content_type: str
    data: bytes
    inline: bool
    content_id: str | None


@dataclass(frozen=True)
class RecipientStatus:
    """One recipient's fields in a delivery-status report, cleaned for display."""

    recipient: str  # the Final-Recipient address; '' when the report names none
    action: str  # failed, delayed, delivered, relayed or expanded (lower case)
    status: str  # the enhanced status code (RFC 3463), e.g. '5.1.1'; '' when missing
    diagnostic: str  # the Diagnostic-Code's text, without its type ('smtp;')


@dataclass(frozen=True)
class Bounce:
    """What a delivery-status report says about the email it returns.

    `reason` explains the failed recipients in the report's own words (text
    from outside: display it escaped); it is empty when nothing failed.
    """

    original_message_id: str
    failed: bool
    reason: str
    recipients: tuple[RecipientStatus, ...] = ()


@dataclass(frozen=True)
class ParsedEmail:
    message_id: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    subject: str
    from_address: str | None
    from_name: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    reply_to: tuple[str, ...]
    date: datetime | None
    text: str
    quoted: str
    html: str | None
    attachments: tuple[ParsedAttachment, ...]
    auto: AutoKind | None
    headers: Mapping[str, str]
    # For a delivery report: the Message-ID of the returned original, which
    # threads a bounce to the conversation it belongs to (our ids carry tokens).
    bounced_message_id: str | None = None
    # For a delivery-status report: what happened to each recipient.
    bounce: Bounce | None = None
    # What was skipped or repaired, in words safe to show an admin.
    problems: tuple[str, ...] = field(default=())


class UnparseableEmail(Exception):
    """Nothing usable in the input; `reason` is safe to show an admin."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- charsets ----------------------------------------------------------------

_FALLBACKS = ("utf-8", "cp1252", "latin-1")
# Labels whose usual meaning is a superset, as browsers (WHATWG) read them.
_ALIASES = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "ascii",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "windows-874": "cp874",
    "tis-620": "cp874",
    "iso-8859-8-i": "iso-8859-8",
    "shift_jis": "cp932",
    "x-sjis": "cp932",
    "unicode-1-1-utf-7": "utf-7",
}
# Python codecs that are not charsets: a header must not select them.
_NOT_CHARSETS = frozenset(
    {"unicode-escape", "raw-unicode-escape", "idna", "punycode", "undefined", "mbcs", "oem"}
)
_SINGLE_BYTE = ("ascii", "iso8859-", "cp12", "cp4", "cp8", "koi8", "mac-", "latin")


def _codec(label: str | None) -> str | None:
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    name = _ALIASES.get(name, name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    # Bytes-to-bytes codecs (base64, zlib) need no check: decoding with them
    # raises LookupError, and the next charset is tried.
    return None if info.name in _NOT_CHARSETS else info.name


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """Text of `data`: declared charset, then utf-8, cp1252, latin-1; never raises."""
    if not data:
        return ""
    declared = _codec(charset)
    order: list[str] = []
    if declared and not (declared.startswith(_SINGLE_BYTE) and not data.isascii()):
        order.append(declared)
    elif declared:
        order.extend(("utf-8", declared))
    order.extend(_FALLBACKS)
    for name in order:
        try:
            return data.decode(name)
        except (UnicodeDecodeError, LookupError):
            continue
    raise AssertionError("latin-1 decodes anything")  # pragma: no cover


def _unescape_surrogates(value: str) -> str:
    """The parser keeps raw 8-bit header bytes as lone surrogates; decode them properly."""
    if value.isascii() or not any("\udc80" <= ch <= "\udcff" for ch in value):
        return value
    return decode_bytes(value.encode("utf-8", "surrogateescape"))


# --- headers -----------------------------------------------------------------

_ENCODED_WORD = re.compile(r"=\?([^?\s*]+)(?:\*[^?\s]*)?\?([QqBb])\?([^?\s]*)\?=")
_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"\s+")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_MAX_HEADER_CHARS = 1000


def _decode_word(encoding: str, text: str) -> bytes | None:
    try:
        if encoding in "Qq":
            return binascii.a2b_qp(text.encode("utf-8", "surrogateescape"), header=True)
        text = text.rstrip("=")
        if not re.fullmatch(r"[A-Za-z0-9+/]*", text) or len(text) % 4 == 1:
            return None
        # Padding is often missing or wrong in the wild; it carries no data.
        return binascii.a2b_base64(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


def _decode_encoded_words(value: str) -> str:
    """RFC 2047: adjacent encoded words join (whitespace between them is dropped), and
    bytes of consecutive same-charset words are decoded together, so a character
    split across two words survives. A word that does not decode stays literal."""
    out: list[str] = []
    pending = bytearray()
    pending_charset: str | None = None
    pos = 0
    previous_was_word = False

    def flush() -> None:
        nonlocal pending_charset
        if pending:
            out.append(decode_bytes(bytes(pending), pending_charset))
            pending.clear()
        pending_charset = None

    for match in _ENCODED_WORD.finditer(value):
        between = value[pos : match.start()]
        if between and not (previous_was_word and between.isspace()):
            flush()
            out.append(between)
        data = _decode_word(match.group(2), match.group(3))
        charset = match.group(1).lower()
        if data is None:
            flush()
            out.append(match.group(0))
        else:
            if charset != pending_charset:
                flush()
            pending.extend(data)
            pending_charset = charset
        previous_was_word = data is not None
        pos = match.end()
    flush()
    out.append(value[pos:])
    return "".join(out)


def decode_header_text(value: str) -> str:
    """Display text of a raw (unstructured) header value: unfolded, raw 8-bit and
    RFC 2047 decoded, control characters turned to spaces, whitespace collapsed."""
    value = _FOLD.sub("", value)
    value = _decode_encoded_words(_unescape_surrogates(value))
    value = _CONTROLS.sub(" ", value.replace("\x00", ""))
    return _SPACES.sub(" ", value).strip()[:_MAX_HEADER_CHARS]


def _header_text(msg: Message, name: str) -> str:
    values = header_values(msg, name)
    return decode_header_text(values[0]) if values else ""


_MSG_ID = re.compile(r"<([!-;=?-~]{1,498})>")
_BARE_MSG_ID = re.compile(r"[!-;=?-~]{1,498}")


def msg_ids(value: str) -> list[str]:
    """Every msg-id in a Message-ID/In-Reply-To/References value, normalised to
    '<...>', in order, without duplicates. Bare 'local@domain' tokens count
    when there are no bracketed ones (some clients drop the brackets)."""
    found = [f"<{inner}>" for inner in _MSG_ID.findall(value)]
    if not found:
        for token in value.split():
            token = token.strip("<>,;")
            if token.count("@") == 1 and _BARE_MSG_ID.fullmatch(token):
                found.append(f"<{token}>")
    return list(dict.fromkeys(found))


def normalise_msg_id(value: str) -> str | None:
    """The first msg-id in `value`, normalised, or None for garbage."""
    ids = msg_ids(value)
    return ids[0] if ids else None


def _header_ids(msg: Message, name: str) -> list[str]:
    ids: list[str] = []
    for value in header_values(msg, name):
        ids.extend(msg_ids(value))
    return list(dict.fromkeys(ids))


_ADDR_SPEC = re.compile(r"[^\s@<>()\[\],;:\"\\]+@[^\s@<>()\[\],;:\"\\]+")


def _clean_addr(addr: str) -> str | None:
    addr = addr.strip().lower()
    if len(addr) > 320 or not _ADDR_SPEC.fullmatch(addr) or not addr.isprintable():
        return None
    domain = addr.partition("@")[2]
    if domain.startswith(".") or domain.endswith(".") or ".." in domain:
        return None
    return addr


_REGISTRY = HeaderRegistry()


def _addresses(msg: Message, name: str) -> list[tuple[str, str]]:
    """(display name, addr-spec) of every valid address in all `name` headers."""
    unique: dict[str, str] = {}
    for raw in header_values(msg, name):
        for display, addr in _address_list(name, raw):
            unique.setdefault(addr, display)
    return [(display, addr) for addr, display in unique.items()]


# The same few values come back all the time (the inbox's own address in To,
# a regular's From), and the library's address parser is slow.
@functools.lru_cache(maxsize=4096)
def _address_list(name: str, raw: str) -> tuple[tuple[str, str], ...]:
    value = _unescape_surrogates(raw)
    parsed: list[tuple[str, str]] | None = None
    try:
        header = _REGISTRY(name, value)
        if isinstance(header, AddressHeader):
            parsed = [(a.display_name, a.addr_spec) for a in header.addresses]
    except Exception:
        parsed = None
    if parsed is None:
        parsed = getaddresses([value])
    return tuple(
        (decode_header_text(display), clean)
        for display, addr in parsed
        if (clean := _clean_addr(addr))
    )


def _date(msg: Message) -> datetime | None:
    values = header_values(msg, "Date")
    if not values:
        return None
    raw = _SPACES.sub(" ", values[0]).strip()
    # What the modern policy's Date header does too, without the rest of its work.
    try:
        parsed = parsedate_to_datetime(raw)
    except Exception:
        return None
    if parsed.tzinfo is None:
        # "-0000": the zone is unknown; UTC is the documented reading (RFC 5322 §3.3).
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


_KEPT_HEADERS = (
    "Auto-Submitted",
    "Precedence",
    "List-Id",
    "List-Unsubscribe",
    "X-Autoreply",
    "X-Autorespond",
    "X-Auto-Response-Suppress",
    "Return-Path",
)
_EMAIL_HEADERS = frozenset(
    {
        "from",
        "sender",
        "to",
        "cc",
        "reply-to",
        "subject",
        "date",
        "message-id",
        "in-reply-to",
        "references",
        "received",
        "return-path",
        "delivered-to",
        "mime-version",
        "content-type",
    }
)
# The <head> is not displayed; its <title> text would otherwise survive sanitising.
_HEAD = re.compile(r"<head\b.*?</head\s*>|<title\b.*?</title\s*>", re.IGNORECASE | re.DOTALL)
_FORWARD = re.compile(r"^\s*(?:fwd?|wg|tr|rv|enc)\s*:", re.IGNORECASE)


# --- parts -------------------------------------------------------------------

_CTYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")
_BOUNDARY_LINE = re.compile(rb"^--([!#-~]{1,70}?)(?:--)?[ \t]*\r?$", re.MULTILINE)
_META_CHARSET = re.compile(rb"<meta[^>]{0,200}?charset\s*=\s*[\"']?([A-Za-z0-9_.:-]{1,40})", re.I)
_MAX_DEPTH = 30
_FEED_CHUNK = 1 << 20


def _content_type(part: Message) -> str:
    """The part's type; RFC 2045's default when the header is missing or malformed."""
    try:
        ctype = part.get_content_type()
    except Exception:
        ctype = "text/plain"
    return ctype if _CTYPE.fullmatch(ctype) else "text/plain"


def _declared_type_is_valid(part: Message) -> bool:
    values = header_values(part, "Content-Type")
    if not values:
        return True
    main = values[0].split(";", 1)[0].strip().lower()
    return bool(_CTYPE.fullmatch(main))


def _param(part: Message, name: str, header: str = "content-type") -> str | None:
    try:
        value = part.get_param(name, header=header)
    except Exception:
        return None
    if isinstance(value, tuple):  # RFC 2231 (charset, language, value)
        return decode_bytes(value[2].encode("latin-1", "replace"), value[0])
    return value if isinstance(value, str) else None


def _disposition(part: Message) -> str | None:
    values = header_values(part, "Content-Disposition")
    if not values:
        return None
    return values[0].split(";", 1)[0].strip().lower() or None


def _raw_filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:
        name = None
    if not name:
        name = _param(part, "name")
    return name if isinstance(name, str) and name.strip() else None


_UNSAFE_NAME_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_EXTENSIONS = {
    "application/pdf": ".pdf",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "text/plain": ".txt",
    "text/html": ".html",
    "text/calendar": ".ics",
    "text/rfc822-headers": ".txt",
    "message/rfc822": ".eml",
    "message/delivery-status": ".txt",
    "message/disposition-notification": ".txt",
}
_DEFAULT_STEMS = {
    "message/rfc822": "message",
    "message/delivery-status": "delivery-status",
    "message/disposition-notification": "disposition-notification",
}
_MAX_NAME = 200


def safe_filename(raw: str | None, content_type: str, index: int) -> str:
    """A bare, displayable file name; never a path, never empty."""
    name = decode_header_text(raw) if raw else ""
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co"))
    name = _UNSAFE_NAME_CHARS.sub("", name)
    name = re.split(r"[\\/]", name)[-1]
    name = name.strip().lstrip(".").rstrip(". ").strip()
    if len(name) > _MAX_NAME:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 16:
            name = stem[: _MAX_NAME - len(ext) - 1] + "." + ext
        else:
            name = name[:_MAX_NAME]
    if not name:
        stem = _DEFAULT_STEMS.get(content_type, f"attachment-{index}")
        name = f"{stem}{_EXTENSIONS.get(content_type, '.bin')}"
    return name


def _raw_payload_bytes(part: Message) -> bytes:
    """The undecoded body as the bytes received (8-bit bytes intact)."""
    try:
        # For 7bit/8bit/binary parts the library returns the received bytes;
        # get_payload() without decode would re-decode them with the declared
        # charset and replace what does not fit.
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data
    payload = part.get_payload()
    return payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else b""


def _payload_bytes(part: Message) -> bytes:
    """The decoded body of a leaf part, tolerating bad padding and 8-bit junk."""
    payload = part.get_payload()
    if not isinstance(payload, str) or not payload.isascii():
        # Raw 8-bit bytes (or no text payload): the library's own route, which
        # keeps them intact; rare enough that its extra copies do not matter.
        return _raw_payload_bytes(part)
    cte = (header_values(part, "Content-Transfer-Encoding") or [""])[0].strip().lower()
    if cte == "base64":
        try:
            # Straight from the ASCII str the parser built: no bytes copy of it.
            return binascii.a2b_base64(payload)
        except binascii.Error:
            cleaned = re.sub(r"[^A-Za-z0-9+/]", "", payload)
            if len(cleaned) % 4 == 1:
                cleaned = cleaned[:-1]
            return binascii.a2b_base64(cleaned + "=" * (-len(cleaned) % 4))
    if cte == "quoted-printable":
        return binascii.a2b_qp(payload)
    if cte in ("", "7bit", "8bit", "binary"):
        return payload.encode("ascii")
    return _raw_payload_bytes(part)  # uuencode and the like: the library knows them


def _decoded_size_estimate(part: Message) -> int:
    payload = part.get_payload()
    if not isinstance(payload, str):
        return 0
    cte = (header_values(part, "Content-Transfer-Encoding") or [""])[0].strip().lower()
    return len(payload) * 3 // 4 if cte == "base64" else len(payload)


def _unflow(text: str, delsp: bool) -> str:
    """RFC 3676 format=flowed: join soft-broken lines (ending in a space) of equal quote depth."""
    out: list[str] = []
    current: str | None = None
    current_depth = 0
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        body = line[depth:]
        if body.startswith(" "):  # space-stuffing
            body = body[1:]
        flowed = body.endswith(" ") and body != "-- "
        if current is not None and depth == current_depth:
            current += body
        else:
            if current is not None:
                out.append(current)
            prefix = ">" * depth + (" " if depth and body else "")
            current, current_depth = prefix + body, depth
        if flowed:
            if delsp:
                current = current[:-1]
        else:
            out.append(current)
            current = None
    if current is not None:
        out.append(current)
    return "\n".join(out)


def _part_text(part: Message, data: bytes, ctype: str) -> str:
    charset = _param(part, "charset")
    if not charset and ctype == "text/html":
        meta = _META_CHARSET.search(data[:4096])
        charset = meta.group(1).decode("ascii") if meta else None
    text = decode_bytes(data, charset).replace("\x00", "")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if ctype == "text/plain" and (_param(part, "format") or "").lower() == "flowed":
        text = _unflow(text, (_param(part, "delsp") or "").lower() == "yes")
    return text


@dataclass
class _Collected:
    limit: int
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[ParsedAttachment] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    count: int = 0


def _message_bytes(part: Message) -> bytes:
    """The bytes of an attached message (message/rfc822, message/delivery-status)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        chunks: list[bytes] = []
        for sub in payload:
            if not isinstance(sub, Message):
                continue
            try:
                chunks.append(sub.as_bytes(policy=sub.policy.clone(linesep="\r\n")))
            except Exception:
                chunks.append(
                    sub.as_string(policy=email_policy.compat32).encode("utf-8", "surrogateescape")
                )
        return b"\r\n".join(chunks)
    return _raw_payload_bytes(part)


def _add_attachment(part: Message, ctype: str, c: _Collected, data: bytes | None) -> None:
    c.count += 1
    raw_name = _raw_filename(part)
    if not raw_name and ctype == "message/rfc822":
        payload = part.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            subject = _header_text(payload[0], "Subject")
            raw_name = f"{subject}.eml" if subject else None
    if not _declared_type_is_valid(part):
        ctype = "application/octet-stream"
    filename = safe_filename(raw_name, ctype, c.count)
    if data is None:
        if _decoded_size_estimate(part) > c.limit + c.limit // 16:
            c.problems.append(f"{filename!r} is larger than the limit and was not extracted")
            return
        data = _payload_bytes(part)
    if len(data) > c.limit:
        c.problems.append(f"{filename!r} is larger than the limit and was not extracted")
        return
    cid_values = header_values(part, "Content-ID")
    cid = cid_values[0].strip().strip("<>").strip().replace("\x00", "") if cid_values else ""
    disposition = _disposition(part)
    inline = disposition == "inline" or (disposition is None and bool(cid))
    c.attachments.append(ParsedAttachment(filename, ctype, data, inline, cid or None))


def _salvage_multipart(part: Message) -> Message | None:
    """Re-read a multipart whose boundary is missing or wrong, by the first boundary line."""
    body = _raw_payload_bytes(part)
    match = _BOUNDARY_LINE.search(body)
    if match is None:
        return None
    head = b'Content-Type: multipart/mixed; boundary="' + match.group(1) + b'"\r\n\r\n'
    try:
        fixed = _parse(head + body, email_policy.default)
    except Exception:
        return None
    return fixed if fixed.is_multipart() else None


def _walk(part: Message, c: _Collected, depth: int, salvaged: bool = False) -> None:
    if depth > _MAX_DEPTH:
        c.problems.append("MIME parts nested too deeply were ignored")
        return
    ctype = _content_type(part)
    if ctype in ("message/rfc822", "message/global"):
        _add_attachment(part, ctype, c, _message_bytes(part))
        return
    if ctype in ("message/delivery-status", "message/disposition-notification"):
        _add_attachment(part, ctype, c, _message_bytes(part))
        return
    if part.is_multipart():
        payload = part.get_payload()
        for child in payload if isinstance(payload, list) else ():
            if isinstance(child, Message):
                _walk(child, c, depth + 1)
        return
    if ctype.startswith("multipart/"):
        fixed = None if salvaged else _salvage_multipart(part)
        if fixed is not None:
            c.problems.append("the MIME boundary was wrong; parts were recovered")
            _walk(fixed, c, depth + 1, salvaged=True)
            return
        c.problems.append("the MIME structure was broken; the body was read as plain text")
        ctype = "text/plain"

    is_body = (
        ctype in ("text/plain", "text/html")
        and _disposition(part) != "attachment"
        and not _raw_filename(part)
    )
    if not is_body:
        _add_attachment(part, ctype, c, None)
        return
    text = _part_text(part, _payload_bytes(part), ctype)
    if len(text) > c.limit:
        # Cut the decoded text, not the bytes: a cut through a multi-byte
        # character would make the whole part fail its charset.
        text = text[: c.limit]
        c.problems.append("a body part larger than the limit was truncated")
    (c.plain if ctype == "text/plain" else c.html).append(text)


def _bounced_message_id(msg: Message) -> str | None:
    if _content_type(msg) != "multipart/report":
        return None
    payload = msg.get_payload()
    for part in payload if isinstance(payload, list) else ():
        if not isinstance(part, Message):
            continue
        ctype = _content_type(part)
        headers: Message | None = None
        if ctype in ("message/rfc822", "message/global"):
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                headers = inner[0]
        elif ctype == "text/rfc822-headers":
            text = decode_bytes(_payload_bytes(part))
            headers = HeaderParser(policy=email_policy.compat32).parsestr(text, headersonly=True)
        if headers is not None:
            ids = _header_ids(headers, "Message-ID")
            if ids:
                return ids[0]
    return None


_STATUS_TYPES = ("message/delivery-status", "message/global-delivery-status")
_STATUS_CODE = re.compile(r"(?<![\d.])[245]\.\d{1,3}\.\d{1,3}(?![\d.])")
# 'smtp; 550 ...', 'rfc822; a@b', 'X-Postfix; ...': the type before the value.
_TYPED = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+-]{0,40}\s*;\s*")
_GROUP_BREAK = re.compile(r"\r?\n[ \t]*\r?\n")
# The subject.detail of common codes (RFC 3463), for a report with no diagnostic.
_STATUS_MEANINGS = {
    "1.1": "the address does not exist",
    "1.2": "the recipient's domain does not exist",
    "1.10": "the address does not exist",
    "2.1": "the mailbox is disabled",
    "2.2": "the mailbox is full",
    "2.3": "the message is too large for the mailbox",
    "3.4": "the message is too large",
    "4.4": "the recipient's mail server could not be reached",
    "4.7": "it could not be delivered in time",
    "7.1": "the recipient's mail server refused it",
}
_MAX_RECIPIENTS = 100
_MAX_REASON = 500


def _status_groups(part: Message) -> list[Message]:
    """The field groups of a delivery-status part: the message's, then one per recipient."""
    payload = part.get_payload()
    if _content_type(part) == "message/delivery-status" and isinstance(payload, list):
        # The library splits this type into one Message per group itself.
        return [group for group in payload if isinstance(group, Message)]
    # The library reads message/global-delivery-status (RFC 6533) as an
    # attached message: split its text into groups here.
    data = _message_bytes(part) if isinstance(payload, list) else _payload_bytes(part)
    parser = HeaderParser(policy=email_policy.compat32)
    return [
        parser.parsestr(group.strip("\r\n") + "\n", headersonly=True)
        for group in _GROUP_BREAK.split(decode_bytes(data, "utf-8"))
        if group.strip()
    ]


def _status_field(group: Message, name: str) -> str:
    values = header_values(group, name)
    return decode_header_text(values[0]) if values else ""


def _recipient_status(group: Message) -> RecipientStatus | None:
    """A recipient's fields, or None for a group without an Action (the per-message one)."""
    action = _status_field(group, "Action").lower()
    if not action:
        return None
    recipient = _TYPED.sub("", _status_field(group, "Final-Recipient"))
    if not recipient:
        recipient = _TYPED.sub("", _status_field(group, "Original-Recipient"))
    code = _STATUS_CODE.search(_status_field(group, "Status"))
    return RecipientStatus(
        recipient=recipient.strip("<> ")[:320],
        # 'failed (permanent)' still fails; only the first word is the action.
        action=action.split()[0].strip(";,()"),
        status=code.group(0) if code else "",
        diagnostic=_TYPED.sub("", _status_field(group, "Diagnostic-Code")),
    )


def _explain(recipient: RecipientStatus) -> str:
    status, diagnostic = recipient.status, recipient.diagnostic
    if diagnostic:
        # Most diagnostics repeat the status code; say it once.
        return diagnostic if not status or status in diagnostic else f"{status} {diagnostic}"
    if status:
        meaning = _STATUS_MEANINGS.get(status.split(".", 1)[1])
        return f"{status} ({meaning})" if meaning else status
    return "no reason given"


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut[limit // 2 :] else cut) + "\u2026"


def _bounce(msg: Message, original_message_id: str | None) -> Bounce | None:
    """The recipients' fate as a delivery-status report (RFC 3464) tells it."""
    if original_message_id is None or _content_type(msg) != "multipart/report":
        return None
    payload = msg.get_payload()
    parts = [
        part
        for part in (payload if isinstance(payload, list) else ())
        if isinstance(part, Message) and _content_type(part) in _STATUS_TYPES
    ]
    if not parts:
        return None
    recipients: list[RecipientStatus] = []
    for part in parts:
        for group in _status_groups(part):
            found = _recipient_status(group)
            if found is not None:
                recipients.append(found)
    failed = [r for r in recipients if r.action == "failed"]
    if len(failed) == 1:
        reason = _explain(failed[0])
    else:
        reason = "; ".join(f"{r.recipient or 'a recipient'}: {_explain(r)}" for r in failed)
    return Bounce(
        original_message_id=original_message_id,
        failed=bool(failed),
        reason=_shorten(reason, _MAX_REASON),
        recipients=tuple(recipients[:_MAX_RECIPIENTS]),
    )


def _parse(raw: bytes, policy: email_policy.Policy) -> Message:
    parser: BytesFeedParser[Message] = BytesFeedParser(policy=policy)
    view = memoryview(raw)
    for start in range(0, len(view), _FEED_CHUNK):
        parser.feed(view[start : start + _FEED_CHUNK].tobytes())
    return parser.close()


def _looks_like_email(msg: Message) -> bool:
    try:
        names = {str(key).lower() for key, _ in msg.raw_items()}
    except Exception:
        return False
    return bool(names & _EMAIL_HEADERS)


def _body(c: _Collected, subject: str) -> tuple[str, str, str | None]:
    """(text, quoted, sanitised displayed html)."""
    forward = bool(_FORWARD.match(subject))
    html_source = _HEAD.sub("", "\n".join(c.html)) if c.html else None
    displayed_html = html_source
    html_quoted = ""
    if html_source is not None and not forward:
        displayed_html, html_quoted = split_quoted_html(html_source)
    body = "\n".join(c.plain)
    if body.strip() or (body and displayed_html is None):
        text, quoted = (body.strip("\n").rstrip(), "") if forward else split_quoted(body)
    elif displayed_html is not None:
        derived = html_to_text(displayed_html)
        text, quoted = (derived, "") if forward else split_quoted(derived)
        removed = html_to_text(html_quoted) if html_quoted else ""
        quoted = "\n\n".join(q for q in (quoted, removed) if q)
    else:
        text, quoted = "", ""
    html = clean_html(displayed_html) if displayed_html is not None else None
    return text.replace("\x00", ""), quoted.replace("\x00", ""), html


def _extract(msg: Message, max_part_bytes: int) -> ParsedEmail:
    problems: list[str] = []
    subject = _header_text(msg, "Subject")
    senders = _addresses(msg, "From") or _addresses(msg, "Sender")
    from_name, from_address = senders[0] if senders else ("", None)

    collected = _Collected(limit=max_part_bytes)
    _walk(msg, collected, 0)
    problems.extend(collected.problems)
    text, quoted, html = _body(collected, subject)

    kept = {}
    for name in _KEPT_HEADERS:
        value = _header_text(msg, name)
        if value or header_values(msg, name):
            kept[name] = value
    message_ids = _header_ids(msg, "Message-ID")
    bounced_message_id = _bounced_message_id(msg)
    return ParsedEmail(
        message_id=message_ids[0] if message_ids else None,
        in_reply_to=tuple(_header_ids(msg, "In-Reply-To")),
        references=tuple(_header_ids(msg, "References")),
        subject=subject,
        from_address=from_address,
        from_name=from_name,
        to=tuple(addr for _, addr in _addresses(msg, "To")),
        cc=tuple(addr for _, addr in _addresses(msg, "Cc")),
        reply_to=tuple(addr for _, addr in _addresses(msg, "Reply-To")),
        date=_date(msg),
        text=text,
        quoted=quoted,
        html=html,
        attachments=tuple(collected.attachments),
        auto=classify(msg, from_address),
        headers=MappingProxyType(kept),
        bounced_message_id=bounced_message_id,
        bounce=_bounce(msg, bounced_message_id),
        problems=tuple(dict.fromkeys(problems)),
    )


def parse_email(raw: bytes, *, max_part_bytes: int = 25 * 2**20) -> ParsedEmail:
    """Parse one message; raises `UnparseableEmail` only when nothing is usable.

    See the module docstring for the rules and the memory peak.
    """
    if not raw or raw.isspace():
        raise UnparseableEmail("the message is empty")
    msg: Message | None = None
    for policy in (email_policy.compat32, email_policy.default):
        try:
            if msg is None:
                msg = _parse(raw, policy)
                if not _looks_like_email(msg):
                    raise UnparseableEmail("no email headers found: this is not an email")
            return _extract(msg, max_part_bytes)
        except UnparseableEmail:
            raise
        except Exception:
            # Whatever compat32 could not read, the other policy may.
            msg = None
            continue
    raise UnparseableEmail("the message structure could not be read")
