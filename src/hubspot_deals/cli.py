"""The ``hubspot-deals`` command line."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from hubspot_deals.console.connection_commands import connection_app
from hubspot_deals.console.sandbox_command import sandbox
from hubspot_deals.console.scan_commands import scan_app
from hubspot_deals.console.schedule_commands import schedule_app
from hubspot_deals.console.webhook_commands import webhook_app

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from hubspot_deals.config import Settings
    from hubspot_deals.store.keys import KeyRepository

T = TypeVar("T")

#: Click's plain help (no type column of ``<bool>``, ``<str>``; wraps cleanly at 80 columns).
PLAIN_HELP = None
app = typer.Typer(
    help="Extract every deal from HubSpot portals.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=PLAIN_HELP,
)
console = Console(stderr=True)


def _print_version(given: bool) -> None:
    if given:
        from hubspot_deals import __version__

        print(f"hubspot-deals {__version__}")
        raise typer.Exit


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """hubspot-deals: extract every deal from HubSpot portals and serve them over a REST API."""


keys_app = typer.Typer(
    help="API keys: each binds its caller to one organization.",
    no_args_is_help=True,
    rich_markup_mode=PLAIN_HELP,
)
app.add_typer(keys_app, name="keys")
app.add_typer(scan_app, name="scan")


def _settings() -> Settings:
    """The settings from the environment, or one clear line and exit code 2."""
    from pydantic import ValidationError

    from hubspot_deals.config import Settings

    try:
        return Settings()
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]).upper() or "settings"
            said = escape(str(error["msg"]).removeprefix("Value error, "))
            console.print(f"[red]configuration error[/red] ({where}): {said}", soft_wrap=True)
        raise typer.Exit(2) from None


def _with_session(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` against the configured database (migrated first), committing after it."""
    from hubspot_deals.store.database import create_engine, migrate, session_factory

    async def run() -> T:
        url = _settings().sqlalchemy_url()
        await migrate(url)
        engine = create_engine(url)
        try:
            async with session_factory(engine)() as session:
                result = await work(session)
                await session.commit()
                return result
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _with_keys(work: Callable[[KeyRepository], Awaitable[T]]) -> T:
    from hubspot_deals.store.keys import KeyRepository  # SQLAlchemy: only for the commands using it

    return _with_session(lambda session: work(KeyRepository(session)))


@keys_app.command("create")
def keys_create(
    org: Annotated[str, typer.Option("--org", help="The organization the key binds to.")],
    name: Annotated[str | None, typer.Option(help="A label to recognise the key by.")] = None,
) -> None:
    """Create a key and print it once: only its hash is stored."""

    async def create(keys: KeyRepository) -> str:
        record, key = keys.create(org, name)
        console.print(
            f"created {record.id} for organization {org}; store the key now, it is not shown again:"
        )
        return key

    print(_with_keys(create), flush=True)


@keys_app.command("list")
def keys_list() -> None:
    """Every key: id, organization, name, prefix, created, revoked."""

    async def listing(keys: KeyRepository) -> list[tuple[str, ...]]:
        return [
            (
                k.id,
                k.organization_id,
                k.name or "",
                k.prefix + "...",
                str(k.created_at)[:19],
                str(k.revoked_at)[:19] if k.revoked_at else "",
            )
            for k in await keys.all()
        ]

    for row in _with_keys(listing):
        print("\t".join(row))


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (from keys list).")],
) -> None:
    """Revoke a key at once; calls with it get 401 from then on."""

    async def revoke(keys: KeyRepository) -> bool:
        return await keys.revoke(key_id)

    if not _with_keys(revoke):
        console.print(f"no active key {key_id}")
        raise typer.Exit(1)
    console.print(f"revoked {key_id}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    demo: Annotated[
        bool,
        typer.Option(
            help="Also run the HubSpot sandbox and point the service at it (zero set-up demo)."
        ),
    ] = False,
    demo_deals: Annotated[int, typer.Option(min=1, help="Deals in the demo portal.")] = 5000,
    demo_port: Annotated[int, typer.Option(help="The demo sandbox's port.")] = 8090,
    workers: Annotated[
        int,
        typer.Option(
            min=0,
            help="Also start this many `worker` processes (the distributed mode on one machine: "
            "DATABASE_URL on PostgreSQL and REDIS_URL set; make run-distributed sets both).",
        ),
    ] = 0,
) -> None:
    """Run the REST service (API and, in the embedded mode, the scan jobs)."""
    from hubspot_deals import launch
    from hubspot_deals.logs import configure

    settings = _settings()
    configure(settings.log_level, settings.log_format)
    try:
        portal = launch.Demo(demo_deals, demo_port) if demo else None
        launch.serve(console, settings, host, port, portal, workers)
    except launch.LaunchError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from None


@app.command()
def worker() -> None:
    """Run scans sent through Redis (the distributed mode: REDIS_URL and PostgreSQL set).

    Start as many as the load needs, on any machine; each runs WORKER_CONCURRENCY scans at once.
    """
    from hubspot_deals.interpreter import tune_for_service
    from hubspot_deals.jobs.worker import run_worker
    from hubspot_deals.logs import configure

    settings = _settings()
    configure(settings.log_level, settings.log_format)
    tune_for_service()
    asyncio.run(run_worker(settings))


db_app = typer.Typer(help="The database schema.", no_args_is_help=True, rich_markup_mode=PLAIN_HELP)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the schema to the newest revision (serve and worker also do it when they start)."""
    from hubspot_deals.store.database import migrate

    asyncio.run(migrate(_settings().sqlalchemy_url()))
    console.print("the database schema is current")


@db_app.command("rotate-tokens")
def db_rotate_tokens() -> None:
    """Re-encrypt the stored HubSpot tokens (of scans not yet finished) with the first key of
    TOKEN_ENCRYPTION_KEY; after it, the keys behind the first can be dropped (docs/security.md)."""
    from hubspot_deals.store.credentials import CredentialRepository
    from hubspot_deals.store.crypto import TokenCipher
    from hubspot_deals.store.jobs import JobRepository

    settings = _settings()
    cipher = TokenCipher.from_settings(settings.token_encryption_key, settings.data_dir)

    async def rotate(session: AsyncSession) -> int:
        tokens = await JobRepository(session).rotate_tokens(cipher.rotate)
        return tokens + await CredentialRepository(session).rotate(cipher.rotate)

    print(f"re-encrypted {_with_session(rotate)} stored credentials with the first key", flush=True)


app.command()(sandbox)
app.add_typer(connection_app, name="connection")
app.add_typer(schedule_app, name="schedule")
app.add_typer(webhook_app, name="webhook")


if __name__ == "__main__":  # pragma: no cover
    app()
