"""Sending one composed email to a real SMTP server (aiosmtpd on loopback)."""

from __future__ import annotations

from email import message_from_bytes

import pytest

from inbox.channels.email.smtp_send import SmtpFailure, SmtpSettings, send_raw
from tests.live import free_port
from tests.smtp_server import Recorder

RAW = (
    b"From: Support <support@shop.test>\r\nTo: maria@example.test\r\n"
    b"Subject: Re: Where is my order?\r\nMessage-ID: <c1.x@shop.test>\r\n\r\nIt ships today.\r\n"
)


async def test_the_exact_bytes_reach_the_server(smtp: tuple[Recorder, SmtpSettings]) -> None:
    recorder, settings = smtp
    await send_raw(settings, sender="support@shop.test", recipients=["maria@example.test"], raw=RAW)
    (envelope,) = recorder.received
    assert envelope.mail_from == "support@shop.test"
    assert envelope.rcpt_tos == ["maria@example.test"]
    assert isinstance(envelope.content, bytes)
    sent = message_from_bytes(envelope.content)
    assert sent["Message-ID"] == "<c1.x@shop.test>" and sent["Subject"] == "Re: Where is my order?"


async def test_a_refused_address_is_permanent_a_busy_server_is_not(
    smtp: tuple[Recorder, SmtpSettings],
) -> None:
    recorder, settings = smtp
    recorder.refuse["gone@example.test"] = "550 5.1.1 No such user"
    with pytest.raises(SmtpFailure) as refused:
        await send_raw(settings, sender="s@shop.test", recipients=["gone@example.test"], raw=RAW)
    assert refused.value.permanent and "No such user" in refused.value.reason
    recorder.refuse["busy@example.test"] = "451 4.3.0 Try again later"
    with pytest.raises(SmtpFailure) as busy:
        await send_raw(settings, sender="s@shop.test", recipients=["busy@example.test"], raw=RAW)
    assert not busy.value.permanent
    assert recorder.received == []


async def test_an_unreachable_server_is_transient_and_names_no_secret() -> None:
    settings = SmtpSettings(
        host="127.0.0.1",
        port=free_port(),
        username="support",
        password="hunter2-secret",
        security="none",
        timeout=2,
    )
    with pytest.raises(SmtpFailure) as failed:
        await send_raw(settings, sender="s@shop.test", recipients=["m@example.test"], raw=RAW)
    assert not failed.value.permanent
    assert "hunter2" not in failed.value.reason and "hunter2" not in repr(settings)
