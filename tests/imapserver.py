"""A real IMAP server for tests: Dovecot (Debian's dovecot-imapd) on a free loopback port,
IMAP over TLS only, one user, Maildir storage under a temporary directory.

    with Dovecot() as imap:
        imap.append(b"Subject: ...")          # into INBOX
        imap.uids("processed")                # what publisher moved there
"""

from __future__ import annotations

import imaplib
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

from tests.smtpserver import make_certificate

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
USER, PASSWORD = "reader", "imap-test-password"
#: A second login whose password is beyond ASCII, as people choose them ("été", "€").
UTF8_USER, UTF8_PASSWORD = "lecteur", "mot-de-passe-été-€"


def unavailable() -> str | None:
    """Why no Dovecot can run here, or None."""
    if not os.path.exists(DOVECOT):
        return "dovecot is not installed (apt-get install dovecot-imapd)"
    if os.geteuid() != 0:
        return "dovecot's login processes must drop to its own users: run the tests as root"
    try:
        pwd.getpwnam("dovecot"), pwd.getpwnam("dovenull")
    except KeyError:
        return "the dovecot and dovenull users are missing (reinstall dovecot-core)"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Dovecot:
    """Dovecot in a directory of its own under /tmp (its users must reach it: pytest's
    temporary directories are private to root), removed afterwards."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="publisher-dovecot-"))
        self.dir.chmod(0o755)
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Dovecot:
        d = self.dir
        for sub in ("run", "state", "mail", "home"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        self.cert, key = make_certificate(d)
        owner = pwd.getpwnam("dovecot")
        for sub in ("mail", "home"):
            os.chown(d / sub, owner.pw_uid, owner.pw_gid)
        (d / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n"
                                  f"{UTF8_USER}:{{PLAIN}}{UTF8_PASSWORD}::::::\n",
                                  encoding="utf-8")
        (d / "dovecot.conf").write_text(f"""
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{self.cert}
ssl_key = <{key}
auth_mechanisms = plain
default_internal_user = dovecot
default_internal_group = dovecot
default_login_user = dovenull
mail_location = maildir:{d}/mail/%u
first_valid_uid = {owner.pw_uid}
passdb {{
  driver = passwd-file
  args = {d}/passwd
}}
userdb {{
  driver = static
  args = uid={owner.pw_uid} gid={owner.pw_gid} home={d}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    port = {self.port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
""")
        self.process = subprocess.Popen([DOVECOT, "-F", "-c", str(d / "dovecot.conf")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while True:
            try:
                self.connect().logout()
                return self
            except (OSError, imaplib.IMAP4.error):
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.__exit__()
                    log = (d / "dovecot.log").read_text() if (d / "dovecot.log").exists() else ""
                    raise RuntimeError(f"dovecot did not start: {log[-500:]}") from None
                time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def url(self) -> str:
        return f"imaps://127.0.0.1:{self.port}/INBOX"

    def connect(self) -> imaplib.IMAP4_SSL:
        context = ssl.create_default_context(cafile=str(self.dir / "cert.pem"))
        imap = imaplib.IMAP4_SSL("127.0.0.1", self.port, ssl_context=context, timeout=10)
        imap.login(USER, PASSWORD)
        return imap

    def append(self, raw: bytes, folder: str = "INBOX") -> None:
        imap = self.connect()
        try:
            imap.append(folder, None, None, raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
        finally:
            imap.logout()

    def flags(self, folder: str = "INBOX") -> list[str]:
        """The flags of every message in ``folder`` (empty when it does not exist)."""
        imap = self.connect()
        try:
            status, _ = imap.select(f'"{folder}"', readonly=True)
            if status != "OK":
                return []
            _, data = imap.uid("FETCH", "1:*", "(FLAGS)")
            return [item.decode() for item in data if isinstance(item, bytes)]
        finally:
            imap.logout()
