"""``publisher serve`` and ``publisher inbox``: the reader's side, from the command line."""

from __future__ import annotations

import click

from ..config import load_secret
from ..pipeline import units
from . import State
from .context import open_store, publication_command


@click.command("serve")
@click.option("--host", help="Address to listen on (default: [server] host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535),
              help="Port to listen on (default: [server] port, 8025).")
@click.option("--systemd", "systemd", is_flag=True,
              help="Print a systemd .service that runs the server, and exit.")
@publication_command
def serve_command(state: State, host: str | None, port: int | None, systemd: bool) -> None:
    """Serve the readers' endpoints: subscribe, confirm, one-click unsubscribe, preferences.

    Put it behind a reverse proxy at [server] url (see README). SIGTERM or Ctrl-C stops it."""
    config = state.config
    if systemd:
        unit_files = units.server_unit(config.root, units.publication_command(config),
                                       title=config.title)
        name = next(iter(unit_files))
        click.echo(units.user_unit_steps(unit_files, name))
        for file_name, text in unit_files.items():
            click.echo(f"\n# --- {file_name} ---\n{text}", nl=False)
        return
    from ..delivery.transports import transport_from_url
    from ..pipeline.preflight import refuse_documentation_settings, sending_secret
    from ..pipeline.reader import ReaderDesk
    from ..web.app import create_app
    from ..web.server import listen, serve

    load_secret()  # missing: say so before anything else
    store = open_store(state, reconnect=True)  # it outlives a database server's restart
    # The links it signs and the confirmations it sends follow the rule for sending mail.
    secret = sending_secret(config, store)
    transport = transport_from_url(config)
    # Its confirmations and welcomes are list mail from the From, carrying the
    # issue's unsubscribe link: refused at example.org through a relay, as issues are.
    refuse_documentation_settings(config, transport,
                                  refused="serve sends no confirmation or welcome through")
    desk = ReaderDesk(config, store, secret=secret, clock=state.now, transport=transport)
    bind_host = host or config.server.host
    bind_port = port or config.server.port
    sock = listen(bind_host, bind_port, choose="--host/--port or [server] host/port")
    public = config.server.url or config.base_url
    click.echo(f"serving {config.title} for readers on http://{bind_host}:{bind_port}/ "
               f"(public URL {public}); Ctrl-C stops", err=True)
    serve(create_app(desk), sock, trusted_proxies=config.server.trusted_proxies)


@click.command("inbox")
@click.option("--dry-run", is_flag=True,
              help="Say what each message is and would do; change nothing, move nothing.")
@publication_command
def inbox_command(state: State, dry_run: bool) -> int:
    """Read the [inbox] mailbox: bounces, complaints and mailto unsubscribes (cron: 'run' does
    this when [inbox] is set). Each message is moved to the processed folder once recorded."""
    from ..pipeline.inbox import process_inbox

    report = process_inbox(state.config, open_store(state), now=state.now(), dry_run=dry_run)
    click.echo(report.summary())
    return 0
