"""Deliveries per second with several sender processes sharing one issue, and the ledger's size.

    .venv/bin/python bench/workers.py [--subscribers 20000] [--workers 1 2 4] [--repeat 2]
                                      [--connections 4] [--postgres postgresql:///postgres]

For each case — SQLite with one process, then PostgreSQL with each number of ``--workers`` —
a fresh publication (10 synthetic reviews, bench/gen_reviews.py) and a fresh ledger get the
subscribers (``subscribers import``) and issue #1 (``issue new``); then that many processes run
``python -m publisher issue send 1`` at once against Postfix's smtp-sink on loopback, each with
``--connections`` SMTP connections, and the wall time from their start until the last exits is
taken (interpreter start-up, queueing the issue, the whole exactly-once path). The cases
alternate round by round, so all see the same machine.

The ledger's size per million deliveries is measured on the same runs: the growth of the
database from before the issue was queued to after it was sent (SQLite: the file, after a WAL
checkpoint; PostgreSQL: the deliveries table with its indexes and TOAST), scaled to 1,000,000,
as the sending left it and after a VACUUM FULL. Every delivery is checked to be sent once.
"""

from __future__ import annotations

import argparse
import os
import secrets
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

from deliver import SMTP_SINK, free_port, start_sink  # noqa: E402
from gen_reviews import generate  # noqa: E402


def publisher(root: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "publisher", "-C", str(root), *args]


def environment() -> dict[str, str]:
    # The real clock: a sending command refuses a --now in the future (synthetic reviews dated
    # later than today simply stay out of the issue).
    env = {**os.environ, "PUBLISHER_SECRET": "bench-secret-of-thirty-two-bytes-or-more"}
    env.pop("PUBLISHER_NOW", None)
    return env


def admin(url: str, sql: str) -> list[tuple[object, ...]]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(sql)
        return cursor.fetchall() if cursor.description else []


def sqlite_size(path: Path, vacuum: bool = False) -> int:
    with sqlite3.connect(path) as conn:
        if vacuum:
            conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path.stat().st_size


def postgres_size(url: str, vacuum: bool = False) -> int:
    if vacuum:
        admin(url, "VACUUM FULL deliveries")
    return int(admin(url, "SELECT pg_total_relation_size('deliveries')")[0][0])  # type: ignore


def case(database: str, workers: int, args: argparse.Namespace,
         port: int) -> tuple[float, float, float]:
    """(deliveries per second, bytes per million deliveries as left, after VACUUM FULL)."""
    work = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    name = ""
    try:
        generate(10, work)
        if database == "sqlite":
            url = "sqlite:///.publisher/state.db"
        else:
            name = f"publisher_bench_{secrets.token_hex(4)}"
            admin(args.postgres, f"CREATE DATABASE {name}")
            url = args.postgres.rsplit("/", 1)[0] + "/" + name
        with (work / "publisher.toml").open("a", encoding="utf-8") as fh:
            fh.write(f'\n[delivery]\ntransport = "smtp://127.0.0.1:{port}"\nstarttls = false\n'
                     f"connections = {args.connections}\nsession_messages = 100\n"
                     f'\n[state]\ndatabase = "{url}"\n')
        csv = work / "subscribers.csv"
        csv.write_text("email,name\n" + "".join(
            f"reader{i}@bench.example.org,Reader {i}\n" for i in range(args.subscribers)))
        env = environment()
        for command in (("subscribers", "import", str(csv)), ("issue", "new")):
            subprocess.run(publisher(work, *command), env=env, check=True,
                           capture_output=True)
        ledger = work / ".publisher" / "state.db"
        size = (lambda vacuum=False: sqlite_size(ledger, vacuum)) if database == "sqlite" else \
            (lambda vacuum=False: postgres_size(f"{url}", vacuum))
        before = size()
        start = time.perf_counter()
        procs = [subprocess.Popen(publisher(work, "issue", "send", "1"), env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(workers)]
        outputs = [proc.communicate() for proc in procs]
        seconds = time.perf_counter() - start
        for proc, (out, err) in zip(procs, outputs, strict=True):
            if proc.returncode != 0:
                raise SystemExit(f"{database} × {workers}: exit {proc.returncode}: {out}{err}")
        shown = subprocess.run(publisher(work, "issue", "show", "1"), env=env, check=True,
                               capture_output=True, text=True).stdout
        expected = f"deliveries: {args.subscribers} ({args.subscribers} sent)"
        if expected not in shown:
            raise SystemExit(f"{database} × {workers}: not every delivery sent once:\n{shown}")
        scale = 1_000_000 / args.subscribers
        if database == "sqlite":
            grown = size() - before
            compact = size(True) - before
        else:  # the table held nothing before the issue was queued
            grown = size()
            compact = size(True)
        return args.subscribers / seconds, grown * scale, compact * scale
    finally:
        if name:
            admin(args.postgres, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--postgres", default=os.environ.get(
        "PUBLISHER_TEST_POSTGRES", "postgresql:///postgres"))
    args = parser.parse_args()
    if not Path(SMTP_SINK).exists():
        raise SystemExit(f"{SMTP_SINK} is missing: apt-get install postfix")
    port = free_port()
    sink, command = start_sink("smtp-sink", port)
    cases = [("sqlite", 1)] + [("postgresql", n) for n in args.workers]
    rates: dict[tuple[str, int], list[float]] = {c: [] for c in cases}
    sizes: dict[str, tuple[float, float]] = {}
    try:
        print(f"{args.subscribers:,} subscribers, {args.connections} connections per process, "
              f"sink: {' '.join(command)}")
        for round_ in range(args.repeat):
            for database, workers in cases:
                rate, grown, compact = case(database, workers, args, port)
                rates[(database, workers)].append(rate)
                sizes.setdefault(database, (grown, compact))
                print(f"round {round_ + 1}  {database:<10} {workers} process(es): "
                      f"{rate:7.0f} deliveries/s", flush=True)
    finally:
        sink.terminate()
        sink.wait()
    print("\nmedians:")
    for (database, workers), found in rates.items():
        print(f"  {database:<10} {workers} process(es): {statistics.median(found):7.0f} "
              "deliveries/s")
    print("ledger size per million deliveries (as left by sending / after VACUUM FULL):")
    for database, (grown, compact) in sizes.items():
        print(f"  {database:<10} {grown / 1e6:6.0f} MB / {compact / 1e6:6.0f} MB")


if __name__ == "__main__":
    main()
