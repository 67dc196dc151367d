"""Import time and peak memory of ``publisher subscribers import`` for a large list.

    .venv/bin/python bench/import_subscribers.py [--rows 1000000] [--databases sqlite postgresql]
                                                 [--postgres postgresql:///postgres]
                                                 [--before DIR]

Writes a CSV of N subscribers (``email,name``; 2 % of the rows repeat an earlier address, as
real lists do) once under bench/out/, then for each database imports it with the CLI
(``python -m publisher subscribers import``) in a fresh child process into a fresh, empty
ledger: a new SQLite file, or a new PostgreSQL database created on the server given (a
maintenance database URL; the role must be allowed to create databases) and dropped after.
Reports the wall time of the command, interpreter start-up included, and the child's peak RSS
(ru_maxrss). Alternates the databases when ``--repeat`` is above 1, so both see the same load.
``--before DIR`` also runs, before each of ours, the publisher whose source tree is DIR (say
``git archive OLD | tar -x -C DIR``), for before-and-after figures from one run.
"""

from __future__ import annotations

import argparse
import csv
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
CONFIG = """\
title = "Bench"
base_url = "https://bench.example.org/"
[state]
database = "{database}"
"""


def write_csv(rows: int) -> Path:
    path = OUT / f"subscribers-{rows}.csv"
    if path.exists():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    with partial.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "name"])
        for i in range(rows):
            n = i - 7 if i % 50 == 49 else i  # every 50th row repeats an earlier address
            writer.writerow([f"reader{n:07d}@mail{n % 97}.example.net", f"Reader {n}"])
    partial.replace(path)
    return path


def admin(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)


def run_import(database: str, csv_path: Path, postgres: str,
               code: Path | None = None) -> tuple[float, float, str]:
    """Import into a fresh ledger of ``database``; (seconds, peak RSS in MB, summary line)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "reviews").mkdir()
        name = ""
        if database == "sqlite":
            url = "sqlite:///.publisher/state.db"
        else:
            name = f"publisher_bench_{secrets.token_hex(4)}"
            admin(postgres, f"CREATE DATABASE {name}")
            url = postgres.rsplit("/", 1)[0] + "/" + name
        (root / "publisher.toml").write_text(CONFIG.format(database=url))
        env = dict(os.environ)
        if code is not None:
            env["PYTHONPATH"] = str(code)
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        try:
            # Open (and migrate) the ledger first, so that only the import is timed.
            subprocess.run([sys.executable, "-m", "publisher", "-C", str(root), "subscribers",
                            "list", "--status", "bounced"], check=True, capture_output=True,
                           env=env, cwd=root)
            code = (
                "import resource, subprocess, sys, time\n"
                "start = time.perf_counter()\n"
                "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
                "seconds = time.perf_counter() - start\n"
                "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
                "print(f'{seconds:.2f} {peak:.0f}', done.returncode, done.stdout.strip(),"
                " done.stderr.strip()[-300:], sep='\\t')\n"
            )
            result = subprocess.run(
                [sys.executable, "-c", code, sys.executable, "-m", "publisher", "-C", str(root),
                 "subscribers", "import", str(csv_path)],
                capture_output=True, text=True, check=True, env=env, cwd=root)
            figures, returncode, summary, errors = result.stdout.rstrip("\n").split("\t")
            if returncode != "0":
                raise SystemExit(f"{database}: import failed ({returncode}): {errors}")
            seconds, peak = (float(x) for x in figures.split())
            return seconds, peak, summary
        finally:
            if name:
                admin(postgres, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"],
                        choices=["sqlite", "postgresql"])
    parser.add_argument("--postgres", default=os.environ.get(
        "PUBLISHER_TEST_POSTGRES", "postgresql:///postgres"))
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--before", type=Path, metavar="DIR",
                        help="also time the publisher whose source tree is DIR")
    args = parser.parse_args()
    csv_path = write_csv(args.rows)
    print(f"{args.rows:,} rows, {csv_path.stat().st_size / 1e6:.0f} MB: {csv_path}")
    for round_ in range(args.repeat):
        for database in args.databases:
            for label, code in (("before", args.before), ("after", None)):
                if label == "before" and code is None:
                    continue
                try:
                    seconds, peak, summary = run_import(database, csv_path, args.postgres, code)
                except (SystemExit, subprocess.CalledProcessError) as exc:
                    print(f"round {round_ + 1}  {database:<10}  {label:<6}  failed: {exc}",
                          flush=True)
                    continue
                print(f"round {round_ + 1}  {database:<10}  {label:<6}  {seconds:6.1f} s  "
                      f"peak RSS {peak:5.0f} MB  {summary}", flush=True)


if __name__ == "__main__":
    main()
