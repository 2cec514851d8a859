"""A real SMTP server for tests: aiosmtpd on a free loopback port, keeping what it accepts.

By default it speaks plain text and takes no login. Given a certificate it
speaks STARTTLS (refusing mail until the client has switched) or implicit
TLS; given credentials it takes AUTH, over TLS only unless it has no TLS to
offer (the stripped server a client must not give its password to).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from inbox.channels.email.smtp_send import SmtpSettings
from tests.live import free_port
from tests.tls_certs import ServerCert


class Recorder:
    """Keeps what it accepts; answers RCPT with a chosen code for chosen addresses."""

    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        self.received: list[Envelope] = []
        self.refuse: dict[str, str] = {}
        # Beside `received`, one per message: whether it came over TLS.
        self.over_tls: list[bool] = []
        # Every AUTH attempt, accepted or not: (username, over TLS).
        self.logins: list[tuple[str, bool]] = []
        self._credentials = credentials

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode(errors="replace")
        self.logins.append((login, _over_tls(server)))
        given = (login, auth_data.password.decode(errors="replace"))
        return AuthResult(success=given == self._credentials, handled=False)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.received.append(envelope)
        self.over_tls.append(_over_tls(server))
        return "250 Message accepted for delivery"


def _over_tls(server: SMTP) -> bool:
    # After STARTTLS aiosmtpd swaps in the TLS transport; with implicit TLS it always was one.
    return (
        server.transport is not None and server.transport.get_extra_info("ssl_object") is not None
    )


@contextmanager
def smtp_server(
    security: Literal["none", "starttls", "ssl"] = "none",
    *,
    cert: ServerCert | None = None,
    credentials: tuple[str, str] | None = None,
) -> Iterator[tuple[Recorder, SmtpSettings]]:
    """A started server and the settings that reach it (with `credentials`, if any)."""
    if (security == "none") != (cert is None):
        raise ValueError("a certificate is what TLS needs, and all it needs")
    recorder = Recorder(credentials)
    port = free_port()
    options: dict[str, Any] = {}
    if credentials is not None:
        # aiosmtpd can't tell an implicit-TLS connection from plain text, so
        # only after STARTTLS is TLS something to wait for.
        options.update(authenticator=recorder.authenticate, auth_require_tls=security == "starttls")
    if cert is not None and security == "starttls":
        options.update(tls_context=cert.server_context(), require_starttls=True)
    elif cert is not None:
        options.update(ssl_context=cert.server_context())
    controller = Controller(recorder, hostname="127.0.0.1", port=port, **options)
    controller.start()
    username, password = credentials or (None, None)
    settings = SmtpSettings("127.0.0.1", port, username, password, security=security, timeout=5)
    try:
        yield recorder, settings
    finally:
        controller.stop()
