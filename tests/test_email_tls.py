"""The email connector over TLS, certificates verified, against real servers.

Each module run makes a throwaway CA (tests/tls_certs.py) and a certificate
for 127.0.0.1 from it. Dovecot and aiosmtpd present that certificate; the app
trusts the CA the way an operator installs a private one, through
SSL_CERT_FILE, which `ssl.create_default_context()` reads each time a
connection is made. Without it (or for a certificate naming another host)
the app must refuse: say why where an admin will look, store nothing, and
send nothing, least of all a password, in plain text.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Literal

import httpx
import pytest
from sqlalchemy import select

from inbox.actions.inboxes import do_update_email_settings
from inbox.actions.mail import sync_state
from inbox.actions.messages import do_post_reply
from inbox.channels.email.connector import EmailConnector
from inbox.channels.email.sender import send_due
from inbox.channels.email.settings import EmailConfig, EmailSecrets, email_config, smtp_settings
from inbox.channels.email.smtp_send import SmtpSettings
from inbox.channels.ingest import ingest
from inbox.models import Delivery, Inbox, Message, OutboundEmail, utcnow
from inbox.runtime import Runtime
from tests.conftest import World, login
from tests.dovecot_server import DovecotServer, running_dovecot
from tests.helpers import inbound
from tests.smtp_server import smtp_server
from tests.test_email_connector import PASSWORD, Mailbox, count, mail
from tests.test_outbound_mail import delivery_of
from tests.tls_certs import ServerCert, ThrowawayCA

TlsMode = Literal["ssl", "starttls"]
SMTP_USER = "support@shop.test"
SMTP_PASSWORD = "smtp-pw-never-shown"
# aiosmtpd's own logger: the test server's log is not the app's.
_SERVER_LOGGER = "mail.log"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> ThrowawayCA:
    return ThrowawayCA(tmp_path_factory.mktemp("tls-ca"))


@pytest.fixture(scope="module")
def cert(ca: ThrowawayCA) -> ServerCert:
    return ca.issue("mail", names=("127.0.0.1", "localhost"))


@pytest.fixture(scope="module")
def misnamed(ca: ThrowawayCA) -> ServerCert:
    """From the trusted CA, but for another host: trusting the CA isn't enough."""
    return ca.issue("elsewhere", names=("mail.elsewhere.test",))


@pytest.fixture(scope="module")
async def tls_dovecot(cert: ServerCert) -> AsyncIterator[DovecotServer]:
    async with running_dovecot(tls=cert) as server:
        yield server


@pytest.fixture(scope="module")
async def misnamed_dovecot(misnamed: ServerCert) -> AsyncIterator[DovecotServer]:
    async with running_dovecot(tls=misnamed) as server:
        yield server


@pytest.fixture(scope="module")
async def plain_dovecot() -> AsyncIterator[DovecotServer]:
    async with running_dovecot() as server:
        yield server


@pytest.fixture
def trust_ca(monkeypatch: pytest.MonkeyPatch, cert: ServerCert) -> None:
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert.ca))


@pytest.fixture
def system_trust_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine's trust store alone, which has never heard of our CA."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


@pytest.fixture
def app_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every level, so a password in a DEBUG line (imapclient, aiosmtplib) fails too.

    Tests clear it once the settings are saved: saving them is not under
    test here, and aiosqlite logs each statement's parameters at DEBUG.
    """
    caplog.set_level(logging.DEBUG)
    yield caplog


def assert_no_secret(caplog: pytest.LogCaptureFixture, secret: str, *texts: str | None) -> None:
    """`secret` is in none of the app's log records (tracebacks included) nor in `texts`."""
    formatter = logging.Formatter("%(name)s %(message)s")
    logged = [formatter.format(r) for r in caplog.records if r.name != _SERVER_LOGGER]
    assert not [line for line in logged if secret in line]
    assert not [text for text in texts if text and secret in text]


