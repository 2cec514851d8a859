"""What every provider's send module shares: the queued request, how a failed
attempt is classified, and the reason an agent is shown.

A provider module (`telegram/send.py`, `meta/send.py`, `twilio/send.py`,
`api/send.py`) turns a `ProviderRequest` into one HTTP call and returns the
provider's message id, or raises `SendFailure`:

- transient (retried with backoff): the network failed, the provider
  answered 5xx, 408 or 429 (its Retry-After is honoured);
- permanent (the message is marked failed at once): any other 4xx, such as
  an invalid recipient or a closed messaging window.

A reason names the provider and says what it said; it never carries a
credential or a URL (Telegram's carry the bot token), so it is safe to store,
show and log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from inbox.sanitize import preview

# httpx logs every request's full URL at INFO, and a Telegram URL carries the
# bot token: the worker logs at INFO, so these loggers must say less.
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).setLevel(logging.WARNING)

# A provider's error text, as shown on the message: enough to act on.
_MAX_REASON = 300
TIMEOUT = httpx.Timeout(20.0, connect=10.0)


@dataclass(frozen=True)
class Template:
    """A pre-approved message (WhatsApp) and the values of its body's {{n}} parameters."""

    name: str
    language: str
    params: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProviderRequest:
    """What a queued reply sends, fixed when the reply is stored.

    `to` is the provider's recipient (chat id, wa_id, PSID/IGSID, E.164
    number, the integration's user id); exactly one of `text` and `template`
    is set. `tag` is Meta's message tag for a reply outside the standard
    window (HUMAN_AGENT).
    """

    to: str
    text: str | None = None
    template: Template | None = None
    tag: str | None = None
    # For the API channel's webhook body.
    message_id: int = 0
    conversation_id: int = 0

    def to_json(self) -> dict[str, Any]:
        template = self.template
        return {
            "to": self.to,
            "text": self.text,
            "template": None
            if template is None
            else {
                "name": template.name,
                "language": template.language,
                "params": list(template.params),
            },
            "tag": self.tag,
            "message_id": self.message_id,
            "conversation_id": self.conversation_id,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProviderRequest:
        raw = data.get("template")
        template = (
            Template(str(raw["name"]), str(raw["language"]), tuple(str(p) for p in raw["params"]))
            if isinstance(raw, dict)
            else None
        )
        return cls(
            to=str(data["to"]),
            text=data.get("text"),
            template=template,
            tag=data.get("tag"),
            message_id=int(data.get("message_id") or 0),
            conversation_id=int(data.get("conversation_id") or 0),
        )


class SendFailure(Exception):
    """An attempt failed; `reason` is safe to show an agent."""

    def __init__(
        self, reason: str, *, permanent: bool, retry_after: timedelta | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after


def clean_reason(text: str) -> str:
    """A provider's words as one printable line (no bidi tricks), cut to size."""
    return preview("".join(c if c.isprintable() else " " for c in text), _MAX_REASON)


def unreachable(provider: str, exc: httpx.HTTPError) -> SendFailure:
    """A transport failure: retried. Only the exception's kind is kept, since
    httpx's messages may quote the URL."""
    return SendFailure(f"could not reach {provider} ({type(exc).__name__})", permanent=False)


def refused(provider: str, response: httpx.Response, said: str | None) -> SendFailure:
    """A non-2xx answer, with what the provider `said` (its error message)."""
    status = response.status_code
    words = clean_reason(said) if said and said.strip() else f"HTTP {status}"
    transient = status in (408, 429) or status >= 500
    reason = f"{provider} {'is unavailable' if transient else 'refused the message'}: {words}"
    return SendFailure(reason, permanent=not transient, retry_after=_retry_after(response))


def _retry_after(response: httpx.Response) -> timedelta | None:
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(when - datetime.now(UTC), timedelta(0))


def json_body(response: httpx.Response) -> dict[str, Any]:
    """The answer as a JSON object; {} for anything else (a proxy's HTML page)."""
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
