"""Deliveries per second for one issue to 10,000 subscribers over loopback SMTP.

    .venv/bin/python bench/deliver.py [--subscribers 10000] [--connections 1 4]
                                      [--sink auto|smtp-sink|aiosmtpd] [--reply-delay S]

The sink is Postfix's smtp-sink (``smtp-sink -u nobody -c 127.0.0.1:PORT 1000``) when it is
installed, else aiosmtpd's Sink handler in a separate process. Each connection count runs in a
fresh child process with a fresh publication (10 synthetic reviews, bench/gen_reviews.py), a fresh
ledger and the subscribers imported from CSV, so its peak RSS (ru_maxrss) is its own. The time
covers ``pipeline.send.deliver_issue`` only: rendering the digest once, queueing, claiming, sending,
recording each outcome in the ledger (SQLite, WAL, synchronous=FULL) and marking the issue sent.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
SMTP_SINK = "/usr/sbin/smtp-sink"
NOW = datetime(2030, 1, 4, 9, 0, tzinfo=UTC)  # after every synthetic review


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"the sink on port {port} did not start")


class SlowSink:
    """aiosmtpd handler that waits ``delay`` seconds before each 250 to DATA, as a distant
    relay's round trips would (``--reply-delay``); connections are served concurrently."""

    def __init__(self, delay: str = "0.02"):
        self.delay = float(delay)

    @classmethod
    def from_cli(cls, parser: object, delay: str) -> SlowSink:  # aiosmtpd -c CLASS ARGS
        return cls(delay)

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        import asyncio

        await asyncio.sleep(self.delay)
        return "250 2.0.0 OK"


def start_sink(kind: str, port: int, delay: float = 0.0
               ) -> tuple[subprocess.Popen[bytes], list[str]]:
    env = None
    if delay:
        kind = "aiosmtpd"
        env = {**os.environ, "PYTHONPATH": str(HERE)}
    if kind == "smtp-sink":
        command = [SMTP_SINK, "-c", f"127.0.0.1:{port}", "1000"]
        if os.geteuid() == 0:  # smtp-sink refuses to run as root without -u
            command[1:1] = ["-u", "nobody"]
    else:
        command = [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
                   "-c", "aiosmtpd.handlers.Sink"]
        if delay:
            command[-2:] = ["-c", "deliver.SlowSink", str(delay)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env)
    wait_for(port)
    return proc, command


def one(connections: int, subscribers: int, sink: str, delay: float = 0.0) -> dict[str, object]:
    sys.path.insert(0, str(HERE))
    from gen_reviews import generate

    from publisher.config import load_config
    from publisher.ledger import open_store
    from publisher.pipeline.issues import compose_issue
    from publisher.pipeline.send import deliver_issue
    from publisher.sources import load_reviews

    work = Path(tempfile.mkdtemp(prefix="bench-deliver-"))
    port = free_port()
    proc, sink_command = start_sink(sink, port, delay)
    try:
        generate(10, work)
        with (work / "publisher.toml").open("a", encoding="utf-8") as fh:
            fh.write(f'\n[delivery]\ntransport = "smtp://127.0.0.1:{port}"\nstarttls = false\n'
                     f"connections = {connections}\nsession_messages = 100\n")
        csv = work / "subscribers.csv"
        csv.write_text("email,name\n" + "".join(
            f"reader{i}@bench.example.org,Reader {i}\n" for i in range(subscribers)))
        config = load_config(directory=work)
        catalog = load_reviews(config)
        with open_store(config) as store:
            store.import_subscribers_csv(csv, now=NOW)
            record = compose_issue(config, store, catalog, now=NOW)
            lines: list[str] = []
            start = time.perf_counter()
            report = deliver_issue(config, store, record.number, now=NOW,
                                   secret="bench-secret", catalog=catalog,
                                   echo=lines.append)
            seconds = time.perf_counter() - start
            counts = store.delivery_counts(record.number)
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(work, ignore_errors=True)
    if report.sent != subscribers or counts["sent"] != subscribers:
        raise SystemExit(f"expected {subscribers} sent, got {report} {counts}: {lines}")
    return {
        "connections": connections,
        "subscribers": subscribers,
        "seconds": round(seconds, 2),
        "deliveries_per_s": round(subscribers / seconds, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "sink": " ".join(sink_command),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--sink", choices=("auto", "smtp-sink", "aiosmtpd"), default="auto")
    parser.add_argument("--reply-delay", type=float, default=0.0, metavar="SECONDS",
                        help="use an aiosmtpd sink that waits this long before each 250, like "
                             "a distant relay (shows what parallel connections are for)")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sink = args.sink
    if sink == "auto":
        sink = "smtp-sink" if Path(SMTP_SINK).exists() else "aiosmtpd"
    if args.one:
        result = one(args.connections[0], args.subscribers, sink, args.reply_delay)
        print(json.dumps(result))
        return 0
    for connections in args.connections:
        out = subprocess.run(
            [sys.executable, __file__, "--one", "--connections", str(connections),
             "--subscribers", str(args.subscribers), "--sink", sink,
             "--reply-delay", str(args.reply_delay)],
            capture_output=True, text=True,
        )
        if out.returncode != 0:
            print(out.stderr, file=sys.stderr)
            return 1
        result = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{result['connections']} connection(s): "
              f"{result['subscribers']} deliveries in {result['seconds']} s = "
              f"{result['deliveries_per_s']}/s, peak RSS {result['peak_rss_mb']} MB "
              f"(sink: {result['sink']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
