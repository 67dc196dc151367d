"""A million subscribers on one machine: queueing, the ledger's size, `issue show`/`issue list`,
and (with --deliver) the whole send to Postfix's smtp-sink, its rate sampled as it goes.

    .venv/bin/python bench/million.py [--subscribers 1000000] [--deliver] [--connections 4]
                                      [--publisher PATH] [--keep DIR]

Every step is the publisher command line in a process of its own, timed from start to exit, its
peak RSS read from wait4:

1. setup (not timed): a publication of 10 synthetic reviews (bench/gen_reviews.py), a ledger
   made by ``subscribers add``, then the subscribers written straight into its table in one
   transaction (``subscribers import`` is not what is measured here), and ``issue new``.
2. queue: ``issue send 1`` against a loopback port nobody listens on: it freezes the issue and
   queues one delivery per subscriber, then stops at the refused connection (exit 1).
3. the ledger's size on disk (database, WAL), then ``issue show 1`` and ``issue list``, seven
   runs each, interleaved with a Python that only imports the ledger (the floor both stand on).
4. with ``--deliver``: ``issue send 1`` again, to smtp-sink, to the end; every 30 s the sent
   count is read from the ledger (a read-only connection) and the rate of the last interval
   printed, so a slowdown as the ledger fills would show.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from deliver import SMTP_SINK, free_port, start_sink, timed  # noqa: E402
from gen_reviews import generate  # noqa: E402

CREATED = "2030-01-01 00:00:00.000000"


def config(root: Path, port: int, connections: int) -> None:
    text = (root / "publisher.toml").read_text().split("\n[delivery]\n")[0]
    (root / "publisher.toml").write_text(
        f'{text}\n[delivery]\ntransport = "smtp://127.0.0.1:{port}"\nstarttls = false\n'
        f"connections = {connections}\nsession_messages = 100\ntimeout = 30\n")


def size_mb(path: Path) -> float:
    return path.stat().st_size / 1e6 if path.exists() else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--deliver", action="store_true", help="send the whole issue too")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--publisher", default=str(Path(sys.executable).parent / "publisher"))
    parser.add_argument("--keep", type=Path, help="work in DIR and leave it there")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-million-"))
    root = work / "pub"
    # The real clock: a --now in the future is refused for a transport that sends mail.
    env = {**os.environ, "PUBLISHER_SECRET": "bench-secret-of-at-least-32-bytes-long"}
    env.pop("PUBLISHER_NOW", None)

    def cli(*command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([args.publisher, "-C", str(root), *command], env=env,
                              capture_output=True, text=True)

    try:
        shutil.rmtree(root, ignore_errors=True)
        generate(10, root)
        refused = free_port()
        config(root, refused, args.connections)
        assert cli("subscribers", "add", "first@bench.example.org").returncode == 0
        database = root / ".publisher" / "state.db"
        started = time.perf_counter()
        with sqlite3.connect(database) as db:
            db.executemany(
                "INSERT INTO subscribers (email, email_normalised, name, status, source, "
                "created_at, status_changed_at) VALUES (?, ?, ?, 'active', 'bench', ?, ?)",
                ((f"reader{i}@bench.example.org", f"reader{i}@bench.example.org", f"Reader {i}",
                  CREATED, CREATED) for i in range(1, args.subscribers)))
        print(f"setup: {args.subscribers:,} subscribers written in "
              f"{time.perf_counter() - started:.1f} s", flush=True)
        assert cli("issue", "new").returncode == 0

        # 2. queueing
        queue_run = timed([args.publisher, "-C", str(root), "issue", "send", "1"], env=env,
                          check=False)
        with sqlite3.connect(database) as db:
            queued = db.execute("SELECT count(*) FROM deliveries").fetchone()[0]
        if queued != args.subscribers:
            raise SystemExit(f"`issue send 1` queued {queued} deliveries, not "
                             f"{args.subscribers}: {cli('issue', 'send', '1').stderr}")
        print(f"queue: `issue send 1` queued {args.subscribers:,} deliveries and stopped at the "
              f"refused connection in {queue_run.wall:.1f} s wall, {queue_run.cpu:.1f} s CPU, "
              f"peak RSS {queue_run.rss_mb:.0f} MB", flush=True)

        # 3. the ledger, `issue show`, `issue list`
        wal = database.with_name("state.db-wal")
        print(f"ledger: {size_mb(database):.0f} MB database + {size_mb(wal):.0f} MB WAL "
              f"for {args.subscribers:,} subscribers and deliveries", flush=True)
        # Interleaved with the floor under both: a Python that only imports the ledger's
        # module (SQLAlchemy is most of it), so that machine load shows up in both alike.
        commands = {
            "publisher issue show 1": [args.publisher, "-C", str(root), "issue", "show", "1"],
            "publisher issue list": [args.publisher, "-C", str(root), "issue", "list"],
            "python -c 'import publisher.ledger'": [sys.executable, "-c",
                                                    "import publisher.ledger"],
        }
        runs: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(7):
            for name, command in commands.items():
                runs[name].append(timed(command, env=env).wall)
        for name, walls in runs.items():
            print(f"`{name}`: median {statistics.median(walls):.3f} s, best {min(walls):.3f} s, "
                  f"worst {max(walls):.3f} s", flush=True)

        if args.deliver:
            deliver(args, root, database, env)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def deliver(args: argparse.Namespace, root: Path, database: Path, env: dict[str, str]) -> None:
    if not Path(SMTP_SINK).exists():
        raise SystemExit(f"{SMTP_SINK} is missing: apt-get install postfix")
    port = free_port()
    sink = start_sink(port)
    config(root, port, args.connections)
    ledger = sqlite3.connect(f"file:{database}?mode=ro", uri=True)

    def sent() -> int:
        return int(ledger.execute("SELECT count(*) FROM deliveries WHERE issue_number = 1 AND "
                                  "status = 'sent'").fetchone()[0])

    try:
        start = time.perf_counter()
        proc = subprocess.Popen([args.publisher, "-C", str(root), "issue", "send", "1"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        last, last_at = 0, start
        rates = []
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(1)
            now = time.perf_counter()
            if now - last_at >= 30:
                count = sent()
                rates.append((count - last) / (now - last_at))
                print(f"  {now - start:7.0f} s: {count:>9,} sent, {rates[-1]:6.0f}/s over the "
                      f"last {now - last_at:.0f} s", flush=True)
                last, last_at = count, now
        wall = time.perf_counter() - start
        total = sent()
        print(f"deliver: {total:,} sent in {wall:.0f} s = {total / wall:.0f}/s overall, "
              f"{usage.ru_utime + usage.ru_stime:.0f} s CPU, peak RSS "
              f"{usage.ru_maxrss / 1024:.0f} MB, exit {os.waitstatus_to_exitcode(status)}; "
              f"30-second rates: min {min(rates, default=0):.0f}/s, median "
              f"{statistics.median(rates) if rates else 0:.0f}/s, max "
              f"{max(rates, default=0):.0f}/s", flush=True)
    finally:
        ledger.close()
        sink.terminate()
        sink.wait()


if __name__ == "__main__":
    sys.exit(main())
