"""The crontab line and systemd units that call ``publisher run``."""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import sys
from pathlib import Path

from ..config import CONFIG_NAME, Config
from ..errors import PublisherError
from ..text import header_text, slugify

#: How often the crontab line and the systemd timer below start ``publisher run``: a slot's
#: grace must outlast it, or the run after the slot finds it already too late.
RUN_EVERY_MINUTES = 5


def publisher_command(argv0: str | None = None, python: str | None = None) -> list[str]:
    """The absolute command that runs this publisher: the running ``publisher`` script when that is
    how we were started, else the venv's ``publisher`` beside the interpreter, else
    ``python -m publisher``."""
    argv0 = sys.argv[0] if argv0 is None else argv0
    python = sys.executable if python is None else python
    script = Path(argv0)
    if script.name.startswith("publisher") and script.suffix != ".py":
        found = script if script.parent != Path() else None
        if found is None:
            which = shutil.which(argv0)
            found = Path(which) if which else None
        if found is not None and found.is_file():
            return [str(found.resolve())]
    beside = Path(python).parent / "publisher"
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside.absolute())]
    return [str(Path(python).absolute()), "-m", "publisher"]


def publication_command(config: Config) -> list[str]:
    """``publisher_command()``, plus ``--config FILE`` when the publication's config is not the
    ``publisher.toml`` that ``publisher run`` finds by itself in the working directory."""
    command = publisher_command()
    if config.path.name != CONFIG_NAME:
        command += ["--config", str(Path(config.path).absolute())]  # a link read as a link
    return command


def _cron_word(part: str | Path) -> str:
    """One shell word of a crontab command. cron ends the command at an unescaped "%" (the
    rest becomes its stdin) and turns "\\%" into "%", but cannot give a shell a backslash right
    before a "%": so "%" is written outside the shell's single quotes, as "\\%"
    (vixie cron's do_command.c, the cron Debian ships)."""
    word = shlex.quote(str(part))
    if "%" not in word:
        return word
    if word.startswith("'"):
        return word.replace("%", "'\\%'")
    return word.replace("%", "\\%")  # a bare word holds no backslash


def crontab_line(root: Path, command: list[str], log: Path) -> str:
    """A crontab entry (comment lines and the entry) running ``publisher run`` every five minutes
    from the publication directory, appending its output to ``log``."""
    q = _cron_word
    for part in (root, log, *command):
        if "\n" in str(part) or "\r" in str(part):
            raise PublisherError(f"{str(part)!r} holds a line break, which a crontab line "
                                 "cannot carry; move the publication to a plainer path")
    run = " ".join(q(p) for p in [*command, "run"])
    mkdir = f"mkdir -p {q(log.parent)} && " if log.parent != root else ""
    # The log names subscribers (ambiguous deliveries, a paused issue): made readable by its
    # owner only, as the ledger is. Only the log: the run under cron's umask keeps the site's
    # new directories readable by the web server.
    private = f"(umask 077 && : >> {q(log)}) && "
    return (
        "# publisher: compose and deliver the newsletter when it is due, every five minutes.\n"
        "# PUBLISHER_SECRET must be in the environment: add a line PUBLISHER_SECRET=... (and\n"
        "# PUBLISHER_SMTP_PASSWORD=... for SMTP) above this entry, with the crontab kept private.\n"
        f"*/{RUN_EVERY_MINUTES} * * * * cd {q(root)} && {mkdir}{private}{run} >> {q(log)} 2>&1\n"
    )


def _systemd_text(text: str) -> str:
    """A value where systemd expands specifiers (%h, %n…): "%" written "%%"."""
    return text.replace("%", "%%")


def _systemd_word(part: str | Path, *, executable: bool = False) -> str:
    """One word of an Exec line: specifiers ("%") escaped, variables ("$") too in arguments
    (systemd expands none in the executable), and quoted (with C-style escapes) when it holds
    white space, quotes, a backslash or a ";"."""
    text = _systemd_text(str(part))
    if not executable:
        text = text.replace("$", "$$")
    if not text or any(c.isspace() or c in "\"'\\;" for c in text):
        text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def _systemd_exec(command: list[str]) -> str:
    """An ExecStart= value running ``command``. systemd refuses to run an executable whose path
    holds a quote or a backslash however it is quoted: such a path goes through env(1), as an
    argument, where anything can be quoted."""
    program, *args = command
    if any(c in program for c in "\"'\\"):
        if "=" in program:  # env would read it as NAME=VALUE
            raise PublisherError(f"systemd cannot run {program!r}; install publisher in a "
                                 "directory whose path has no quotes or backslashes")
        args = [program, *args]
        program = shutil.which("env") or "/usr/bin/env"
    return " ".join([_systemd_word(program, executable=True),
                     *(_systemd_word(a) for a in args)])


