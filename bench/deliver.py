"""Delivery to Postfix's smtp-sink, side by side with smtp-source and a bare smtplib loop.

    .venv/bin/python bench/deliver.py [--messages 10000] [--connections 1 4] [--rounds 3]
                                      [--publisher PATH ...]

Every contender is a whole process, timed from start to exit (wall) and by the kernel (user +
system CPU, from wait4), sending the same message to the same ``smtp-sink`` on loopback, round
after round, interleaved, so that load on the machine falls on all of them alike; the table gives
medians:

- ``publisher issue send 1``: a fresh copy of a publication with 10 synthetic reviews
  (bench/gen_reviews.py), ``--messages`` subscribers imported and issue #1 composed, so the time
  covers what a person waits for: start-up, freezing and queueing the issue, claiming, sending,
  recording every outcome in the ledger (SQLite, WAL, synchronous=FULL). ``[delivery]
  connections`` is the connection count, ``session_messages = 100``.
- ``smtp-source -d -s N -m M -F message.eml``: Postfix's own load generator, N sessions in
  parallel, the same message (publisher's ``digest preview --eml``, ~75 KB) from a file.
- ``smtplib loop``: ``smtplib.SMTP.sendmail`` in a loop over one connection, the same bytes (one
  connection only: it is the CPU yardstick).

The goals (issue 10): publisher's rate at least 50 % of smtp-source's at equal connections, and
its CPU per message within 2x of the bare loop's. ``--publisher`` takes one or more publisher
executables (say, a wrapper that runs an older checkout with ``PYTHONPATH=DIR python -P -m
publisher``) to measure them in the same rounds: that is how before/after figures are taken.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from gen_reviews import generate  # noqa: E402
from measure import Sample as Timing  # noqa: E402
from measure import run as timed  # noqa: E402

SMTP_SINK = "/usr/sbin/smtp-sink"
SMTP_SOURCE = "/usr/sbin/smtp-source"
SECRET = "bench-secret-of-at-least-32-bytes-long"
SENDER = "newsletter@bench.example.org"

BARE_LOOP = f"""\
import smtplib, sys
port, count, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
data = open(path, "rb").read()
with smtplib.SMTP("127.0.0.1", port) as smtp:
    for i in range(count):
        smtp.sendmail("{SENDER}", f"reader{{i}}@bench.example.org", data)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"the sink on port {port} did not start")


