"""The `inbox` command as an operator uses it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from click.testing import CliRunner

from inbox.cli import main


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        "INBOX_DATA_DIR": str(tmp_path / "data"),
        "INBOX_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}",
    }


def test_create_agent_prints_a_working_token_last(tmp_path: Path) -> None:
    runner = CliRunner()
    env = _env(tmp_path)
    assert runner.invoke(main, ["migrate"], env=env).exit_code == 0
    result = runner.invoke(
        main,
        ["create-agent", "--email", "ops@example.test", "--name", "Ops", "--role", "admin"],
        input="a long password\na long password\n",
        env=env,
    )
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert token.startswith("inb_") and "a long password" not in result.output

    again = runner.invoke(
        main,
        ["create-agent", "--email", "ops@example.test", "--name", "Ops"],
        env={**env, "INBOX_AGENT_PASSWORD": "another password"},
    )
    assert again.exit_code == 1
    assert "already exists" in again.output

    short = runner.invoke(
        main,
        ["create-agent", "--email", "x@example.test", "--name", "X", "--password", "short"],
        env=env,
    )
    assert short.exit_code == 1 and "at least 8" in short.output

    # The token works against the real server right away.
    from inbox.app import create_app
    from inbox.config import load_settings

    async def me() -> httpx.Response:
        app = create_app(load_settings({**os.environ, **env}))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        await app.state.runtime.close()
        return response

    response = asyncio.run(me())
    assert response.status_code == 200
    assert response.json()["agent"]["email"] == "ops@example.test"


def test_worker_starts_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = {**os.environ, **_env(tmp_path)}
    subprocess.run(
        [sys.executable, "-m", "inbox.cli", "migrate"], env=env, check=True, capture_output=True
    )
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "inbox.cli", "worker"], env=env, stdout=out, stderr=out
        )
        try:
            deadline = time.monotonic() + 15
            while "no inbox needs" not in log.read_text() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert "no inbox needs a running connector" in log.read_text()
            proc.terminate()
            assert proc.wait(timeout=10) == 0
        finally:
            proc.kill()
            proc.wait()


def test_backfill_email_says_what_is_wrong_in_plain_words(tmp_path: Path) -> None:
    runner = CliRunner()
    env = _env(tmp_path)
    assert runner.invoke(main, ["migrate"], env=env).exit_code == 0
    missing = runner.invoke(main, ["backfill-email", "99", "--since", "2026-01-01"], env=env)
    assert missing.exit_code == 1 and "there is no email inbox 99" in missing.output
    bad_day = runner.invoke(main, ["backfill-email", "1", "--since", "yesterday"], env=env)
    assert bad_day.exit_code == 2 and "does not match the format '%Y-%m-%d'" in bad_day.output
