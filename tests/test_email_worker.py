"""The real `inbox worker` process on a real mailbox: killed with -9 mid-sync, it loses
nothing and stores nothing twice; stopped with SIGTERM while in IDLE, it stops at once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from imapclient import IMAPClient
from sqlalchemy import func, select

from inbox.actions.agents import do_create_agent, do_create_team
from inbox.actions.inboxes import do_create_email_inbox
from inbox.channels.email.imap_sync import BATCH_MESSAGES
from inbox.channels.email.settings import EmailConfig, EmailSecrets
from inbox.config import load_settings
from inbox.models import Message, Role
from inbox.runtime import Runtime, create_runtime
from tests.dovecot_server import DovecotServer, require_dovecot
from tests.live import migrated_app_env
from tests.redis_server import DIE_WITH_PARENT

PASSWORD = "worker-mailbox-pw"
USER = "inbox@shop.test"
# Five of the sync's batches (BATCH_MESSAGES each), so the kill lands mid-sync.
MESSAGES = 5 * BATCH_MESSAGES


@pytest.fixture
async def dovecot() -> AsyncIterator[DovecotServer]:
    require_dovecot()
    server = DovecotServer()
    await server.start()
    server.add_user(USER, PASSWORD)
    try:
        yield server
    finally:
        server.stop()


def deliver(server: DovecotServer, count: int) -> None:
    with IMAPClient(server.host, server.port, ssl=False, timeout=10) as client:
        client.login(USER, PASSWORD)
        for n in range(count):
            client.append(
                "INBOX",
                b"From: Customer %d <c%d@example.test>\r\nTo: inbox@shop.test\r\n"
                b"Subject: Question %d\r\nMessage-ID: <q-%d@example.test>\r\n\r\n"
                b"Question number %d, with a little text to parse.\r\n" % (n, n, n, n, n),
            )


async def stored(rt: Runtime) -> tuple[int, int]:
    """(messages, distinct external ids)."""
    async with rt.read_sessions() as db:
        total = await db.scalar(select(func.count()).select_from(Message))
        distinct = await db.scalar(select(func.count(func.distinct(Message.external_id))))
    return int(total or 0), int(distinct or 0)


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "inbox.cli", "worker"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=DIE_WITH_PARENT,
        )


async def wait_for(rt: Runtime, at_least: int, within: float, log: Path) -> int:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        total, _ = await stored(rt)
        if total >= at_least:
            return total
        await asyncio.sleep(0.05)
    total, _ = await stored(rt)
    pytest.fail(f"only {total} messages after {within} s; the worker's log: {log}")


async def test_kill_9_mid_sync_loses_nothing_and_duplicates_nothing(
    tmp_path: Path, dovecot: DovecotServer
) -> None:
    env = await migrated_app_env(tmp_path)
    rt = create_runtime(load_settings(env))
    try:
        admin = (
            await do_create_agent(rt, None, email="a@shop.test", name="Admin", role=Role.ADMIN)
        ).agent
        team = await do_create_team(rt, None, name="Support", member_ids=[admin.id])
        config = EmailConfig.model_validate(
            {
                "address": USER,
                "imap": {"host": dovecot.host, "port": dovecot.port, "security": "none"},
                "smtp": {"host": "127.0.0.1", "port": 25, "security": "none"},
            }
        )
        await do_create_email_inbox(
            rt,
            None,
            name="Support",
            config=config,
            secrets=EmailSecrets(imap_password=PASSWORD),
            team_ids=[team.id],
        )
        deliver(dovecot, MESSAGES)
        log = tmp_path / "worker.log"
        worker = start_worker(env, log)
        try:
            # Some messages are committed, the rest of the sync is under way.
            seen = await wait_for(rt, 1, 30, log)
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(5)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        assert seen < MESSAGES, "the worker finished before it could be killed mid-sync"
        worker = start_worker(env, log)
        try:
            await wait_for(rt, MESSAGES, 60, log)
            await asyncio.sleep(1.0)  # and nothing more arrives
            assert await stored(rt) == (MESSAGES, MESSAGES)
            # Now idle in IDLE: SIGTERM stops it promptly, cleanly.
            started = time.monotonic()
            worker.terminate()
            assert worker.wait(10) == 0, log.read_text()[-3000:]
            assert time.monotonic() - started < 10
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    finally:
        await rt.close()
