"""The `inbox` command: serve, worker, migrate, create-agent, demo, backfill-email,
import-purchases."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import datetime
from typing import Any

import click

from inbox.config import Settings, load_settings


@click.group()
def main() -> None:
    """A collaborative shared inbox for customer service teams."""


def _migrate(settings: Settings) -> None:
    from inbox.migrations import upgrade

    upgrade(settings.database_url)


@main.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    settings = load_settings()
    _migrate(settings)
    click.echo("database is up to date")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--port",
    type=int,
    default=lambda: int(os.environ.get("PORT", "8000")),
    help="Default: $PORT, else 8000.",
)
@click.option(
    "--workers",
    type=int,
    default=lambda: int(os.environ.get("WEB_CONCURRENCY", "1")),
    help="uvicorn worker processes. Default: $WEB_CONCURRENCY, else 1.",
)
@click.option(
    "--migrate/--no-migrate",
    "run_migrations",
    default=None,
    help="Migrate before serving. Default: yes for the embedded SQLite database.",
)
def serve(host: str, port: int, workers: int, run_migrations: bool | None) -> None:
    """Run the web app."""
    import uvicorn

    settings = load_settings()
    if run_migrations or (run_migrations is None and settings.is_sqlite):
        _migrate(settings)
    if settings.is_sqlite and workers > 1:
        click.echo(
            "note: the embedded default runs one worker; set INBOX_DATABASE_URL "
            "and INBOX_REDIS_URL for more",
            err=True,
        )
        workers = 1
    click.echo(f"serving on http://{host}:{port}")
    uvicorn.run(
        "inbox.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        log_level="info",
        # The sans-I/O implementation: uvicorn's default still uses the
        # deprecated websockets.legacy API.
        ws="websockets-sansio",
    )


@main.command()
def worker() -> None:
    """Run the channel connectors (email, chat, messaging) until stopped."""
    from inbox.worker import run_worker

    asyncio.run(run_worker(load_settings()))


@main.command("create-agent")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option(
    "--role", type=click.Choice(["agent", "lead", "admin"]), default="agent", show_default=True
)
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    envvar="INBOX_AGENT_PASSWORD",
    help="Prompted for when not given (or set INBOX_AGENT_PASSWORD).",
)
def create_agent(email: str, name: str, role: str, password: str) -> None:
    """Create an agent. The last line printed is their API token."""
    from inbox.actions.agents import do_create_agent
    from inbox.errors import InboxError
    from inbox.models import Role
    from inbox.runtime import create_runtime

    settings = load_settings()

    async def run() -> str:
        rt = create_runtime(settings)
        try:
            created = await do_create_agent(
                rt, None, email=email, name=name, role=Role(role), password=password
            )
            return created.api_token
        finally:
            await rt.close()

    try:
        token = asyncio.run(run())
    except InboxError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"created {role} {email}")
    click.echo(token)


@main.command()
@click.option(
    "--conversations",
    type=int,
    default=60,
    show_default=True,
    help="How many conversations to generate.",
)
def demo(conversations: int) -> None:
    """Load a realistic demo team, inboxes and cross-channel customers."""
    from inbox.demo import load_demo

    settings = load_settings()
    _migrate(settings)
    try:
        asyncio.run(load_demo(settings, conversations=conversations))
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from exc


@main.command("backfill-email")
@click.argument("inbox_id", type=click.IntRange(min=1))
@click.option(
    "--since",
    required=True,
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Import mail that arrived on or after this day (YYYY-MM-DD).",
)
@click.option("--folder", default=None, help="An IMAP folder other than the inbox's own.")
def backfill_email(inbox_id: int, since: datetime, folder: str | None) -> None:
    """Import an email inbox's history since a date (safe to run again: nothing twice)."""
    from inbox.channels.email.connector import EmailConnector
    from inbox.channels.email.imap_sync import ImapError
    from inbox.errors import InboxError
    from inbox.models import ChannelKind, Inbox
    from inbox.runtime import create_runtime

    settings = load_settings()

    async def run() -> tuple[int, int]:
        rt = create_runtime(settings)
        try:
            async with rt.read_sessions() as db:
                inbox = await db.get(Inbox, inbox_id)
            if inbox is None or inbox.channel is not ChannelKind.EMAIL:
                raise click.ClickException(f"there is no email inbox {inbox_id}")
            connector = EmailConnector(rt, inbox)
            bar: Any = None
            seen = 0

            def started(total: int) -> None:
                nonlocal bar
                click.echo(f"{total} messages since {since:%Y-%m-%d}", err=True)
                bar = click.progressbar(length=total, label="Importing", file=sys.stderr)
                bar.__enter__()

            def advanced(count: int) -> None:
                nonlocal seen
                seen += count
                if bar is not None:
                    bar.update(count)

            try:
                stored = await connector.backfill(
                    since.date(), folder=folder, on_total=started, on_progress=advanced
                )
            finally:
                if bar is not None:
                    bar.__exit__(None, None, None)
            return seen, stored
        finally:
            await rt.close()

    try:
        seen, stored = asyncio.run(run())
    except (InboxError, ImapError) as exc:
        raise click.ClickException(getattr(exc, "message", None) or str(exc)) from exc
    click.echo(f"imported {stored} new of {seen} messages (the rest were there already or held)")


@main.command("import-purchases")
@click.argument("file", type=click.File("rb"))
def import_purchases(file: Any) -> None:
    """Import purchases from a CSV file, with a progress bar (safe to run again).

    Columns: customer_id or email or phone, reference, amount, currency, and
    optionally description, status, purchased_at. Bad rows are listed by line.
    """
    from inbox.actions.purchase_import import import_purchases_csv
    from inbox.errors import InboxError
    from inbox.runtime import create_runtime

    settings = load_settings()
    data = file.read()
    # Data rows, roughly (a quoted field may span lines): enough for a progress bar.
    total = max(data.count(b"\n") - 1 + (not data.endswith(b"\n")), 0)

    async def run() -> Any:
        rt = create_runtime(settings)
        try:
            with click.progressbar(length=total, label="Importing", file=sys.stderr) as bar:
                return await import_purchases_csv(rt, None, data, on_progress=bar.update)
        finally:
            await rt.close()

    try:
        report = asyncio.run(run())
    except InboxError as exc:
        raise click.ClickException(exc.message) from exc
    for problem in report.problems:
        click.echo(f"line {problem.line}: {problem.reason}", err=True)
    click.echo(
        f"imported {report.created} purchases; {report.unchanged} were there already; "
        f"{len(report.problems)} rows not imported"
    )
    if report.problems:
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
