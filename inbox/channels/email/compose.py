"""Building the emails we send: a reply to a customer, safe against header injection.

Every header value that may come from outside (a customer's subject, a name,
an address, a Message-ID read from their mail) is checked before use: a CR, LF,
any other C0 control but TAB, DEL, or a Unicode line separator raises
`HeaderInjection`. Nothing is silently stripped, so a tampered value is seen
and refused rather than half-used.

Rules chosen
------------
* Subject: "Re: " is added unless the subject already starts with a reply
  prefix (Re, Aw, Antw, Sv, Vs, Odp, Res, Ynt; any case; "Re[2]:" too).
* References: the original's References, then In-Reply-To last (it is the
  parent, and threading readers take the last entry as such), without
  duplicates; beyond 20 ids the first (the thread's root) and the 19 most
  recent are kept, as clients commonly trim it.
* Addresses: one plain addr-spec each (no display name, no quoted or
  non-ASCII local part, since we do not use SMTPUTF8); an internationalised
  domain is IDNA-encoded.
* ``automatic=True`` marks the mail as RFC 3834 requires
  (``Auto-Submitted: auto-replied``) and asks Exchange not to answer it
  (``X-Auto-Response-Suppress: All``).
* The message uses ``email.policy.SMTP``, so ``bytes(msg)`` and
  ``msg.as_bytes()`` have CRLF line endings, ready for `smtp_send.send_raw`.
* Attachments are base64; multipart/* and message/* types (an .eml a user
  attaches) are sent as application/octet-stream, intact, under their name.
* ``html`` is sent as given (an alternative to ``text``): it is ours, authored
  by an agent, and sanitised where it is written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from email import policy as email_policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from .parse import normalise_msg_id

__all__ = ["HeaderInjection", "compose_reply", "reply_subject"]


class HeaderInjection(ValueError):
    """A header value carried a line break or control character."""


_FORBIDDEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")
_REPLY_PREFIX = re.compile(r"^\s*(?:re|aw|antw|sv|vs|odp|res|ynt)\s*(?:\[\d+\])?\s*:", re.I)
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_CONTENT_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")
_MAX_REFERENCES = 20


def _check(field: str, value: str) -> str:
    if _FORBIDDEN.search(value):
        raise HeaderInjection(f"{field} contains a line break or control character")
    return value


def _address(field: str, value: str) -> str:
    """One addr-spec, checked; the domain IDNA-encoded when needed."""
    _check(field, value)
    local, at, domain = value.strip().rpartition("@")
    if not at or not _LOCAL.fullmatch(local) or len(local) > 64:
        raise ValueError(f"{field} is not a single email address: {value!r}")
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"{field} has an invalid domain: {value!r}") from None
    labels = ascii_domain.split(".")
    if len(ascii_domain) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError(f"{field} has an invalid domain: {value!r}")
    return f"{local}@{ascii_domain.lower()}"


def _msg_id(field: str, value: str) -> str:
    _check(field, value)
    if normalise_msg_id(value) != value:
        raise ValueError(f"{field} is not a single <msg-id>: {value!r}")
    return value


def reply_subject(subject: str) -> str:
    """The subject of a reply: 'Re: ' added only when no reply prefix is there."""
    subject = _check("subject", subject).strip()
    if _REPLY_PREFIX.match(subject):
        return subject
    return f"Re: {subject}" if subject else "Re:"


def _references(references: Sequence[str], in_reply_to: str | None) -> list[str]:
    chain = [_msg_id("references", r) for r in references if r != in_reply_to]
    if in_reply_to is not None:
        chain.append(in_reply_to)
    chain = list(dict.fromkeys(chain))
    if len(chain) > _MAX_REFERENCES:
        chain = [chain[0], *chain[-(_MAX_REFERENCES - 1) :]]
    return chain


def compose_reply(
    *,
    from_address: str,
    from_name: str,
    to: str,
    subject: str,
    text: str,
    html: str | None,
    message_id: str,
    in_reply_to: str | None,
    references: Sequence[str],
    reply_to: str | None = None,
    attachments: Sequence[tuple[str, str, bytes]] = (),
    automatic: bool = False,
    date: datetime | None = None,
) -> EmailMessage:
    """A reply ready to send; raises HeaderInjection or ValueError on bad input.

    `attachments` are (filename, content type, data). `date` must be aware
    (default: now).
    """
    sender = Address(
        display_name=_check("from_name", from_name).strip(),
        addr_spec=_address("from_address", from_address),
    )
    recipient = _address("to", to)
    reply_address = _address("reply_to", reply_to) if reply_to is not None else None
    own_id = _msg_id("message_id", message_id)
    parent = _msg_id("in_reply_to", in_reply_to) if in_reply_to is not None else None
    chain = _references(references, parent)
    when = date if date is not None else datetime.now(UTC)
    if when.tzinfo is None:
        raise ValueError("date must be timezone-aware")

    msg = EmailMessage(policy=email_policy.SMTP)
    msg["From"] = sender
    msg["To"] = recipient
    if reply_address is not None:
        msg["Reply-To"] = reply_address
    msg["Subject"] = reply_subject(subject)
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = own_id
    if parent is not None:
        msg["In-Reply-To"] = parent
    if chain:
        msg["References"] = " ".join(chain)
    if automatic:
        msg["Auto-Submitted"] = "auto-replied"
        msg["X-Auto-Response-Suppress"] = "All"

    msg.set_content(text.replace("\x00", ""), subtype="plain", charset="utf-8")
    if html is not None:
        msg.add_alternative(html.replace("\x00", ""), subtype="html", charset="utf-8")
    for filename, content_type, data in attachments:
        _check("attachment filename", filename)
        ctype = content_type.strip().lower()
        if not _CONTENT_TYPE.fullmatch(ctype):
            raise ValueError(f"invalid attachment content type: {content_type!r}")
        maintype, _, subtype = ctype.partition("/")
        if maintype in ("multipart", "message"):
            # These would need their own MIME structure; as opaque bytes they
            # travel intact, and the file name keeps what they are.
            maintype, subtype = "application", "octet-stream"
        name = filename.strip() or "attachment"
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg
