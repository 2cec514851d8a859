"""Settings read from the environment, with an embedded default that needs none."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = PROJECT_ROOT / "templates"
STATIC_DIR = PROJECT_ROOT / "static"


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str | None
    # Which channels-redis layer carries events between processes: "pubsub"
    # (RedisPubSubChannelLayer) or "list" (RedisChannelLayer).
    channel_layer: str
    secret_key: str
    data_dir: Path
    # Cookies marked Secure are dropped by browsers on plain-http localhost,
    # so the embedded default leaves it off; production sets it.
    secure_cookies: bool
    allowed_origins: tuple[str, ...]
    # Whether X-Forwarded-Proto/X-Forwarded-Host name the URL a client called
    # (Twilio signs that URL). Only true behind a proxy we control that sets
    # them: otherwise any caller could claim any URL.
    trust_proxy_headers: bool = False
    # Where providers reach this app from outside (https://inbox.example.com):
    # Twilio's delivery status callbacks are sent there. None: no callbacks.
    public_url: str | None = None
    # "host:port" pairs that fetches of URLs we don't control (media, webhooks)
    # may reach although they are not public addresses: a test's stand-in, an
    # on-premises provider. Everything else goes through the SSRF check
    # (inbox/channels/http_guard.py).
    fetch_allow_hosts: tuple[str, ...] = ()

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _secret_key(data_dir: Path) -> str:
    """The signing key: from the environment, else one generated once per data dir.

    Persisting it keeps sessions valid across restarts of the embedded app
    without asking anyone to configure a key.
    """
    from_env = os.environ.get("INBOX_SECRET_KEY")
    if from_env:
        return from_env
    key_file = data_dir / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def load_settings(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ) if env is None else env
    data_dir = Path(env.get("INBOX_DATA_DIR", "data")).resolve()
    database_url = (
        env.get("INBOX_DATABASE_URL") or f"sqlite+aiosqlite:///{data_dir / 'inbox.sqlite3'}"
    )
    database_url = normalise_database_url(database_url)
    if database_url.startswith("sqlite"):
        data_dir.mkdir(parents=True, exist_ok=True)
    origins = tuple(o.strip() for o in env.get("INBOX_ALLOWED_ORIGINS", "").split(",") if o.strip())
    return Settings(
        database_url=database_url,
        redis_url=env.get("INBOX_REDIS_URL") or None,
        channel_layer=_channel_layer(env.get("INBOX_CHANNEL_LAYER", "pubsub")),
        secret_key=_secret_key(data_dir),
        data_dir=data_dir,
        secure_cookies=_flag(env.get("INBOX_SECURE_COOKIES", "")),
        allowed_origins=origins,
        trust_proxy_headers=_flag(env.get("INBOX_TRUST_PROXY_HEADERS", "")),
        public_url=(env.get("INBOX_PUBLIC_URL") or "").strip().rstrip("/") or None,
        fetch_allow_hosts=_host_ports(env.get("INBOX_FETCH_ALLOW_HOSTS", "")),
    )


def _flag(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes"}


def _host_ports(value: str) -> tuple[str, ...]:
    """Comma-separated "host:port" pairs ("[::1]:8123" for IPv6), lower-cased."""
    pairs = []
    for entry in (e.strip() for e in value.split(",")):
        if not entry:
            continue
        host, _, port = entry.rpartition(":")
        if not host.strip("[]") or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"INBOX_FETCH_ALLOW_HOSTS: {entry!r} is not host:port")
        pairs.append(f"{host.lower()}:{int(port)}")
    return tuple(pairs)


def _channel_layer(value: str) -> str:
    if value not in ("pubsub", "list"):
        raise ValueError(f"INBOX_CHANNEL_LAYER must be 'pubsub' or 'list', not {value!r}")
    return value


def normalise_database_url(url: str) -> str:
    """Accept the URLs platforms hand out (postgres://...) and pick the async drivers."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    return url
