"""One-click unsubscribes per second: wrk against ``publisher serve`` over loopback.

    .venv/bin/python bench/serve.py [--subscribers 200000] [--duration 30] [--connections 16]
                                    [--rounds 1] [--variants shipped h11 h11-nagle]
                                    [--client wrk|httpx]

A publication with ``--subscribers`` active subscribers (imported from CSV) is served by
``publisher serve`` in a child process (the CLI, as deployed). wrk (Debian's package; 2 threads
(1 for one connection),
``--connections`` connections, ``--duration`` seconds) sends RFC 8058 one-click POSTs exactly as
Gmail does, each to a different subscriber's List-Unsubscribe URL, in order. Afterwards the
ledger must hold one unsubscribe per 200 answered, and no request may have failed. The
publication (bench/out/serve/) is reused by the next run with as many subscribers.

Variants, interleaved round by round so that both see the same machine: ``shipped`` is the
server as it is (uvicorn with httptools and uvloop, TCP_NODELAY on the listening socket);
``h11`` swaps in uvicorn's pure-Python HTTP parser and asyncio's loop, as it ran before
httptools and uvloop were dependencies; ``h11-nagle`` also clears TCP_NODELAY, as uvicorn left
it when given a socket of ours. Between runs every subscriber is made active again, so each run
unsubscribes fresh addresses. ``--client httpx`` replaces wrk with one Python client posting
back to back on one connection (where Nagle's delay shows).
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SECRET = "bench-serve-secret"
WRK = shutil.which("wrk") or "/usr/bin/wrk"

LUA = r"""
-- Each thread posts to its own slice of the unsubscribe paths, in order, as Gmail would.
local paths = {}
for line in io.lines("%(paths)s") do paths[#paths + 1] = line end
local threads, counter = {}, 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
function init(args)
  step = %(threads)d
  i = id + 1
  bad = 0
end
function request()
  local path = paths[i]
  i = i + step
  if i > #paths then i = id + 1 end
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["User-Agent"] = "Mozilla/5.0 (compatible; Google-List-Unsubscribe)",
  }, "List-Unsubscribe=One-Click")
