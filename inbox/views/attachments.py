"""`GET /attachments/{id}`: a message's attachment, streamed from the blob store.

Whatever a customer attached is hostile until proven otherwise, and it is
served from our own origin, next to the agents' session. So:

* Only agents who may see the message's conversation get it; to anyone else
  the id answers exactly like one that does not exist.
* Nothing is ever rendered as active content: types a browser would run or
  lay out as a document (HTML, SVG, XML, script, style, ...) go out as
  `application/octet-stream`, everything but a few raster image types is
  `Content-Disposition: attachment`, `nosniff` stops guessing, and a sandboxing
  CSP leaves even an opened file without scripts, styles or an origin.
* `Cross-Origin-Resource-Policy: same-origin`: other sites can't embed it.
"""

from __future__ import annotations

import os
import re
import stat
import unicodedata
from urllib.parse import quote

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from inbox.access import get_visible_conversation
from inbox.errors import NotFound
from inbox.models import Attachment, Message
from inbox.views.ids import path_id
from inbox.views.requests import require_agent, runtime

__all__ = ["ATTACHMENT_CSP", "INLINE_TYPES", "content_disposition", "routes", "safe_media_type"]

# Shown in the timeline, so opened in place; everything else is downloaded.
# Raster formats only: an image/svg+xml document can carry script.
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})

# Kept as declared (when well formed) because a browser treats them as passive
# data; any other subtype of these top-level types is folded to octet-stream.
_PASSIVE_IMAGES = INLINE_TYPES | {
    "image/avif",
    "image/bmp",
    "image/heic",
    "image/heif",
    "image/tiff",
    "image/vnd.microsoft.icon",
    "image/x-icon",
}
_PASSIVE_TEXT = frozenset(
    {
        "text/plain",
        "text/csv",
        "text/calendar",
        "text/markdown",
        "text/rtf",
        "text/tab-separated-values",
        "text/vcard",
        "text/x-vcard",
    }
)
# Top-level types whose subtypes are passive unless the subtype says otherwise.
_PASSIVE_FAMILIES = frozenset({"application", "audio", "font", "message", "model", "video"})
# Under a passive family, subtypes that a browser would still execute, style
# with, or render as a document (or plugin) when they are navigated to or
# pulled into a page as <script>/<link>/<embed>: any XML document (`+xml`),
# HTML, script and stylesheet types. Office formats named "...openxml..." are
# zip packages, not XML documents, so only the suffix and exact names count.
_ACTIVE_SUBTYPES = frozenset(
    {"xml", "css", "wasm", "hta", "x-shockwave-flash", "futuresplash", "x-silverlight"}
)
_ACTIVE_SUBTYPE_WORDS = ("html", "javascript", "ecmascript", "jscript", "vbscript", "svg", "xsl")
OCTET_STREAM = "application/octet-stream"

# RFC 6838 names: restricted-name "/" restricted-name, matched after lower-casing.
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")

