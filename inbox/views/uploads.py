"""Reading a note or reply form that may carry files, within the inbox's limits.

`request.form()` would spool any number of files of any size to disk before
a view could look at them. Here the limits apply while the body streams in:
a file where none may go, one file too many, or a byte past the inbox's total
stops the parse at once with the reason, before anything is stored. What
passes is spooled by Starlette (to disk past 1 MiB) and then copied into the
blob store a chunk at a time, so no upload is ever held in memory whole.

File names and types are the uploading browser's word. They are reduced to
what is safe to store, show and put in a MIME header: a bare file name
without control or format characters, and a `type/subtype` token.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import unicodedata
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from functools import partial

from starlette.datastructures import FormData, Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from inbox.actions.messages import MAX_TEXT, AttachmentLimits, NewAttachment
from inbox.blobs import BlobStore
from inbox.errors import BadRequest, InboxError, PayloadTooLarge

__all__ = [
    "FILES_FIELD",
    "MessageForm",
    "clean_content_type",
    "clean_filename",
    "is_multipart",
    "message_form",
]

FILES_FIELD = "files"
MAX_FILENAME = 200
OCTET_STREAM = "application/octet-stream"
# A text field holds at most MAX_TEXT characters of up to 4 bytes each.
_FIELD_BYTES = 4 * MAX_TEXT + 4096
_MAX_FIELDS = 16
# Beyond the files: the text fields and every part's headers.
_FORM_OVERHEAD = 2 * 2**20
_CHUNK = 64 * 1024

# RFC 6838 restricted names, matched after lower-casing; at most 255 characters in all.
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")
# Controls (CR, LF, NUL...), format characters such as bidi overrides (they
# disguise extensions: "invoice\u202efdp.exe"), surrogates, private use,
# unassigned, line and paragraph separators.
_DROP_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def clean_filename(raw: str) -> str:
    """The last path segment, without invisible characters, never a dotfile, at most
    MAX_FILENAME characters (the extension kept), never empty."""
    # Some browsers send the whole path ("C:\\Users\\ana\\invoice.pdf").
    name = re.split(r"[\\/]", raw)[-1]
    name = unicodedata.normalize("NFC", name)
    name = "".join(ch for ch in name if unicodedata.category(ch) not in _DROP_CATEGORIES)
    name = name.strip().lstrip(".").strip()
    if len(name) > MAX_FILENAME:
        stem, dot, ext = name.rpartition(".")
        if dot and stem and len(ext) <= 16:
            name = stem[: MAX_FILENAME - len(ext) - 1].rstrip() + "." + ext
        else:
            name = name[:MAX_FILENAME].rstrip()
    return name or "attachment"


def clean_content_type(raw: str | None) -> str:
    """The declared `type/subtype`, parameters dropped; octet-stream unless well formed."""
    essence = (raw or "").split(";", 1)[0].strip().lower()
    return essence if _MEDIA_TYPE.fullmatch(essence) else OCTET_STREAM


def is_multipart(request: Request) -> bool:
    content_type = request.headers.get("content-type", "")
    return content_type.split(";", 1)[0].strip().lower() == "multipart/form-data"


@dataclass(frozen=True)
class MessageForm:
    fields: FormData
    # The files chosen, in order; an empty file input's nameless empty part left out.
    uploads: tuple[UploadFile, ...]

    async def store(self, blobs: BlobStore) -> list[NewAttachment]:
        """Copy each upload into the blob store, a chunk at a time, off the event loop."""
        stored = []
        for upload in self.uploads:
            await upload.seek(0)
            chunks = iter(partial(upload.file.read, _CHUNK), b"")
            sha256, size = await asyncio.to_thread(blobs.put_stream, chunks)
            stored.append(
                NewAttachment(
                    filename=clean_filename(upload.filename or ""),
                    content_type=clean_content_type(upload.content_type),
                    size=size,
                    sha256=sha256,
                )
            )
        return stored


@contextlib.asynccontextmanager
async def message_form(
    request: Request, limits: AttachmentLimits | None, refusal: str
) -> AsyncIterator[MessageForm]:
    """The form of a note or reply, urlencoded or multipart, with its files.

    `limits` None means no file may come (`refusal` says why). Spooled files
    are removed when the block ends.
    """
    if not is_multipart(request):
        async with request.form() as form:
            yield MessageForm(form, ())
        return
    # Refusing mid-upload is safe: uvicorn reads and drops the rest of the body,
    # so a browser still sending gets the answer, not a reset connection.
    form = await _parse(request.headers, request.stream(), limits, refusal)
    try:
        yield MessageForm(form, _uploads(form))
    finally:
        await form.close()


async def _parse(
    headers: Headers,
    body: AsyncGenerator[bytes, None],
    limits: AttachmentLimits | None,
    refusal: str,
) -> FormData:
    max_bytes = limits.max_bytes if limits is not None else 0
    cap = max_bytes + _FORM_OVERHEAD
    too_large = _too_large(limits, refusal)
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cap:
        raise too_large  # refused before a byte is read
    parser = _LimitedParser(headers, _capped(body, cap, too_large), limits, refusal)
    try:
        return await parser.parse()
    except MultiPartException as exc:
        raise BadRequest(f"the form could not be read: {exc.message}") from None


def _too_large(limits: AttachmentLimits | None, refusal: str) -> InboxError:
    if limits is None:
        # Text alone never comes near the cap: this body carries files.
        return BadRequest(refusal)
    return PayloadTooLarge(f"the attachments are larger than the {limits.max_mb} MB allowed")


async def _capped(
    body: AsyncGenerator[bytes, None], cap: int, too_large: InboxError
) -> AsyncGenerator[bytes, None]:
    # Chunked bodies declare no length, and a declared one may lie.
    size = 0
    async for chunk in body:
        size += len(chunk)
        if size > cap:
            raise too_large
        yield chunk


class _LimitedParser(MultiPartParser):
    """Starlette's multipart parser, stopping as soon as the files break the limits."""

    def __init__(
        self,
        headers: Headers,
        stream: AsyncGenerator[bytes, None],
        limits: AttachmentLimits | None,
        refusal: str,
    ) -> None:
        super().__init__(
            headers,
            stream,
            # Ours below is the limit that speaks; this one only bounds the
            # nameless empty parts that empty file inputs send.
            max_files=(limits.max_files if limits is not None else 0) + 2,
            max_fields=_MAX_FIELDS,
            max_part_size=_FIELD_BYTES,
        )
        self._limits = limits
        self._refusal = refusal
        self._named_files = 0
        self._file_bytes = 0

    def on_headers_finished(self) -> None:
        super().on_headers_finished()
        upload = self._current_part.file
        if upload is None or not upload.filename:
            return  # a text field, or an empty file input's part
        if self._limits is None:
            raise BadRequest(self._refusal)
        self._named_files += 1
        if self._named_files > self._limits.max_files:
            raise BadRequest(f"a reply can carry at most {self._limits.max_files} files")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._current_part.file is not None:
            self._file_bytes += end - start
            if self._limits is None:
                raise BadRequest(self._refusal)
            if self._file_bytes > self._limits.max_bytes:
                raise _too_large(self._limits, self._refusal)
        super().on_part_data(data, start, end)


def _uploads(form: FormData) -> tuple[UploadFile, ...]:
    uploads = []
    for name, value in form.multi_items():
        if not isinstance(value, UploadFile) or not (value.filename or value.size):
            continue
        if name != FILES_FIELD:
            raise BadRequest(f"files go in the `{FILES_FIELD}` field, not `{name}`")
        uploads.append(value)
    return tuple(uploads)
