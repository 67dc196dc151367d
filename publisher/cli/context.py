"""What every command shares: the one decorator that hands it the publication and turns a
PublisherError into one line and an exit code (and a signal into a clean stop), the ledger, and
a few ways of printing."""

from __future__ import annotations

import functools
import os
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Concatenate, ParamSpec

import click

from ..config import Config
from ..errors import Interrupted, PublisherError
from ..files import describe_os_error
from ..signals import on_stop
from . import State

if TYPE_CHECKING:
    from ..ledger import Store

P = ParamSpec("P")


@contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGTERM (what systemd and kill send), SIGINT (Ctrl-C) and SIGHUP (a dropped ssh
    session; ``stop_signals``) raise Interrupted in the main thread, so that each unwinds the
    command — locks released, transactions rolled back, temporary files removed — instead of
    killing it where it stands. (A delivery run defers them while it drains:
    ``delivery.engine``.)"""

    def interrupt(signum: int) -> None:
        raise Interrupted(signum)

    with on_stop(interrupt):
        yield


def publication_command(
    func: Callable[Concatenate[State, P], int | None],
) -> Callable[P, None]:
    """Give the command the State (publication and clock) as its first argument. A
    PublisherError becomes one line on stderr and exit code 1 (a traceback only with --debug),
    and so does a fault of the machine (an OSError: a read-only or full disk; a database
    error); a command's own non-zero return value is its exit code. SIGINT, SIGTERM and SIGHUP
    stop it with one line on stderr and the shell's exit code for the signal (130, 143, 129)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        state = click.get_current_context().find_object(State)
        assert state is not None, "commands run under the publisher group"
        try:
            with _signals_interrupt():
                code = func(state, *args, **kwargs)
        except PublisherError as exc:
            if state.debug:
                raise
            click.echo(f"error: {exc}", err=True)
            code = 1
        except BrokenPipeError:
            # The reader of our output left (`subscribers list | head`): stop quietly, as
            # Unix tools do (the exit status a shell gives a process killed by SIGPIPE), with
            # stdout pointed at /dev/null so that the interpreter's last flush cannot fail.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            code = 128 + signal.SIGPIPE
        except OSError as exc:  # a read-only or full disk, a file where a directory should be
            if state.debug:
                raise
            click.echo(f"error: {describe_os_error(exc)}", err=True)
            code = 1
        except Exception as exc:
            if state.debug or not _database_fault(exc):
                raise
            why = str(getattr(exc, "orig", None) or exc)
            if "database is locked" in why:  # past the busy timeout
                why += ("; another publisher command (a send, a restore) kept it busy: run "
                        "this again when that one ends")
            click.echo(f"error: the ledger: {why}", err=True)
            code = 1
        except (Interrupted, KeyboardInterrupt) as exc:
            stop = exc if isinstance(exc, Interrupted) else Interrupted(signal.SIGINT)
            if not stop.detail:
                stop = Interrupted(stop.signum, "stopped before the command finished; run it "
                                   "again")
            click.echo(f"{stop}", err=True)
            code = stop.exit_code
        if code:
            sys.exit(code)

    return wrapper


def _database_fault(exc: Exception) -> bool:
    """Whether ``exc`` is the database's own (SQLAlchemy's OperationalError: locked past the
    busy timeout, a full disk, an I/O error) rather than a bug. SQLAlchemy is looked up, not
    imported: a command that never loaded it cannot have raised it, and an idle run must not
    pay for the import."""
    module = sys.modules.get("sqlalchemy.exc")
    return module is not None and isinstance(exc, module.OperationalError)


def open_store(state: State, *, reconnect: bool = False) -> Store:
    """The publication's ledger, closed when the current command ends (``reconnect``: for a
    long-lived server, see ledger.store.create_ledger_engine)."""
    # SQLAlchemy is imported here, by the commands that use the ledger, not by every command
    # that shares this module (an idle ``publisher run`` never loads it).
    from ..ledger import open_store as open_ledger

    store = open_ledger(state.config, reconnect=reconnect)
    click.get_current_context().call_on_close(store.close)
    return store


def warn(lines: Iterable[object]) -> None:
    for line in lines:
        click.echo(f"warning: {line}", err=True)


def local_time(when: datetime | None, config: Config) -> str:
    return "-" if when is None else f"{when.astimezone(config.tz):%Y-%m-%d %H:%M %Z}"