# For the response itself: a document opened from here gets no scripts, no
# styles, no plugins and an opaque origin (sandbox); its own image or media
# may still show. Set per response, replacing the pages' policy.
ATTACHMENT_CSP = (
    "sandbox; default-src 'none'; img-src 'self'; media-src 'self'; style-src 'none'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
# Content never changes under an id (the blob is named by its hash), so caching
# is only bounded by access: revoking an agent's inbox (or signing out on a
# shared machine) should not leave a browser serving it from cache for long.
CACHE_CONTROL = "private, max-age=3600"

# The plain `filename=` is for clients that ignore `filename*`: ASCII letters,
# digits and a few marks; no quote, backslash, `%` (some browsers percent-decode
# it) or `;`. Anything else becomes "_".
_FALLBACK_UNSAFE = re.compile(r"[^A-Za-z0-9 ._()\[\]+\-@'!&=~]")
# Removed outright: controls (CR, LF, NUL...), bidi overrides and other format
# characters (they disguise extensions: "invoice\u202efdp.exe"), surrogates,
# private use, unassigned, line and paragraph separators.
_DROP_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def safe_media_type(declared: str) -> str:
    """The type to send: the declared one if it is well formed and passive, else octet-stream."""
    essence = declared.split(";", 1)[0].strip().lower()
    if not _MEDIA_TYPE.fullmatch(essence):
        return OCTET_STREAM
    family, _, subtype = essence.partition("/")
    if family == "image":
        return essence if essence in _PASSIVE_IMAGES else OCTET_STREAM
    if family == "text":
        return essence if essence in _PASSIVE_TEXT else OCTET_STREAM
    if family in _PASSIVE_FAMILIES and not _is_active_subtype(subtype):
        return essence
    # multipart/* (x-mixed-replace), unknown top-level types, and anything above.
    return OCTET_STREAM


def _is_active_subtype(subtype: str) -> bool:
    return (
        subtype in _ACTIVE_SUBTYPES
        or subtype.endswith(("+xml", "-xml"))
        or any(word in subtype for word in _ACTIVE_SUBTYPE_WORDS)
    )


def _clean_name(filename: str, fallback: str) -> str:
    """A bare file name: no controls, quotes or path separators; never a dotfile; never empty."""
    name = unicodedata.normalize("NFC", filename)
    name = "".join(ch for ch in name if unicodedata.category(ch) not in _DROP_CATEGORIES)
    # Separators become "_" rather than cutting the name at them: the name is
    # what the agent recognises; a browser saving it must never see a path.
    name = name.replace('"', "").replace("/", "_").replace("\\", "_")
    name = name.strip().lstrip(".").rstrip(". ").strip()
    return name or fallback


def _ascii_fallback(name: str, fallback: str) -> str:
    # Accents fall away ("résumé" -> "resume"); any other non-ASCII letter becomes "_",
    # so the fallback still shows that something stood there.
    decomposed = unicodedata.normalize("NFKD", name)
    ascii_name = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    ascii_name = _FALLBACK_UNSAFE.sub("_", ascii_name).strip().lstrip(".").rstrip(". ").strip()
    stem, dot, ext = ascii_name.rpartition(".")
    if not (dot and re.fullmatch(r"[A-Za-z0-9]{1,16}", ext)):
        stem, ext = ascii_name, ""
    if not re.search(r"[A-Za-z0-9]", stem):
        # Nothing recognisable survived (an all-Cyrillic name, say): keep the extension.
        return fallback + (f".{ext}" if ext else "")
    return ascii_name


def content_disposition(disposition: str, filename: str, fallback: str) -> str:
    """`inline|attachment; filename="ascii"; filename*=UTF-8''percent-encoded` (RFC 6266/5987)."""
    name = _clean_name(filename, fallback)
    # quote() with safe="" leaves only RFC 5987 attr-chars unescaped.
    return (
        f'{disposition}; filename="{_ascii_fallback(name, fallback)}"; '
        f"filename*=UTF-8''{quote(name, safe='')}"
    )


def _etag_matches(if_none_match: str, etag: str) -> bool:
    """Weak comparison (RFC 9110 13.1.2): a W/ prefix doesn't matter for If-None-Match."""
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False


async def _load_visible(request: Request, attachment_id: int) -> Attachment:
    """The attachment, or the same NotFound whether it is absent or not the agent's to see."""
    agent = require_agent(request)
    async with runtime(request).read_sessions() as db:
        row = (
            await db.execute(
                select(Attachment, Message.conversation_id)
                .join(Message, Message.id == Attachment.message_id)
                .where(Attachment.id == attachment_id)
            )
        ).first()
        if row is None:
            raise NotFound("attachment not found")
        attachment, conversation_id = row
        try:
            # Notes included: an agent who sees the conversation sees its notes.
            await get_visible_conversation(db, agent, conversation_id)
        except NotFound:
            raise NotFound("attachment not found") from None
    return attachment


async def attachment_file(request: Request) -> Response:
    attachment_id = path_id(request, "attachment_id", "attachment")
    attachment = await _load_visible(request, attachment_id)
    try:
        path = runtime(request).blobs.path(attachment.sha256)
        # Stat here, not in the response: a missing file must be a 404, and
        # FileResponse would raise a RuntimeError (a 500) for it.
        found = os.stat(path)
    except (ValueError, OSError):  # a malformed hash, or no such blob
        found = None
    if found is None or not stat.S_ISREG(found.st_mode):
        raise NotFound("attachment file is missing from storage")

    media_type = safe_media_type(attachment.content_type)
    disposition = "inline" if media_type in INLINE_TYPES else "attachment"
    etag = f'"{attachment.sha256}"'
    headers = {
        "Content-Disposition": content_disposition(
            disposition, attachment.filename, f"attachment-{attachment.id}"
        ),
        "ETag": etag,
        "Cache-Control": CACHE_CONTROL,
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": ATTACHMENT_CSP,
        "Cross-Origin-Resource-Policy": "same-origin",
    }
    # Checked only after access: a 304 would otherwise confirm what the id holds.
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None and _etag_matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    # Streams in 64 KiB chunks off the event loop (and answers Range requests),
    # so a 25 MB attachment never sits in memory.
    return FileResponse(path, headers=headers, media_type=media_type, stat_result=found)


routes = [Route("/attachments/{attachment_id:int}", attachment_file, methods=["GET"])]