def start_sink(port: int) -> subprocess.Popen[bytes]:
    if not Path(SMTP_SINK).exists():
        raise SystemExit(f"{SMTP_SINK} is missing: apt-get install postfix (no daemon is needed)")
    command = [SMTP_SINK, "-c", f"127.0.0.1:{port}", "1000"]
    if os.geteuid() == 0:  # smtp-sink refuses to run as root without -u
        command[1:1] = ["-u", "nobody"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(port)
    return proc


class Contender:
    """One publisher executable and its prepared publication (copied fresh for every run)."""

    def __init__(self, executable: str, work: Path, port: int, messages: int):
        self.executable = executable
        self.template = work / f"pub-{abs(hash(executable))}"
        # The real clock: a --now in the future is refused for a transport that sends mail.
        self.env = {**os.environ, "PUBLISHER_SECRET": SECRET}
        self.env.pop("PUBLISHER_NOW", None)
        generate(10, self.template)
        csv = work / "subscribers.csv"
        if not csv.exists():
            csv.write_text("email,name\n" + "".join(
                f"reader{i}@bench.example.org,Reader {i}\n" for i in range(messages)))
        self._config(self.template, port, 1)
        self.run(self.template, "subscribers", "import", str(csv))
        self.run(self.template, "issue", "new")

    @staticmethod
    def _config(root: Path, port: int, connections: int) -> None:
        text = (root / "publisher.toml").read_text().split("\n[delivery]\n")[0]
        (root / "publisher.toml").write_text(
            f'{text}\n[delivery]\ntransport = "smtp://127.0.0.1:{port}"\nstarttls = false\n'
            f"connections = {connections}\nsession_messages = 100\n")

    # Commands run in the publication's directory: a wrapper that runs an older checkout with
    # `python -m publisher` must not find this checkout's package in the working directory.
    def run(self, root: Path, *args: str) -> None:
        subprocess.run([self.executable, "-C", str(root), *args], env=self.env, check=True,
                       capture_output=True, cwd=root)

    def send(self, work: Path, port: int, connections: int) -> Timing:
        root = work / "run"
        shutil.rmtree(root, ignore_errors=True)
        shutil.copytree(self.template, root)
        self._config(root, port, connections)
        try:
            return timed([self.executable, "-C", str(root), "issue", "send", "1"], env=self.env,
                         cwd=root)
        finally:
            shutil.rmtree(root, ignore_errors=True)


@dataclass
class Results:
    runs: dict[str, list[Timing]] = field(default_factory=dict)

    def add(self, key: str, timing: Timing) -> None:
        self.runs.setdefault(key, []).append(timing)

    def median(self, key: str, attr: str) -> float:
        return statistics.median(getattr(t, attr) for t in self.runs[key])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--publisher", nargs="+",
                        default=[str(Path(sys.executable).parent / "publisher")],
                        help="publisher executables to measure (default: %(default)s)")
    args = parser.parse_args()
    if not Path(SMTP_SOURCE).exists():
        raise SystemExit(f"{SMTP_SOURCE} is missing: apt-get install postfix")

    work = Path(tempfile.mkdtemp(prefix="bench-deliver-"))
    port = free_port()
    sink = start_sink(port)
    try:
        print(f"preparing {len(args.publisher)} publication(s) of {args.messages} subscribers…",
              flush=True)
        contenders = [Contender(p, work, port, args.messages) for p in args.publisher]
        first = contenders[0]
        eml = work / "message.eml"
        first.run(first.template, "digest", "preview", "--eml", str(eml))
        # smtp-source -F appends CRLF to each line itself.
        message = eml.read_bytes().replace(b"\r\n", b"\n")
        (work / "message.lf").write_bytes(message)
        (work / "message.crlf").write_bytes(message.replace(b"\n", b"\r\n"))
        (work / "bare.py").write_text(BARE_LOOP)
        size = len(message.replace(b"\n", b"\r\n"))
        print(f"message: {size / 1000:.1f} kB; sink: smtp-sink on 127.0.0.1:{port}", flush=True)

        results = Results()
        for r in range(1, args.rounds + 1):
            for n in args.connections:
                key = f"smtp-source -s {n}"
                results.add(key, timed([SMTP_SOURCE, "-d", "-s", str(n), "-m",
                                        str(args.messages), "-f", SENDER, "-t",
                                        "reader@bench.example.org", "-F",
                                        str(work / "message.lf"), f"127.0.0.1:{port}"]))
                for i, contender in enumerate(contenders):
                    key = f"publisher[{i}] x{n}"
                    results.add(key, contender.send(work, port, n))
                if n == 1:
                    results.add("smtplib loop", timed([sys.executable, str(work / "bare.py"),
                                                       str(port), str(args.messages),
                                                       str(work / "message.crlf")]))
            print(f"round {r}/{args.rounds} done", flush=True)
    finally:
        sink.terminate()
        sink.wait()
        shutil.rmtree(work, ignore_errors=True)

    m = args.messages
    bare_cpu = results.median("smtplib loop", "cpu") / m * 1000
    print(f"\n{m} messages of {size / 1000:.1f} kB, medians of {args.rounds} interleaved "
          "rounds, whole processes:")
    print(f"{'':<22} {'wall s':>7} {'msg/s':>7} {'CPU s':>7} {'CPU ms/msg':>10} "
          f"{'peak RSS':>9}  share")
    for n in args.connections:
        source = f"smtp-source -s {n}"
        source_rate = m / results.median(source, "wall")
        keys = [source] + [f"publisher[{i}] x{n}" for i in range(len(args.publisher))]
        if n == 1:
            keys.append("smtplib loop")
        for key in keys:
            wall, cpu = results.median(key, "wall"), results.median(key, "cpu")
            rss = results.median(key, "rss_mb")
            share = ""
            if key.startswith("publisher"):
                share = (f"{m / wall / source_rate:.0%} of smtp-source's rate, CPU "
                         f"{cpu / m * 1000 / bare_cpu:.2f}x the smtplib loop's")
            print(f"{key:<22} {wall:7.2f} {m / wall:7.0f} {cpu:7.2f} {cpu / m * 1000:10.3f} "
                  f"{rss:7.0f}MB  {share}")
    for i, executable in enumerate(args.publisher):
        print(f"publisher[{i}] = {executable}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
