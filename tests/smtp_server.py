"""A real SMTP server for tests: aiosmtpd on a free loopback port, keeping what it accepts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from inbox.channels.email.smtp_send import SmtpSettings
from tests.live import free_port


class Recorder:
    """Keeps what it accepts; answers RCPT with a chosen code for chosen addresses."""

    def __init__(self) -> None:
        self.received: list[Envelope] = []
        self.refuse: dict[str, str] = {}

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.received.append(envelope)
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server() -> Iterator[tuple[Recorder, SmtpSettings]]:
    recorder = Recorder()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield recorder, SmtpSettings(host="127.0.0.1", port=port, security="none", timeout=5)
    finally:
        controller.stop()
