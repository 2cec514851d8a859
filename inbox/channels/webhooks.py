"""What every inbound webhook shares, whichever provider calls it.

A webhook runs its checks cheapest-first, each with its own status: unknown
inbox 404, body too large 413, bad signature 401 (before the body is parsed),
malformed body 400, schema 422. Then it hands each message to `ingest()` and
answers only after commit, so a 2xx means stored. Providers redeliver, and
`InboundMessage.external_id` (the provider's id) makes that idempotent.

Signature, not session: webhooks ignore cookies, which is why the CSRF
middleware exempts `/webhooks/`. Nothing from a payload is logged beyond ids.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from inbox.actions.delivery_status import do_apply_receipts
from inbox.actions.inbound import Received
from inbox.api import bodies
from inbox.channels import webhook_batch
from inbox.channels.base import InboundMessage, inbox_state
from inbox.channels.fields import InvalidField
from inbox.channels.ingest import ingest
from inbox.channels.receipts import Receipts
from inbox.errors import InboxError, NotAuthenticated, NotFound, StaleInbox
from inbox.models import ChannelKind, Inbox
from inbox.runtime import Runtime
from inbox.views.requests import runtime

log = logging.getLogger(__name__)

# A webhook reads and parses its body exactly as the API does.
MAX_BODY_BYTES = bodies.MAX_BODY_BYTES
read_body = bodies.read_raw
parse_json = bodies.parse_json

# Inbox ids are 32-bit; a larger number names nothing (and would overflow a bind).
_MAX_INBOX_ID = 2**31 - 1
# Racing first deliveries from one new sender can collide on the sender's
# identity row (PostgreSQL); ingest is idempotent, so trying again is safe.
_INGEST_ATTEMPTS = 3

Handler = Callable[[Request], Awaitable[Response]]


class Unavailable(Exception):
    """The database could not be reached; nothing was committed, so a retry is safe."""


def error(status: int, message: str, **details: Any) -> JSONResponse:
    body: dict[str, Any] = {"status": status, "message": message}
    if details:
        body["details"] = details
    return JSONResponse({"error": body}, status)


def unavailable() -> JSONResponse:
    response = error(503, "the inbox is unavailable; retry later")
    response.headers["Retry-After"] = "5"
    return response


def endpoint(handler: Handler) -> Handler:
    """The route: the handler, with domain errors answered in JSON (webhooks live
    outside /api/, whose handlers do that themselves) and a payload the
    provider's schema or the domain refuses answered 422."""

    async def route(request: Request) -> Response:
        try:
            try:
                return await handler(request)
            except (StaleInbox, NotAuthenticated):
                if not _forget(request):  # checked against the stored inbox: that stands
                    raise
                return await handler(request)  # checked again, against the stored inbox
        except InboxError as exc:
            return error(exc.status_code, exc.message, **exc.details)
        except ValidationError as exc:
            return schema_error(exc)
        except InvalidField as exc:
            return error(422, str(exc), errors=[{"field": exc.field, "problem": exc.problem}])
        except Unavailable:
            return unavailable()

    route.__name__ = route.__qualname__ = handler.__name__
    route.__doc__ = handler.__doc__
    return route


def not_found(label: str) -> NotFound:
    return NotFound(f"no {label} inbox with this id")


def inbox_id(raw: object, label: str) -> int:
    """The path's inbox id; anything that can't name an inbox is simply not found."""
    if isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 10:
        value = int(raw)
        if 1 <= value <= _MAX_INBOX_ID:
            return value
    raise not_found(label)


@dataclass(frozen=True)
class WebhookInbox:
    """What a webhook's checks need of its inbox."""

    id: int
    secrets: dict[str, str]
    # inbox_state() of the row these were read from.
    state: str


@dataclass(frozen=True)
class Delivery:
    """A webhook request whose inbox was found: not yet authenticated."""

    rt: Runtime
    inbox: WebhookInbox
    raw: bytes

    @property
    def secrets(self) -> dict[str, str]:
        return self.inbox.secrets

    async def store(self, inbound: InboundMessage) -> Received:
        """`ingest_one`, refused (StaleInbox) if the inbox changed since it was checked."""
        return await ingest_one(self.rt, replace(inbound, checked_against=self.inbox.state))

    async def store_all(self, inbounds: Sequence[InboundMessage]) -> list[Received]:
        """`ingest_all`, each refused (StaleInbox) if the inbox changed since it was checked."""
        return await ingest_all(
            self.rt, [replace(i, checked_against=self.inbox.state) for i in inbounds]
        )


# Checked inboxes, per runtime (by id; the weak reference tells a reused id
# apart), so a delivery reads no inbox of its own. Ingest compares each
# message's `checked_against` with the inbox it reads in its transaction, so
# a deactivated inbox or changed secret refuses what was checked against the
# old one; a refusal based on a remembered inbox is checked again (`_forget`).
_Key = tuple[int, ChannelKind, tuple[str, ...]]
_checked: dict[int, tuple[weakref.ref[Runtime], dict[_Key, WebhookInbox]]] = {}
_REMEMBERED = "webhook_inbox_remembered"
_RAW = "webhook_raw"