def _unit_directory(root: Path) -> str:
    directory = str(root)
    if any(c in directory for c in "\n\r") or directory != directory.strip():
        raise PublisherError(f"{directory!r} cannot be written in a systemd unit (a line break, "
                             "or spaces at its ends); move the publication to a plainer path")
    return directory


def unit_name(root: Path, title: str) -> str:
    """The units' name (and their secrets file's): the title's slug, then six hex digits of
    the publication's directory. Two publications of one title (a staging copy, an edition in
    another language) saved under one name would replace each other's units, and one of the
    newsletters would stop without a word."""
    # Normalised: the same name whether the directory was named as /srv/reel or as ../reel.
    where = hashlib.sha256(os.fsencode(os.path.normpath(root))).hexdigest()[:6]
    return f"publisher-{slugify(title or root.name)}-{where}"


def user_unit_steps(unit_files: dict[str, str], start: str) -> str:
    """The comment lines above printed user units: where to save them, and how to start
    ``start`` so that it keeps running once you log out (a user's manager, with their timers
    and services, stops at their last logout unless lingering is on)."""
    these = "these" if len(unit_files) > 1 else "this"
    return (f"# Save {these} in ~/.config/systemd/user/, then:\n"
            "#   loginctl enable-linger   # once: else they stop when you log out\n"
            f"#   systemctl --user enable --now {start}")


def systemd_units(root: Path, command: list[str], *, title: str = "") -> dict[str, str]:
    """A .service and .timer pair (file name → text) running ``publisher run`` every five
    minutes in ``root``; the secrets come from an EnvironmentFile.

    systemd takes WorkingDirectory= as written (quotes would be part of the path), so the path
    is written bare; the title is folded to one line so that it cannot start a directive.
    PublisherError for a path that a unit file cannot carry (a line break, space at its ends).
    """
    directory = _unit_directory(root)
    name = unit_name(root, title)
    label = _systemd_text(header_text(title) or directory)
    env_file = f"%h/.config/publisher/{name}.env"
    service = (
        "[Unit]\n"
        f"Description=publisher run: {label}\n"
        "Wants=network-online.target\n"
        "After=network-online.target\n"
        "\n"
        "[Service]\n"
        "Type=oneshot\n"
        f"WorkingDirectory={_systemd_text(directory)}\n"
        f"# PUBLISHER_SECRET=... (and PUBLISHER_SMTP_PASSWORD=... for SMTP) live in this file,\n"
        f"# readable only by you (chmod 600); never in publisher.toml.\n"
        f"EnvironmentFile={env_file}\n"
        f"ExecStart={_systemd_exec([*command, 'run'])}\n"
    )
    timer = (
        "[Unit]\n"
        f"Description=publisher run every five minutes: {label}\n"
        "\n"
        "[Timer]\n"
        f"OnCalendar=*:0/{RUN_EVERY_MINUTES}\n"
        "Persistent=true\n"
        "\n"
        "[Install]\n"
        "WantedBy=timers.target\n"
    )
    return {f"{name}.service": service, f"{name}.timer": timer}


def server_unit(root: Path, command: list[str], *, title: str = "") -> dict[str, str]:
    """A long-running .service (file name → text) for ``publisher serve`` in ``root``: restarted
    on failure, secrets from the same EnvironmentFile as the run units (a user unit, like
    theirs: systemd's file-system sandboxing is left out, as user managers often cannot apply
    it). PublisherError as for ``systemd_units``."""
    directory = _unit_directory(root)
    name = unit_name(root, title)
    label = _systemd_text(header_text(title) or directory)
    service = (
        "[Unit]\n"
        f"Description=publisher serve: the readers' endpoints of {label}\n"
        "Wants=network-online.target\n"
        "After=network-online.target\n"
        "\n"
        "[Service]\n"
        "Type=exec\n"
        f"WorkingDirectory={_systemd_text(directory)}\n"
        "# PUBLISHER_SECRET=... (the same as publisher run's: it signs the links in messages)\n"
        "# and PUBLISHER_SMTP_PASSWORD=... for SMTP (it sends confirmation messages).\n"
        f"EnvironmentFile=%h/.config/publisher/{name}.env\n"
        f"ExecStart={_systemd_exec([*command, 'serve'])}\n"
        "Restart=on-failure\n"
        "RestartSec=2\n"
        "NoNewPrivileges=yes\n"
        "\n"
        "[Install]\n"
        "WantedBy=default.target\n"
    )
    return {f"{name}-serve.service": service}