def warned(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    """The operator's log says it too, as a warning."""
    return any(r.levelno == logging.WARNING and text in r.getMessage() for r in caplog.records)


async def imap_connector(
    rt: Runtime, world: World, mailbox: Mailbox, *, security: TlsMode, port: int
) -> EmailConnector:
    config = EmailConfig.model_validate(
        {
            "address": mailbox.user,
            "imap": {"host": mailbox.server.host, "port": port, "security": security},
            # Never reached: nothing is queued to send in these tests.
            "smtp": {"host": "127.0.0.1", "port": 9, "security": "ssl"},
        }
    )
    inbox = await do_update_email_settings(
        rt, world.admin, world.email_inbox.id, config, EmailSecrets(imap_password=PASSWORD)
    )
    return EmailConnector(rt, inbox)


def port_for(server: DovecotServer, security: TlsMode) -> int:
    if security == "ssl":
        assert server.tls_port is not None
        return server.tls_port
    return server.port


async def logins(server: DovecotServer, user: str, at_least: int) -> list[str]:
    """The server's login lines for `user`, once there are `at_least` (its log lags)."""
    async with asyncio.timeout(5):
        # A log file offers no event to wait on.
        while len(lines := server.logins(user)) < at_least:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    return lines


async def first_sync_error(rt: Runtime, connector: EmailConnector) -> str:
    """Run the connector as the worker does until it records a sync error."""
    running = asyncio.create_task(connector.run())
    try:
        async with asyncio.timeout(10):
            while True:
                async with rt.read_sessions() as db:
                    state = await sync_state(db, connector.inbox_id, "INBOX")
                if state is not None and state.last_error:
                    return state.last_error
                assert not running.done(), "the connector stopped instead of retrying"
                await asyncio.sleep(0.05)
    finally:
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running


# -- IMAP -----------------------------------------------------------------

TLS_MODES = [pytest.param("ssl", id="implicit-tls"), pytest.param("starttls", id="starttls")]


@pytest.mark.parametrize("security", TLS_MODES)
@pytest.mark.usefixtures("trust_ca")
async def test_imap_over_tls_syncs_new_mail(
    rt: Runtime,
    world: World,
    tls_dovecot: DovecotServer,
    security: TlsMode,
    app_logs: pytest.LogCaptureFixture,
) -> None:
    mailbox = Mailbox(tls_dovecot)
    mailbox.deliver(mail(41))  # in plain text, as a local MTA would
    await logins(tls_dovecot, mailbox.user, 1)
    connector = await imap_connector(
        rt, world, mailbox, security=security, port=port_for(tls_dovecot, security)
    )
    app_logs.clear()
    assert await connector.sync_now() == 1
    async with rt.read_sessions() as db:
        texts = (await db.scalars(select(Message.text))).all()
    assert [t.strip() for t in texts] == ["Where is order 41?"]
    # Dovecot marks a login made inside TLS; the delivery's, in plain text, isn't.
    delivery, app = await logins(tls_dovecot, mailbox.user, 2)
    assert ", TLS," not in delivery and ", TLS," in app
    assert_no_secret(app_logs, PASSWORD)


# (what the app trusts, which certificate the server presents, what the error says)
CERT_PROBLEMS = [
    pytest.param("system_trust_only", "cert", "unable to get local issuer", id="unknown-ca"),
    pytest.param("trust_ca", "misnamed", "IP address mismatch", id="wrong-host"),
]


@pytest.mark.parametrize("security", TLS_MODES)
@pytest.mark.parametrize(("trust", "which", "why"), CERT_PROBLEMS)
async def test_imap_refuses_a_certificate_it_cannot_verify_and_says_so(
    request: pytest.FixtureRequest,
    rt: Runtime,
    world: World,
    client: httpx.AsyncClient,
    tls_dovecot: DovecotServer,
    misnamed_dovecot: DovecotServer,
    security: TlsMode,
    trust: str,
    which: str,
    why: str,
    app_logs: pytest.LogCaptureFixture,
) -> None:
    request.getfixturevalue(trust)
    server = tls_dovecot if which == "cert" else misnamed_dovecot
    mailbox = Mailbox(server)
    mailbox.deliver(mail(51))
    await logins(server, mailbox.user, 1)
    connector = await imap_connector(
        rt, world, mailbox, security=security, port=port_for(server, security)
    )
    app_logs.clear()
    error = await first_sync_error(rt, connector)
    assert "certificate verify failed" in error and why in error
    assert "log in failed" not in error  # the password is not what to fix
    assert await count(rt, Message) == 0
    # The handshake failed before LOGIN: the password never left the app.
    assert len(server.logins(mailbox.user)) == 1
    assert warned(app_logs, "certificate verify failed")
    assert_no_secret(app_logs, PASSWORD, error)
    # What the admin sees on the inbox's health panel.
    await login(client, "admin@example.test")
    page = await client.get(f"/admin/inboxes/{world.email_inbox.id}")
    assert page.status_code == 200
    assert "Failing since" in page.text and "certificate verify failed" in page.text


@pytest.mark.usefixtures("trust_ca")
async def test_imap_starttls_never_falls_back_to_plain_text(
    rt: Runtime, world: World, plain_dovecot: DovecotServer, app_logs: pytest.LogCaptureFixture
) -> None:
    mailbox = Mailbox(plain_dovecot)  # a server (or an attacker) offering no STARTTLS
    mailbox.deliver(mail(61))
    await logins(plain_dovecot, mailbox.user, 1)
    connector = await imap_connector(
        rt, world, mailbox, security="starttls", port=plain_dovecot.port
    )
    app_logs.clear()
    error = await first_sync_error(rt, connector)
    assert "STARTTLS failed" in error and "not support STARTTLS" in error
    assert await count(rt, Message) == 0
    assert len(plain_dovecot.logins(mailbox.user)) == 1  # only the delivery's
    assert warned(app_logs, "STARTTLS")
    assert_no_secret(app_logs, PASSWORD, error)


# -- SMTP -----------------------------------------------------------------


async def queue_reply(rt: Runtime, world: World, server: SmtpSettings) -> tuple[int, SmtpSettings]:
    """An agent's reply queued in an inbox whose SMTP settings point at `server`;
    returns it and the settings the connector derives from the stored inbox."""
    config = EmailConfig.model_validate(
        {
            "address": "support@shop.test",
            "display_name": "Shop support",
            "imap": {"host": "127.0.0.1", "port": 9, "security": "ssl"},
            "smtp": {
                "host": server.host,
                "port": server.port,
                "security": server.security,
                "username": SMTP_USER,
            },
        }
    )
    await do_update_email_settings(
        rt,
        world.admin,
        world.email_inbox.id,
        config,
        EmailSecrets(imap_password="imap-pw", smtp_password=SMTP_PASSWORD),
    )
    received = await ingest(rt, inbound(world.email_inbox.id, email="maria@example.test"))
    reply = await do_post_reply(rt, world.ana, received.message.conversation_id, "It ships today.")
    assert reply.delivery is Delivery.QUEUED
    async with rt.read_sessions() as db:
        inbox = await db.get(Inbox, world.email_inbox.id)
    assert inbox is not None
    stored = email_config(inbox.config)
    assert stored is not None
    return reply.id, smtp_settings(stored, inbox.secrets)


async def queued_row(rt: Runtime, message_id: int) -> OutboundEmail:
    async with rt.read_sessions() as db:
        row = await db.get(OutboundEmail, message_id)
    assert row is not None
    return row


@pytest.mark.parametrize("security", TLS_MODES)
@pytest.mark.usefixtures("trust_ca")
async def test_a_reply_goes_out_over_tls_with_the_login(
    rt: Runtime,
    world: World,
    cert: ServerCert,
    security: TlsMode,
    app_logs: pytest.LogCaptureFixture,
) -> None:
    with smtp_server(security, cert=cert, credentials=(SMTP_USER, SMTP_PASSWORD)) as served:
        recorder, server = served
        message_id, settings = await queue_reply(rt, world, server)
        app_logs.clear()
        assert settings.security == security and settings.password == SMTP_PASSWORD
        assert await send_due(rt, world.email_inbox.id, settings, rt.blobs) == 1
    (envelope,) = recorder.received
    assert envelope.rcpt_tos == ["maria@example.test"]
    assert recorder.over_tls == [True]
    assert recorder.logins == [(SMTP_USER, True)]
    assert await delivery_of(rt, message_id) == (Delivery.SENT, None)
    assert_no_secret(app_logs, SMTP_PASSWORD)


@pytest.mark.parametrize("security", TLS_MODES)
@pytest.mark.parametrize(("trust", "which", "why"), CERT_PROBLEMS)
async def test_a_reply_is_not_sent_to_a_server_whose_certificate_fails(
    request: pytest.FixtureRequest,
    rt: Runtime,
    world: World,
    security: TlsMode,
    trust: str,
    which: str,
    why: str,
    app_logs: pytest.LogCaptureFixture,
) -> None:
    request.getfixturevalue(trust)
    cert: ServerCert = request.getfixturevalue(which)
    with smtp_server(security, cert=cert, credentials=(SMTP_USER, SMTP_PASSWORD)) as served:
        recorder, server = served
        message_id, settings = await queue_reply(rt, world, server)
        app_logs.clear()
        assert await send_due(rt, world.email_inbox.id, settings, rt.blobs) == 0
    assert recorder.received == [] and recorder.logins == []
    # Kept in the queue to retry (an admin may fix the server), with the reason.
    assert await delivery_of(rt, message_id) == (Delivery.QUEUED, None)
    row = await queued_row(rt, message_id)
    assert row.sent_at is None and row.attempts == 1 and row.next_attempt_at > utcnow()
    assert row.last_error is not None
    assert "TLS certificate" in row.last_error and why in row.last_error
    assert warned(app_logs, row.last_error)
    assert_no_secret(app_logs, SMTP_PASSWORD, row.last_error)


async def test_smtp_starttls_never_falls_back_to_plain_text(
    rt: Runtime, world: World, app_logs: pytest.LogCaptureFixture
) -> None:
    # A server offering no STARTTLS but AUTH in plain text: what a
    # man in the middle stripping STARTTLS would show.
    with smtp_server(credentials=(SMTP_USER, SMTP_PASSWORD)) as (recorder, server):
        message_id, settings = await queue_reply(
            rt, world, SmtpSettings(server.host, server.port, security="starttls")
        )
        app_logs.clear()
        assert settings.security == "starttls"
        assert await send_due(rt, world.email_inbox.id, settings, rt.blobs) == 0
    assert recorder.received == [] and recorder.logins == []
    assert await delivery_of(rt, message_id) == (Delivery.QUEUED, None)
    row = await queued_row(rt, message_id)
    assert row.last_error is not None and "does not offer STARTTLS" in row.last_error
    assert warned(app_logs, row.last_error)
    assert_no_secret(app_logs, SMTP_PASSWORD, row.last_error)