def _remembered(rt: Runtime) -> dict[_Key, WebhookInbox]:
    entry = _checked.get(id(rt))
    if entry is None or entry[0]() is not rt:
        entry = (weakref.ref(rt), {})
        _checked[id(rt)] = entry
    return entry[1]


def _forget(request: Request) -> bool:
    """Drop the remembered inbox this request was checked against; False if it
    was read from the database (there is nothing to check again)."""
    key: _Key | None = request.scope.get("state", {}).pop(_REMEMBERED, None)
    if key is None:
        return False
    _remembered(runtime(request)).pop(key, None)
    return True


async def delivery(
    request: Request, kind: ChannelKind, label: str, required: Sequence[str]
) -> Delivery:
    """The inbox (404 first, before reading a byte), its secrets, then the raw body (413)."""
    rt = runtime(request)
    inbox = await channel_inbox(rt, request, kind, label, required, remember=True)
    state = request.scope.setdefault("state", {})
    if _RAW not in state:  # checked again (`_forget`): the body was read the first time
        state[_RAW] = await read_body(request)
    return Delivery(rt, inbox, state[_RAW])


async def channel_inbox(
    rt: Runtime,
    request: Request,
    kind: ChannelKind,
    label: str,
    required: Sequence[str],
    *,
    remember: bool = False,
) -> WebhookInbox:
    """The active inbox of `kind` named by the path, and its `required` secrets.

    An inbox that can't take this webhook (another channel, inactive, not set
    up) answers exactly like one that doesn't exist. With `remember`, as
    checked before if it was (for deliveries: ingest checks it again).
    """
    wanted = inbox_id(request.path_params.get("inbox_id"), label)
    key: _Key = (wanted, kind, tuple(required))
    remembered = _remembered(rt)
    if remember and key in remembered:
        request.scope.setdefault("state", {})[_REMEMBERED] = key
        return remembered[key]
    async with rt.read_sessions() as session:
        inbox = await session.get(Inbox, wanted)
    if inbox is None or inbox.channel is not kind or not inbox.is_active:
        raise not_found(label)
    secrets: dict[str, str] = {}
    for name in required:
        value = inbox.secrets.get(name)
        if not isinstance(value, str) or not value:
            log.warning("%s inbox %s has no %s; refusing its webhook", label, wanted, name)
            raise not_found(label)
        secrets[name] = value
    checked = WebhookInbox(
        wanted, secrets, inbox_state(inbox.channel.value, inbox.is_active, inbox.secrets)
    )
    if remember:
        remembered[key] = checked
    return checked


def schema_error(exc: ValidationError) -> JSONResponse:
    """422 naming every field that failed, the first one in the message."""
    problems = [
        {"field": ".".join(str(p) for p in err["loc"]) or "body", "problem": err["msg"]}
        for err in exc.errors(include_url=False, include_input=False)
    ]
    first = problems[0] if problems else {"field": "body", "problem": "invalid"}
    return error(422, f"{first['field']}: {first['problem']}", errors=problems)


async def ingest_one(rt: Runtime, inbound: InboundMessage) -> Received:
    """Stored (or found already stored), in one transaction with the deliveries that
    arrive meanwhile (webhook_batch); raises Unavailable when the database is down."""
    try:
        return await webhook_batch.store(rt, inbound, _ingest_alone)
    except (OperationalError, OSError, TimeoutError) as exc:
        log.warning(
            "webhook for inbox %s: database unavailable: %s",
            inbound.inbox_id,
            type(exc).__name__,
        )
        raise Unavailable from exc


async def _ingest_alone(rt: Runtime, inbound: InboundMessage) -> Received:
    for attempt in range(1, _INGEST_ATTEMPTS + 1):
        try:
            return await ingest(rt, inbound)
        except IntegrityError:
            if attempt == _INGEST_ATTEMPTS:
                raise
    raise AssertionError("unreachable: the last attempt returns or raises")


async def ingest_all(rt: Runtime, inbounds: Sequence[InboundMessage]) -> list[Received]:
    """Each message in order, each committed on its own: a provider that retries
    the whole delivery after a failure part-way finds the first ones stored and
    stores nothing twice."""
    return [await ingest_one(rt, inbound) for inbound in inbounds]


async def apply_receipts(rt: Runtime, inbox_id: int, receipts: Receipts) -> None:
    """Delivery receipts, after the messages (a reply's receipt can follow it in
    one delivery); raises Unavailable when the database is down."""
    try:
        await do_apply_receipts(rt, inbox_id, receipts)
    except (OperationalError, OSError, TimeoutError) as exc:
        log.warning("webhook for inbox %s: database unavailable: %s", inbox_id, type(exc).__name__)
        raise Unavailable from exc


def summary(received: Sequence[Received]) -> JSONResponse:
    """The answer for a delivery of any number of messages (providers ignore it)."""
    return JSONResponse(
        {
            "stored": sum(1 for r in received if r.created),
            "duplicates": sum(1 for r in received if not r.created),
            "message_ids": [r.message.id for r in received],
        }
    )
