"""publisher serve and publisher inbox from the command line: a real server process that
answers and stops cleanly on SIGTERM, its systemd unit, and one-line errors."""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time

import httpx

from publisher.logs import JournalFormatter
from publisher.pipeline.units import unit_name
from tests.fixtures import free_port, run_cli


def test_serve_answers_and_stops_cleanly_on_sigterm(publication):
    port = free_port()
    env = {**os.environ, "PUBLISHER_SECRET": "cli-test-secret-of-forty-characters-long"}
    proc = subprocess.Popen([sys.executable, "-m", "publisher", "-C", str(publication.root),
                             "serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/healthz")
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "publisher serve did not answer"
                time.sleep(0.1)
        assert response.text == "ok\n"
        assert httpx.get(f"http://127.0.0.1:{port}/subscribe").status_code == 200
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    text = err.decode()
    assert f"on http://127.0.0.1:{port}/" in text and "Traceback" not in text
    assert "GET /healthz 200" in text and "cli-test-secret-of-forty-characters-long" not in text


def test_under_systemd_serve_logs_each_line_with_its_priority(publication):
    # journald takes a line without a "<N>" priority for information: an error of serve's (its
    # ledger not answering, a request that failed) would not show as one in systemctl status.
    port = free_port()
    journal, theirs = socket.socketpair()
    with journal, theirs:
        st = os.fstat(theirs.fileno())
        env = {**os.environ, "PUBLISHER_SECRET": "cli-test-secret-of-forty-characters-long",
               "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
        proc = subprocess.Popen([sys.executable, "-m", "publisher", "-C", str(publication.root),
                                 "serve", "--port", str(port)], env=env, stdout=theirs,
                                stderr=theirs)
        theirs.close()
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    assert httpx.get(f"http://127.0.0.1:{port}/healthz").text == "ok\n"
                    break
                except httpx.TransportError:
                    assert proc.poll() is None
                    assert time.monotonic() < deadline, "publisher serve did not answer"
                    time.sleep(0.1)
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=15)
        finally:
            if proc.poll() is None:
                proc.kill()
        lines = journal.makefile(encoding="utf-8").read().splitlines()
    assert any(line.startswith("<6>") and "GET /healthz 200" in line for line in lines), lines
    assert [line for line in lines if not re.match(r"<[0-7]>[a-z]", line)] == []  # no time

    failed = logging.LogRecord("publisher.serve", logging.ERROR, __file__, 1,
                               "healthz: the ledger does not answer", None, None)
    try:
        raise OSError("disk I/O error")
    except OSError:
        failed.exc_info = sys.exc_info()
    text = JournalFormatter().format(failed)
    assert text.startswith("<3>publisher.serve ERROR healthz: the ledger does not answer\n")
    assert all(line.startswith("<3>") for line in text.splitlines())  # the traceback too


def test_serve_without_the_secret_or_with_its_port_taken_is_one_line(publication):
    missing = run_cli("serve", root=publication.root, env={"PUBLISHER_SECRET": ""})
    assert missing.exit_code == 1
    assert missing.stderr.startswith("error: PUBLISHER_SECRET is not set")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = run_cli("serve", "--port", str(port), root=publication.root,
                       env={"PUBLISHER_SECRET": "x"})
    assert busy.exit_code == 1
    assert busy.stderr == (f"error: cannot listen on 127.0.0.1:{port}: Address already in "
                           "use; choose another with --host/--port or [server] host/port\n")


def test_serve_refuses_a_short_secret_where_a_new_publication_sends_real_mail(publication):
    publication.add_config('[delivery]\ntransport = "smtp://127.0.0.1:25"\nstarttls = false\n')
    short = run_cli("serve", "--port", "1", root=publication.root,
                    env={"PUBLISHER_SECRET": "too-short"})
    assert short.exit_code == 1
    assert short.stderr.startswith("error: PUBLISHER_SECRET is 9 bytes; a new publication "
                                   "needs at least 32")


def test_serve_prints_a_systemd_unit_that_keeps_it_running(publication):
    result = run_cli("serve", "--systemd", root=publication.root)
    assert result.exit_code == 0
    unit = result.stdout
    name = unit_name(publication.config.root, "Test Reel")
    assert f"# --- {name}-serve.service ---" in unit
    assert "loginctl enable-linger" in unit.split("# ---")[0]  # else it stops at logout
    assert f"WorkingDirectory={publication.root.resolve()}" in unit
    assert "Restart=on-failure" in unit and "Type=exec" in unit
    assert f"EnvironmentFile=%h/.config/publisher/{name}.env" in unit
    exec_line = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert exec_line.endswith(" serve") and os.path.isabs(exec_line.split("=", 1)[1].split()[0])


def test_inbox_without_a_mailbox_says_which_key_to_set(publication):
    result = run_cli("inbox", root=publication.root)
    assert result.exit_code == 1
    assert result.stderr.endswith(
        "publisher.toml: inbox.mailbox: not set, so there is no inbox to read; set it in [inbox] "
        "to the mailbox your bounces and replies reach: maildir:///path or "
        "imaps://host:993/FOLDER\n")
