"""Handing one composed email to the inbox's SMTP server (aiosmtplib).

The sending queue (inbox/actions/outbound_mail.py) decides when to try and
how often; this only sends and says whether a failure is worth retrying:
a 5xx answer is permanent (the address or the message was refused), while a
4xx answer, a timeout or a lost connection is transient.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import aiosmtplib


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    security: Literal["none", "starttls", "ssl"] = "starttls"
    timeout: float = 30.0


class SmtpFailure(Exception):
    """Why sending failed, safe to show on the message (never contains credentials)."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


async def send_raw(
    settings: SmtpSettings, *, sender: str, recipients: Sequence[str], raw: bytes
) -> None:
    """Send exactly these bytes; raises SmtpFailure."""
    try:
        await aiosmtplib.send(
            raw,
            sender=sender,
            recipients=list(recipients),
            hostname=settings.host,
            port=settings.port,
            username=settings.username,
            password=settings.password,
            use_tls=settings.security == "ssl",
            start_tls=settings.security == "starttls",
            timeout=settings.timeout,
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        refused = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        permanent = all(r.code >= 500 for r in exc.recipients)
        raise SmtpFailure(f"recipients refused ({refused})", permanent=permanent) from None
    except aiosmtplib.SMTPAuthenticationError as exc:
        # Credentials may be fixed by an admin: keep retrying, with backoff.
        raise SmtpFailure(f"SMTP login refused ({exc.code})", permanent=False) from None
    except aiosmtplib.SMTPResponseException as exc:
        raise SmtpFailure(
            f"SMTP server answered {exc.code} {exc.message}", permanent=exc.code >= 500
        ) from None
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise SmtpFailure(_not_connected(settings, exc), permanent=False) from None


def _not_connected(settings: SmtpSettings, exc: BaseException) -> str:
    """Why no session came about. A refused certificate or a server without
    STARTTLS is something an admin must fix, not a network outage: say so."""
    where = f"{settings.host}:{settings.port}"
    cause: BaseException | None = exc
    while cause is not None:  # aiosmtplib wraps the ssl error of implicit TLS
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"the TLS certificate of {where} was not accepted ({cause.verify_message})"
        if isinstance(cause, ssl.SSLError):
            return f"TLS with {where} failed ({cause.reason or type(cause).__name__})"
        cause = cause.__cause__
    # aiosmtplib raises a bare SMTPException when STARTTLS isn't offered.
    if settings.security == "starttls" and "STARTTLS" in str(exc):
        return f"{where} does not offer STARTTLS: not sending without TLS"
    return f"could not reach {where} ({type(exc).__name__})"
