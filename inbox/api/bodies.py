"""Reading a request body: bounded in size, and every failure a clear 4xx.

Shared by the JSON API and the inbound webhooks (`inbox.channels.webhooks`),
which need the raw bytes first because signatures cover them exactly.
"""

from __future__ import annotations

import json
import re
from typing import Any, NoReturn

from starlette.requests import Request

from inbox.errors import BadRequest, PayloadTooLarge

MAX_BODY_BYTES = 1024 * 1024


def _too_large() -> NoReturn:
    raise PayloadTooLarge(f"request body is larger than {MAX_BODY_BYTES} bytes")


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


# `\ud800`-`\udfff`: halves of a surrogate pair. json.loads joins a proper pair
# into one character but keeps a lone half, which no database can store.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _check_no_lone_surrogates(data: Any) -> None:
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadRequest("request body is not valid JSON: lone UTF-16 surrogate") from exc


async def read_raw(request: Request) -> bytes:
    """The body's exact bytes; refuses more than 1 MiB before or while reading."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isascii() or not declared.isdigit():
            raise BadRequest("Content-Length must be a number of bytes")
        if int(declared) > MAX_BODY_BYTES:
            _too_large()  # refuse before reading a byte
    chunks: list[bytes] = []
    size = 0
    # Counted while streaming as well: chunked bodies declare no length.
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(raw: bytes) -> Any:
    """The decoded JSON; a 400 with the reason for anything else."""
    try:
        # Strict UTF-8 (RFC 8259): json.loads would accept encoded surrogates.
        text = raw.decode("utf-8")
        data = json.loads(text, parse_constant=_reject_constant)
    except RecursionError as exc:  # deeply nested arrays would otherwise be a 500
        raise BadRequest("request body is not valid JSON: nested too deeply") from exc
    except ValueError as exc:  # includes JSONDecodeError and UnicodeDecodeError
        raise BadRequest(f"request body is not valid JSON: {exc}") from exc
    if _SURROGATE_ESCAPE.search(text):
        _check_no_lone_surrogates(data)
    return data


async def read_json(request: Request) -> Any:
    """The decoded body; `{}` when there is none."""
    raw = await read_raw(request)
    if not raw.strip():
        return {}
    return parse_json(raw)
