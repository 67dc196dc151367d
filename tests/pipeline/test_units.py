"""The crontab line and systemd units survive odd paths and titles: run as cron and systemd
read them, they name the right directory and command, and a title cannot add a directive."""

from __future__ import annotations

import shutil
import stat
import subprocess

import pytest

from publisher.errors import ConfigError, PublisherError
from publisher.pipeline.units import crontab_line, systemd_units

#: Directory names that trouble cron, the shell and systemd.
ODD = ["plain", "with space", "100% sure", r"back\%slash", "dollar$HOME", "it's", 'say "hi"']


def cron_command(entry: str) -> str:
    """The command cron runs for a crontab entry: after the five time fields, up to the first
    unescaped "%", with "\\%" made "%" (vixie cron's do_command.c, which Debian's cron is)."""
    command = entry.split(None, 5)[5]
    out, escaped = [], False
    for ch in command:
        if escaped:
            if ch == "%":
                out[-1] = "%"  # the backslash goes, the "%" stays
            else:
                out.append(ch)
            escaped = False
            continue
        if ch == "%":
            break  # the rest is the command's standard input
        out.append(ch)
        escaped = ch == "\\"
    return "".join(out)


def test_cron_command_reads_as_cron_does():
    assert cron_command(r"* * * * * echo a\%b % stdin") == "echo a%b "
    assert cron_command(r"* * * * * echo a\\%b") == "echo a\\\\"


@pytest.mark.parametrize("name", ODD)
def test_the_crontab_entry_runs_the_command_in_the_directory(tmp_path, name):
    root = tmp_path / name / "reel"
    root.mkdir(parents=True)
    script = tmp_path / name / "bin%$'x" / "publisher"
    script.parent.mkdir()
    record = tmp_path / "record"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$PWD" "$@" > \'{record}\'\n')
    script.chmod(0o755)
    log = root / ".publisher" / "cron.log"
    text = crontab_line(root, [str(script), "--config", str(root / "publisher.toml")], log)
    [entry] = [line for line in text.splitlines() if not line.startswith("#")]
    done = subprocess.run(["/bin/sh", "-c", "umask 022; " + cron_command(entry)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert record.read_text().splitlines() == [
        str(root), "--config", str(root / "publisher.toml"), "run"]
    assert log.is_file()  # the output went where the entry says
    # it names subscribers (ambiguous deliveries, a paused issue): private under cron's umask
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


def test_a_path_with_a_line_break_is_refused_for_crontab_and_systemd(tmp_path):
    root = tmp_path / "a\nb"
    with pytest.raises(PublisherError, match="line break"):
        crontab_line(root, ["/bin/publisher"], root / "cron.log")
    with pytest.raises(PublisherError, match="line break"):
        systemd_units(root, ["/bin/publisher"], title="Reel")


def test_a_title_cannot_add_a_directive_to_the_units(tmp_path):
    units = systemd_units(tmp_path, ["/bin/publisher"],
                          title="Reel\nExecStartPre=/bin/rm -rf ~\r\n[Install]")
    for text in units.values():
        assert not [line for line in text.splitlines() if line.startswith("ExecStartPre")]
        assert [line for line in text.splitlines() if line.startswith("[")] in (
            ["[Unit]", "[Service]"], ["[Unit]", "[Timer]", "[Install]"])
    service = units[next(n for n in units if n.endswith(".service"))]
    assert "Description=publisher run: Reel ExecStartPre=/bin/rm -rf ~ [Install]\n" in service


def test_a_title_with_a_line_break_is_refused_in_publisher_toml(publication):
    publication.write_config('title = "Reel\\nExecStartPre=/bin/evil"\nbase_url = "https://r.test/"\n')
    with pytest.raises(ConfigError, match="publisher.toml: title: holds a line break; write it "
                                          "on one line"):
        publication.config  # noqa: B018
    publication.write_config('title = "Reel\u202e"\nbase_url = "https://r.test/"\n')
    with pytest.raises(ConfigError, match="title: holds the invisible character U\\+202E"):
        publication.config  # noqa: B018
    publication.write_config('title = "Reel"\nbase_url = "https://r.test/"\n'
                             'description = """Two\nlines"""\n')
    assert publication.config.description == "Two\nlines"


SYSTEMD_ANALYZE = shutil.which("systemd-analyze")


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed (CI "
                                                     "installs systemd)")
@pytest.mark.parametrize("name", ODD)
def test_systemd_accepts_the_units_for_any_directory(tmp_path, name):
    root = tmp_path / name / "reel"
    root.mkdir(parents=True)
    script = tmp_path / name / "bin%$x" / "publisher"  # the venv of a publication in there
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    units = systemd_units(root, [str(script)], title="100% Reel")
    unit_dir = tmp_path / "units"
    unit_dir.mkdir()
    for unit, text in units.items():
        (unit_dir / unit).write_text(text)
    service = next(unit_dir.glob("*.service"))
    done = subprocess.run([SYSTEMD_ANALYZE, "verify", "--man=no", str(service)],
                          capture_output=True, text=True, timeout=60)
    ours = [line for line in done.stderr.splitlines() if service.name in line]
    assert ours == [], done.stderr
    # the values systemd will use, read back as systemd reads them
    text = (unit_dir / service.name).read_text()
    assert f"WorkingDirectory={str(root).replace('%', '%%')}\n" in text
    assert "Description=publisher run: 100%% Reel\n" in text


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed (CI "
                                                     "installs systemd)")
@pytest.mark.parametrize("name", ODD)
def test_systemd_accepts_the_server_unit_for_any_directory(tmp_path, name):
    from publisher.pipeline.units import server_unit

    root = tmp_path / name / "reel"
    root.mkdir(parents=True)
    script = tmp_path / name / "bin%$x" / "publisher"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    ((unit, text),) = server_unit(root, [str(script)], title="100% Reel").items()
    path = tmp_path / unit
    path.write_text(text)
    done = subprocess.run([SYSTEMD_ANALYZE, "verify", "--man=no", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert [line for line in done.stderr.splitlines() if unit in line] == [], done.stderr
    assert f"WorkingDirectory={str(root).replace('%', '%%')}\n" in text
    assert "Restart=on-failure\n" in text and text.count("ExecStart=") == 1
