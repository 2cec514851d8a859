"""A private, throwaway Dovecot IMAP server for tests of the email channel.

Each server gets its own config, users, maildirs and runtime directory in a
fresh temp dir and listens on a free loopback port, by default in plain text
(no TLS, so no certificates); given a certificate it also offers STARTTLS there
and implicit TLS (imaps) on a second port. It shares nothing with a system
Dovecot, if there is one. It
runs in the foreground (`dovecot -F`), so the PID we hold is the master's, and
its workers exit when the master does.

`require_dovecot` applies the suite's rule for missing services: skip with a
reason locally, fail under CI=true.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from tests.live import free_port
from tests.redis_server import DIE_WITH_PARENT, missing
from tests.tls_certs import ServerCert

# Dovecot refuses to deliver mail as root (or below first_valid_uid, 500), so
# when we run as root the mail belongs to an otherwise unused id.
MAIL_ID = 5000


def dovecot_binary() -> str | None:
    return shutil.which("dovecot") or (
        "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
    )


def require_dovecot() -> None:
    if dovecot_binary() is None:
        missing("dovecot is not installed: apt-get install -y dovecot-imapd")


def greets(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when an IMAP server there sends its `* OK` greeting."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            return sock.recv(64).startswith(b"* OK")
    except OSError:
        return False


class DovecotServer:
    """One Dovecot on a loopback port, with passwd-file users and maildirs.

    `capabilities`, when given, replaces what Dovecot advertises after login
    (`imap_capability`): a way to play a server without CONDSTORE or IDLE.
    `tls`, when given, is the certificate the server presents: STARTTLS on
    `port` and implicit TLS on `tls_port`. Plain-text logins stay allowed on
    `port`, so a test can still deliver mail the simple way.
    """

    host = "127.0.0.1"

    def __init__(self, capabilities: str | None = None, tls: ServerCert | None = None) -> None:
        binary = dovecot_binary()
        if binary is None:
            raise RuntimeError("dovecot is not installed")
        self.binary = binary
        self.port = free_port()
        # Not pytest's tmp_path: Dovecot's unix sockets live under base_dir,
        # and a socket path over 107 bytes fails to bind.
        self.base = Path(tempfile.mkdtemp(prefix="dovecot-"))
        self.config_path = self.base / "dovecot.conf"
        self.log_path = self.base / "dovecot.log"
        self.users = self.base / "users"
        self.capabilities = capabilities
        self.tls = tls
        self.tls_port = free_port() if tls is not None else None
        self._proc: subprocess.Popen[bytes] | None = None
        self._write_config()

    @property
    def url(self) -> str:
        return f"imap://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _write_config(self) -> None:
        root = os.geteuid() == 0
        uid, gid = (MAIL_ID, MAIL_ID) if root else (os.getuid(), os.getgid())
        home = self.base / "home"
        home.mkdir()
        self.base.chmod(0o755)  # mkdtemp's 0700 would keep the mail user out
        self.users.mkdir()
        if root:
            os.chown(home, uid, gid)
        lines = [
            "protocols = imap",
            f"listen = {self.host}",
            f"base_dir = {self.base / 'run'}",
            # Else Dovecot records each instance in /var/lib/dovecot.
            f"state_dir = {self.base / 'state'}",
            *self._ssl_settings(),
            "disable_plaintext_auth = no",
            "auth_mechanisms = plain login",
            # Else a failed login pauses 2 s, and later logins from the same
            # address up to 15 s more (anvil's auth penalty, off below).
            "auth_failure_delay = 0",
            f"log_path = {self.log_path}",
            "passdb {",
            "  driver = passwd-file",
            f"  args = scheme=PLAIN username_format=%u {self.users}/%u",
            "}",
            "userdb {",
            "  driver = static",
            f"  args = uid={uid} gid={gid} home={home}/%u",
            "}",
            "mail_location = maildir:~/Maildir",
            "service imap-login {",
            "  inet_listener imap {",
            f"    address = {self.host}",
            f"    port = {self.port}",
            "  }",
            "  inet_listener imaps {",
            *(
                [f"    address = {self.host}", f"    port = {self.tls_port}", "    ssl = yes"]
                if self.tls_port is not None
                else ["    port = 0"]
            ),
            "  }",
            "}",
            "service anvil {",
            "  unix_listener anvil-auth-penalty {",
            "    mode = 0",
            "  }",
            "}",
            "protocol imap {",
            "  mail_max_userip_connections = 50",
            "}",
        ]
        if self.capabilities is not None:
            lines.append(f"imap_capability = {self.capabilities}")
        if not root:
            # Unprivileged, Dovecot can neither switch users nor chroot its
            # login processes: everything runs as us.
            me = pwd.getpwuid(uid).pw_name
            lines += [
                f"default_login_user = {me}",
                f"default_internal_user = {me}",
                f"default_internal_group = {grp.getgrgid(gid).gr_name}",
            ]
            for service in ("imap-login", "anvil", "ipc", "old-stats", "aggregator"):
                lines += [f"service {service} {{", "  chroot =", "}"]
        self.config_path.write_text("\n".join(lines) + "\n")

    def _ssl_settings(self) -> list[str]:
        if self.tls is None:
            return ["ssl = no"]
        # `<` makes Dovecot read the file; `yes` (not `required`) offers
        # STARTTLS on the plain listener without refusing plain logins there.
        return ["ssl = yes", f"ssl_cert = <{self.tls.cert}", f"ssl_key = <{self.tls.key}"]

    def add_user(self, name: str, password: str) -> None:
        """A user, usable at once, started or not.

        One passwd file per user: Dovecot rereads a changed passwd file at
        most once a second, so a user added to a shared one could be refused.
        """
        assert "/" not in name and not name.startswith(".")
        (self.users / name).write_text(f"{name}:{{PLAIN}}{password}\n")

    async def start(self, within: float = 10.0) -> None:
        assert not self.running, "already running"
        with self.log_path.open("ab") as log:
            # Popen, not asyncio's: stop() must work from synchronous cleanup.
            self._proc = subprocess.Popen(  # noqa: ASYNC220
                [self.binary, "-F", "-c", str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=DIE_WITH_PARENT,
                # Its own group, so stop() reaches the workers too.
                start_new_session=True,
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline and self._proc.poll() is None:
            if await asyncio.to_thread(greets, self.host, self.port, 0.2):
                return
            await asyncio.sleep(0.02)
        log_tail = self.log_tail()
        self.stop()
        raise RuntimeError(f"dovecot on port {self.port} did not start:\n{log_tail}")

    def stop(self) -> None:
        """SIGKILL the whole process group, at once.

        A throwaway server has nothing to save, and a graceful SIGTERM costs
        over a second yet leaves the worker of any still-open connection
        running.
        """
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        shutil.rmtree(self.base, ignore_errors=True)

    def logins(self, user: str) -> list[str]:
        """The log's successful-login lines for `user`; a line over TLS says ", TLS,"."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return []
        return [line for line in text.splitlines() if f"Login: user=<{user}>" in line]

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@contextlib.asynccontextmanager
async def running_dovecot(
    capabilities: str | None = None, tls: ServerCert | None = None
) -> AsyncIterator[DovecotServer]:
    """A started server, stopped afterwards (skips, or fails under CI, without Dovecot)."""
    require_dovecot()
    server = DovecotServer(capabilities=capabilities, tls=tls)
    await server.start()
    try:
        yield server
    finally:
        server.stop()
