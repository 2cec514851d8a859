"""Throwaway certificates for TLS tests, made by the `openssl` command line.

A test makes its own certificate authority and has it issue a server
certificate for the loopback names, so a client can verify the server for
real: it trusts that CA (SSL_CERT_FILE, as an operator would install a private
CA) and checks the name. Nothing is added to the machine's trust store.
The `cryptography` package would do the same in-process, but it isn't a
dependency here, and `openssl` is on every machine the suite runs on.
"""

from __future__ import annotations

import secrets
import shutil
import ssl
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import ip_address
from pathlib import Path

import pytest

# Every setting spelt out, so the machine's openssl.cnf (which may add or
# clash with extensions) plays no part. Python 3.13+ verifies strictly
# (VERIFY_X509_STRICT): a CA needs key identifiers and a critical
# basicConstraints, a server certificate an authority key identifier.
_CONFIG = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = {names}
"""
_EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def openssl_binary() -> str:
    binary = shutil.which("openssl")
    if binary is None:
        pytest.fail("the openssl command line is needed to make test certificates")
    return binary


def _run(*args: str | Path) -> None:
    done = subprocess.run(
        [openssl_binary(), *map(str, args)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {done.stderr.strip()}")


def _subject_alt_names(names: Sequence[str]) -> str:
    def one(name: str) -> str:
        try:
            return f"IP:{ip_address(name)}"
        except ValueError:
            return f"DNS:{name}"

    return ", ".join(one(name) for name in names)


@dataclass(frozen=True)
class ServerCert:
    """A server's certificate and key, and the CA a client must trust to accept it."""

    cert: Path
    key: Path
    ca: Path

    def server_context(self) -> ssl.SSLContext:
        """What a Python server (aiosmtpd) presents to clients."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


class ThrowawayCA:
    """A certificate authority that lives in one directory and nowhere else."""

    def __init__(self, directory: Path, name: str = "Inbox test CA") -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.cert = directory / "ca.pem"
        self._key = directory / "ca.key"
        config = self._config([])
        _run(
            "req", "-x509", "-config", config, "-extensions", "ca", *_EC_KEY,
            "-keyout", self._key, "-out", self.cert, "-days", "2", "-subj", f"/CN={name}",
        )  # fmt: skip

    def _config(self, names: Sequence[str]) -> Path:
        path = self.directory / f"openssl-{secrets.token_hex(4)}.cnf"
        path.write_text(_CONFIG.format(names=_subject_alt_names(names) or "DNS:unused.invalid"))
        return path

    def issue(self, stem: str, names: Sequence[str] = ("127.0.0.1", "localhost")) -> ServerCert:
        """A server certificate for `names` (host names or IP addresses)."""
        config = self._config(names)
        key, csr, cert = (self.directory / f"{stem}.{ext}" for ext in ("key", "csr", "pem"))
        _run(
            "req", "-new", "-config", config, *_EC_KEY,
            "-keyout", key, "-out", csr, "-subj", f"/CN={names[0]}",
        )  # fmt: skip
        _run(
            "x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self._key,
            "-set_serial", f"0x{secrets.token_hex(16)}", "-days", "2",
            "-extfile", config, "-extensions", "server", "-out", cert,
        )  # fmt: skip
        return ServerCert(cert=cert, key=key, ca=self.cert)
