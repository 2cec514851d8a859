"""`POST /webhooks/api/{inbox_id}`: signed inbound messages from an integration.

The checks run cheapest-first and each answers with its own status: unknown
inbox 404, body too large 413, bad or stale signature 401 (the body is not
even parsed), malformed JSON 400, schema 422. Only then is the message handed
to `ingest()`, and the answer is sent after commit, so a 200 means stored.
Redelivery is safe: the sender's message id makes it idempotent.

Signature, not session: this route ignores cookies entirely, which is why
the CSRF middleware exempts `/webhooks/`.
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any, NoReturn

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inbox.actions.inbound import Received
from inbox.channels.base import InboundMessage
from inbox.channels.ingest import ingest
from inbox.errors import BadRequest, InboxError, NotAuthenticated, NotFound, PayloadTooLarge
from inbox.models import ChannelKind, Inbox
from inbox.runtime import Runtime
from inbox.views.requests import runtime

from . import signing
from .normalise import ApiMessage, InvalidField, to_inbound

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
# Inbox ids are 32-bit; a larger number names nothing (and would overflow a bind).
_MAX_INBOX_ID = 2**31 - 1
# Racing first deliveries from one new sender can collide on the sender's
# identity row (PostgreSQL); ingest is idempotent, so trying again is safe.
_INGEST_ATTEMPTS = 3
# `\ud800`-`\udfff`: half of a surrogate pair. json.loads keeps a lone half,
# which no database can store.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _error(status: int, message: str, **details: Any) -> JSONResponse:
    body: dict[str, Any] = {"status": status, "message": message}
    if details:
        body["details"] = details
    return JSONResponse({"error": body}, status)


async def receive(request: Request) -> Response:
    try:
        return await _receive(request)
    except InboxError as exc:
        # Webhooks live outside /api/, whose handlers answer in JSON; say it here.
        return _error(exc.status_code, exc.message, **exc.details)


async def _receive(request: Request) -> Response:
    rt = runtime(request)
    inbox_id = _inbox_id(request.path_params.get("inbox_id"))
    secret = await _signing_secret(rt, inbox_id)
    raw = await _read_body(request)
    problem = signing.check(
        secret,
        request.headers.get(signing.TIMESTAMP_HEADER),
        request.headers.get(signing.SIGNATURE_HEADER),
        raw,
        time.time(),
    )
    if problem is not None:
        log.info("API webhook for inbox %s refused: %s", inbox_id, problem)
        raise NotAuthenticated(problem)
    data = _parse_json(raw)
    try:
        inbound = to_inbound(inbox_id, ApiMessage.model_validate(data))
    except ValidationError as exc:
        problems = [
            {"field": ".".join(str(p) for p in err["loc"]) or "body", "problem": err["msg"]}
            for err in exc.errors(include_url=False, include_input=False)
        ]
        first = problems[0] if problems else {"field": "body", "problem": "invalid"}
        return _error(422, f"{first['field']}: {first['problem']}", errors=problems)
    except InvalidField as exc:
        return _error(422, str(exc), errors=[{"field": exc.field, "problem": exc.problem}])
    received = await _ingest(rt, inbound)
    if received is None:
        response = _error(503, "the inbox is unavailable; retry later")
        response.headers["Retry-After"] = "5"
        return response
    return JSONResponse(
        {
            "message_id": received.message.id,
            "conversation_id": received.message.conversation_id,
            "duplicate": not received.created,
        }
    )


def _inbox_id(raw: object) -> int:
    if isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 10:
        value = int(raw)
        if 1 <= value <= _MAX_INBOX_ID:
            return value
    raise NotFound("no API inbox with this id")


async def _signing_secret(rt: Runtime, inbox_id: int) -> str:
    """The inbox's secret; any inbox that can't take this webhook is simply not found."""
    async with rt.read_sessions() as session:
        inbox = await session.get(Inbox, inbox_id)
    if inbox is None or inbox.channel is not ChannelKind.API or not inbox.is_active:
        raise NotFound("no API inbox with this id")
    secret = inbox.secrets.get("signing_secret")
    if not isinstance(secret, str) or not secret:
        log.warning("API inbox %s has no signing_secret; refusing its webhook", inbox_id)
        raise NotFound("no API inbox with this id")
    return secret


def _too_large() -> NoReturn:
    raise PayloadTooLarge(f"request body is larger than {MAX_BODY_BYTES} bytes")


async def _read_body(request: Request) -> bytes:
    """The raw bytes, exactly as signed; refuses more than 1 MiB before or while reading."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isascii() or not declared.isdigit():
            raise BadRequest("Content-Length must be a number of bytes")
        if int(declared) > MAX_BODY_BYTES:
            _too_large()
    chunks: list[bytes] = []
    size = 0
    # Counted while streaming too: a chunked body declares no length.
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def _parse_json(raw: bytes) -> Any:
    try:
        # Strict UTF-8 (RFC 8259), and no NaN or Infinity.
        text = raw.decode("utf-8")
        data = json.loads(text, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise BadRequest("request body is not valid JSON: nested too deeply") from exc
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError alike
        raise BadRequest(f"request body is not valid JSON: {exc}") from exc
    if _SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise BadRequest("request body is not valid JSON: lone UTF-16 surrogate") from exc
    return data


async def _ingest(rt: Runtime, inbound: InboundMessage) -> Received | None:
    """Stored (or found already stored); None when the database can't be reached."""
    for attempt in range(1, _INGEST_ATTEMPTS + 1):
        try:
            return await ingest(rt, inbound)
        except IntegrityError:
            if attempt == _INGEST_ATTEMPTS:
                raise
        except (OperationalError, OSError, TimeoutError) as exc:
            # Nothing was committed, so the integration may simply retry.
            log.warning("API webhook for inbox %s: database unavailable: %s", inbound.inbox_id, exc)
            return None
    raise AssertionError("unreachable: the last attempt returns or raises")


routes = [Route("/webhooks/api/{inbox_id}", receive, methods=["POST"])]