end
function response(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
end
function done(summary, latency, requests)
  local bad_total = 0
  for _, t in ipairs(threads) do bad_total = bad_total + t:get("bad") end
  io.write(string.format("RESULT requests=%%d errors=%%d connect=%%d read=%%d write=%%d " ..
    "timeout=%%d non200=%%d p50=%%.3f p99=%%.3f max=%%.3f\n",
    summary.requests, summary.errors.status, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, bad_total,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
"""

SERVER = r"""
import socket, sys
from publisher.cli import main
import publisher.web.server as server
variant = sys.argv[1]
listen, config = server.listen, server.uvicorn_config
def listen_nagle(host, port):
    sock = listen(host, port)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
    return sock
def config_h11(app, **kwargs):
    made = config(app, **kwargs)
    made.http, made.loop = "h11", "asyncio"
    return made
if variant.startswith("h11"):
    server.uvicorn_config = config_h11
if variant.endswith("nagle"):
    server.listen = listen_nagle
sys.argv = ["publisher", *sys.argv[2:]]
main()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_publication(root: Path, count: int) -> list[str]:
    """A publication under ``root`` with ``count`` subscribers; their unsubscribe paths."""
    sys.path.insert(0, str(REPO))
    from publisher.config import load_config
    from publisher.ledger.store import open_store
    from publisher.render.sender import Sender

    if root.exists():
        shutil.rmtree(root)
    (root / "reviews").mkdir(parents=True)
    (root / "publisher.toml").write_text(
        'title = "Bench Reel"\nbase_url = "https://reel.bench/"\n\n'
        '[newsletter]\nfrom_address = "news@reel.bench"\n\n'
        '[server]\nurl = "https://list.reel.bench/"\n', encoding="utf-8")
    addresses = [f"reader{i:07d}@example.net" for i in range(count)]
    with (root / "subscribers.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["email", "name"])
        writer.writerows([a, ""] for a in addresses)
    config = load_config(directory=root)
    with open_store(config) as store:
        report = store.import_subscribers_csv(root / "subscribers.csv", now=_now())
    assert report.added == count, report
    sender = Sender.from_config(config)
    prefix = "https://list.reel.bench"
    return [sender.unsubscribe_url(SECRET, a).removeprefix(prefix) for a in addresses]


def _now():
    from datetime import UTC, datetime

    return datetime.now(UTC)


def reset(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE subscribers SET status = 'active'")
        conn.execute("DELETE FROM subscriber_events")


def unsubscribed(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT count(*) FROM subscribers WHERE status = 'unsubscribed'").fetchone()[0]


def run(variant: str, root: Path, script: Path, args: argparse.Namespace) -> dict[str, float]:
    port = free_port()
    env = {**os.environ, "PUBLISHER_SECRET": SECRET}
    log = (root / f"serve-{variant}.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, variant, "-C", str(root), "serve", "--port", str(port)],
        env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit(f"publisher serve did not start; see {log.name}") from None
                time.sleep(0.1)
        if args.client == "httpx":
            return python_client(port, root, args)
        out = subprocess.run(
            [WRK, f"-t{min(2, args.connections)}", f"-c{args.connections}",
             f"-d{args.duration}s", "-s", str(script), f"http://127.0.0.1:{port}/"],
            capture_output=True, text=True, check=True).stdout
    finally:
        server.terminate()
        server.wait(30)
        log.close()
    fields = dict(re.findall(r"(\w+)=([\d.]+)", out.split("RESULT", 1)[1]))
    result = {k: float(v) for k, v in fields.items()}
    result["rate"] = result["requests"] / args.duration
    result["recorded"] = unsubscribed(root / ".publisher" / "state.db")
    return result


def python_client(port: int, root: Path, args: argparse.Namespace) -> dict[str, float]:
    """One httpx connection posting one-click requests back to back for the duration."""
    import httpx

    paths = (root / "paths.txt").read_text().splitlines()
    latencies: list[float] = []
    non200 = 0
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        end = time.monotonic() + args.duration
        while time.monotonic() < end and len(latencies) < len(paths):
            started = time.monotonic()
            response = client.post(paths[len(latencies)], content=b"List-Unsubscribe=One-Click",
                                   headers=headers)
            latencies.append((time.monotonic() - started) * 1000)
            non200 += response.status_code != 200
    latencies.sort()
    return {"requests": len(latencies), "rate": len(latencies) / args.duration,
            "p50": latencies[len(latencies) // 2], "p99": latencies[len(latencies) * 99 // 100],
            "max": latencies[-1], "non200": non200, "connect": 0, "read": 0, "write": 0,
            "timeout": 0, "recorded": unsubscribed(root / ".publisher" / "state.db")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=200_000)
    parser.add_argument("--duration", type=int, default=30)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--variants", nargs="+", default=["shipped", "h11", "h11-nagle"],
                        choices=["shipped", "h11", "h11-nagle"])
    parser.add_argument("--client", choices=["wrk", "httpx"], default="wrk",
                        help="httpx: one Python client, requests back to back (one connection)")
    args = parser.parse_args()
    if not os.path.exists(WRK):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    root = HERE / "out" / "serve"
    started = time.monotonic()
    paths_file = root / "paths.txt"
    if paths_file.exists() and len(paths_file.read_text().splitlines()) == args.subscribers:
        pass  # the publication of an earlier run, with as many subscribers: reused
    else:
        paths = make_publication(root, args.subscribers)
        paths_file.write_text("\n".join(paths) + "\n", encoding="ascii")
    script = Path(tempfile.mkdtemp()) / "one-click.lua"
    script.write_text(LUA % {"paths": paths_file, "threads": min(2, args.connections)},
                      encoding="utf-8")
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    client = ("one httpx client, back to back" if args.client == "httpx" else
              f"wrk -t{min(2, args.connections)} -c{args.connections}")
    print(f"{args.subscribers} subscribers ready in {time.monotonic() - started:.1f} s; "
          f"{client} for {args.duration} s, one-click POSTs; load average {load}", flush=True)
    print(f"{'round':>5} {'variant':<9} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'max ms':>7} {'errors':>6} {'200s':>7} {'in ledger':>9}")
    for n in range(1, args.rounds + 1):
        for variant in args.variants:
            reset(root / ".publisher" / "state.db")
            r = run(variant, root, script, args)
            errors = int(r["connect"] + r["read"] + r["write"] + r["timeout"] + r["non200"])
            ok = int(r["requests"]) - int(r["non200"])
            print(f"{n:>5} {variant:<9} {r['rate']:>8.0f} {r['p50']:>7.1f} {r['p99']:>7.1f} "
                  f"{r['max']:>7.1f} {errors:>6} {ok:>7} {int(r['recorded']):>9}", flush=True)
            # Requests in flight when wrk stops are served and recorded, but not counted by wrk:
            # at most one per connection.
            extra = int(r["recorded"]) - ok
            if ok <= args.subscribers and not 0 <= extra <= args.connections:
                print(f"  MISMATCH: {ok} answered 200 but {int(r['recorded'])} recorded")


if __name__ == "__main__":
    main()
