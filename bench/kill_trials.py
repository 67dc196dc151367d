"""How many deliveries a signal leaves ambiguous when it kills `publisher issue send` mid-send.

    python bench/kill_trials.py [--publisher PATH] [--signals SIGKILL SIGTERM SIGINT]
                                [--trials 10] [--subscribers 2000] [--connections 4]
                                [--reply-delay 0.002] [--no-finish] [--seed N] [--json FILE]

Run it with a Python that has aiosmtpd installed (the sink needs it); the publisher under test is
driven through its command line only, so any version of it can be measured
(``--publisher``, default: the ``publisher`` beside this Python).

Each trial makes a fresh publication in a temporary directory (3 reviews, ``--subscribers``
imported from CSV, ``[delivery]`` pointing at a fresh SMTP sink on loopback), composes issue #1
and starts ``publisher issue send 1``. The sink, an aiosmtpd server in a separate process, logs
each message's recipients as soon as the message's data has arrived (so the log is what the
server *has*, whether or not the client lived to read the 250) and replies 250 after
``--reply-delay`` seconds. When the sink holds a random 20-60 % of the list, the trial sends the
signal, waits for the publisher to exit (one still running 120 s later is killed with SIGKILL and
reported as hung) and counts:

- ambiguous: deliveries the ledger leaves in ``sending`` (``publisher issue show 1``);
- received: copies in the sink, and duplicates (an address that got two);
- unconfirmed: addresses the sink has but the ledger does not mark sent — the ambiguous
  deliveries that did in fact go out, which ``resend-ambiguous`` would send twice.

With ``--finish`` (the default) it then runs ``publisher issue send 1`` again and checks that
nobody got two copies, that the ledger has nothing queued and every delivery but the ambiguous
ones sent, and that no more addresses lack their copy than there are ambiguous deliveries (the
CLI does not list every ambiguous address, so "every non-ambiguous subscriber got exactly one"
is checked by these counts).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP

NOW = "2026-11-20T09:02:00+00:00"  # after every review below
SECRET = "kill-trials-secret-of-at-least-32-bytes"
SETTLE = 0.5  # seconds for the sink to take in what the killed client had already written
WAIT_LIMIT = 120.0  # seconds for a command, for the send to reach its kill point, for it to exit

CONFIG = """\
title = "Test Reel"
description = "Reviews for tests."
base_url = "https://reel.test/"
language = "en"
author = "Ed Itor"
author_email = "editor@reel.test"
copyright = "© 2026 Test Reel"
timezone = "Europe/London"

[delivery]
transport = "smtp://127.0.0.1:{port}"
starttls = false
connections = {connections}
timeout = 10
"""

REVIEW = """\
---
title: "Film {n}"
date: 2026-11-{n:02d}
reviewer: Priya Raman
rating: 4
summary: "A film worth seeing, number {n}."
---
The body of review {n}, with *emphasis* and a [link](/about/).
"""


# --- the SMTP sink (runs in its own process) ---------------------------------------------------


class RecordingHandler:
    """aiosmtpd handler: append the message's recipients to ``log`` (flushed) when its data has
    arrived, then wait ``delay`` seconds before the 250."""

    def __init__(self, log: Any, delay: float) -> None:
        self.log = log
        self.delay = delay

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:  # noqa: N802
        self.log.write("".join(f"{address}\n" for address in envelope.rcpt_tos))
        self.log.flush()
        if self.delay:
            await asyncio.sleep(self.delay)
        return "250 2.0.0 OK: queued"


def serve_sink(log_path: Path, delay: float, ready: Any) -> None:
    """Serve SMTP on 127.0.0.1 and a free port, which is sent through ``ready``; runs until
    terminated."""

    async def serve() -> None:
        with log_path.open("a", encoding="utf-8") as log:
            handler = RecordingHandler(log, delay)
            server = await asyncio.get_running_loop().create_server(
                lambda: SMTP(handler, hostname="sink.test"), "127.0.0.1", 0)
            ready.send(server.sockets[0].getsockname()[1])
            await server.serve_forever()

    asyncio.run(serve())


def start_sink(log_path: Path, delay: float) -> tuple[multiprocessing.Process, int]:
    receiver, sender = multiprocessing.Pipe(duplex=False)
    process = multiprocessing.Process(target=serve_sink, args=(log_path, delay, sender),
                                      daemon=True)
    process.start()
    if not receiver.poll(10):
        process.terminate()
        raise SystemExit("the SMTP sink did not start")
    return process, receiver.recv()


def received(log_path: Path) -> Counter[str]:
    """Copies the sink holds, per address."""
    return Counter(line.lower() for line in log_path.read_text(encoding="utf-8").splitlines())


def duplicates(got: Counter[str]) -> int:
    """Addresses that received more than one copy."""
    return sum(1 for n in got.values() if n > 1)


def copies(log_path: Path) -> int:
    return log_path.read_bytes().count(b"\n")


# --- the publisher, through its CLI ------------------------------------------------------------


class Publication:
    """A fresh publication in ``root``, driven by the ``publisher`` executable."""

    def __init__(self, publisher: str, root: Path, env: dict[str, str]) -> None:
        self.publisher = publisher
        self.root = root
        self.env = env

    def command(self, *args: str) -> list[str]:
        return [self.publisher, *args]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run a command that must succeed."""
        done = subprocess.run(self.command(*args), cwd=self.root, env=self.env,
                              capture_output=True, text=True, timeout=WAIT_LIMIT)
        if done.returncode != 0:
            raise SystemExit(f"publisher {' '.join(args)} exited {done.returncode}:\n"
                             f"{done.stdout}{done.stderr}")
        return done

    def create(self, port: int, connections: int, subscribers: int) -> None:
        (self.root / "reviews").mkdir(parents=True)
        (self.root / "publisher.toml").write_text(
            CONFIG.format(port=port, connections=connections), encoding="utf-8")
        for n in (1, 2, 3):
            (self.root / "reviews" / f"film-{n}.md").write_text(REVIEW.format(n=n),
                                                                 encoding="utf-8")
        csv = self.root / "subscribers.csv"
        csv.write_text("email,name\n" + "".join(
            f"reader{i:05d}@example.net,Reader {i}\n" for i in range(subscribers)),
            encoding="utf-8")
        self.run("subscribers", "import", str(csv))
        self.run("issue", "new")

    def deliveries(self) -> dict[str, int]:
        """Issue #1's deliveries per status, from the "deliveries:" line of `issue show 1`."""
        out = self.run("issue", "show", "1").stdout
        line = next(line for line in out.splitlines() if line.startswith("deliveries:"))
        return {status: int(n) for n, status in re.findall(r"(\d+) ([a-z]+)", line)}

    def send(self) -> dict[str, Any]:
        """Run `issue send 1` to the end: its exit code and the last line of its stderr."""
        done = subprocess.run(self.command("issue", "send", "1"), cwd=self.root, env=self.env,
                              capture_output=True, text=True, timeout=WAIT_LIMIT * 5)
        return {"exit_code": done.returncode, "stderr": last_line(done.stderr)}


def last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


def exit_name(code: int | None) -> str:
    if code is None:
        return f"hung (SIGKILL after {WAIT_LIMIT:.0f} s)"
    return f"{code} ({signal.Signals(-code).name})" if code < 0 else str(code)


# --- one trial ---------------------------------------------------------------------------------


def trial(args: argparse.Namespace, sig: signal.Signals, target: int) -> dict[str, Any]:
    env = {**os.environ, "PUBLISHER_SECRET": SECRET, "PUBLISHER_NOW": NOW}
    with tempfile.TemporaryDirectory(prefix="kill-trials-") as tmp:
        root = Path(tmp)
        log_path = root / "sink.log"
        sink, port = start_sink(log_path, args.reply_delay)
        try:
            publication = Publication(args.publisher, root / "pub", env)
            publication.create(port, args.connections, args.subscribers)
            result = kill_send(publication, sig, target, log_path)
            time.sleep(SETTLE)
            counts = publication.deliveries()
            got = received(log_path)
            result.update(
                ledger=counts,
                ambiguous=counts.get("sending", 0),
                received=sum(got.values()),
                duplicates=duplicates(got),
                unconfirmed=len(got) - counts.get("sent", 0),
            )
            if args.finish:
                result["finish"] = finish(publication, log_path, args.subscribers,
                                          result["ambiguous"])
        finally:
            sink.terminate()
            sink.join()
    return result


def kill_send(publication: Publication, sig: signal.Signals, target: int,
              log_path: Path) -> dict[str, Any]:
    """Start `issue send 1`, signal it once the sink holds ``target`` copies, wait for it."""
    out_path, err_path = publication.root / "send.out", publication.root / "send.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        process = subprocess.Popen(publication.command("issue", "send", "1"),
                                   cwd=publication.root, env=publication.env,
                                   stdout=out, stderr=err)
    try:
        deadline = time.monotonic() + WAIT_LIMIT
        while copies(log_path) < target:
            if process.poll() is not None:
                raise SystemExit(f"issue send exited {process.returncode} before {target} "
                                 f"messages:\n{err_path.read_text(encoding='utf-8')}")
            if time.monotonic() > deadline:
                raise SystemExit(f"no {target} messages after {WAIT_LIMIT:.0f} s")
            time.sleep(0.002)
        at_signal = copies(log_path)
        process.send_signal(sig)
        try:
            process.wait(timeout=WAIT_LIMIT)
        except subprocess.TimeoutExpired:
            process.kill()  # reported as hung
            process.wait()
            code = None
        else:
            code = process.returncode
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return {"target": target, "at_signal": at_signal, "exit_code": code,
            "stderr": last_line(err_path.read_text(encoding="utf-8"))}


def finish(publication: Publication, log_path: Path, subscribers: int,
           ambiguous: int) -> dict[str, Any]:
    """Send issue #1 again and check the outcome (see the module docstring)."""
    result = publication.send()
    counts = publication.deliveries()
    got = received(log_path)
    doubled, missing = duplicates(got), subscribers - len(got)
    result.update(
        ledger=counts,
        duplicates=doubled,
        missing=missing,
        ok=(doubled == 0 and counts.get("queued", 0) == 0
            and counts.get("sending", 0) == ambiguous
            and counts.get("sent", 0) == subscribers - ambiguous
            and missing <= ambiguous),
    )
    return result


# --- reporting ---------------------------------------------------------------------------------


def trial_line(sig: signal.Signals, number: int, trials: int, r: dict[str, Any]) -> str:
    line = (f"{sig.name:<7} {number:>2}/{trials}: signal at {r['at_signal']} copies "
            f"(target {r['target']}), exit {exit_name(r['exit_code'])}, "
            f"ambiguous {r['ambiguous']}, received {r['received']}, "
            f"duplicates {r['duplicates']}, unconfirmed {r['unconfirmed']}")
    if "finish" in r:
        f = r["finish"]
        line += (f"; finish: exit {f['exit_code']}, duplicates {f['duplicates']}, "
                 f"missing {f['missing']}, {'ok' if f['ok'] else 'FAILED'}")
    return line + (f"; stderr: {r['stderr']}" if r["stderr"] else "")


def summary_line(sig: signal.Signals, results: list[dict[str, Any]]) -> str:
    ambiguous = [r["ambiguous"] for r in results]
    codes = Counter(exit_name(r["exit_code"]) for r in results)
    line = (f"{sig.name}: {len(results)} trials; ambiguous min {min(ambiguous)}, "
            f"median {statistics.median(ambiguous):g}, max {max(ambiguous)}; "
            f"duplicates {sum(r['duplicates'] for r in results)}; "
            f"unconfirmed {sum(r['unconfirmed'] for r in results)}; exit codes "
            + ", ".join(f"{code} x{n}" for code, n in codes.items()))
    finished = [r["finish"] for r in results if "finish" in r]
    if finished:
        line += (f"; finish ok {sum(f['ok'] for f in finished)}/{len(finished)}, "
                 f"duplicates {sum(f['duplicates'] for f in finished)}")
    return line


def parse_signal(name: str) -> signal.Signals:
    name = name.upper()
    try:
        return signal.Signals[name if name.startswith("SIG") else f"SIG{name}"]
    except KeyError:
        raise argparse.ArgumentTypeError(f"unknown signal {name!r}") from None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--publisher", default=str(Path(sys.executable).parent / "publisher"),
                        help="the publisher executable (default: %(default)s)")
    parser.add_argument("--signals", type=parse_signal, nargs="+",
                        default=[signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
    parser.add_argument("--trials", type=int, default=10, help="trials per signal")
    parser.add_argument("--subscribers", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--reply-delay", type=float, default=0.002, metavar="SECONDS",
                        help="how long the sink waits before each 250")
    parser.add_argument("--finish", action=argparse.BooleanOptionalAction, default=True,
                        help="send again after each kill and check nobody got two copies")
    parser.add_argument("--seed", type=int, help="seed for the kill points")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the raw results here")
    args = parser.parse_args()

    # A shell starts background jobs with SIGINT ignored, and children inherit that; undo it so
    # that SIGINT interrupts the publisher as Ctrl-C would.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)

    rng = random.Random(args.seed)
    low, high = round(args.subscribers * 0.2), round(args.subscribers * 0.6)
    print(f"publisher: {args.publisher}; {args.subscribers} subscribers, {args.connections} "
          f"connection(s), reply delay {args.reply_delay} s", flush=True)
    results: dict[str, list[dict[str, Any]]] = {}
    for sig in args.signals:
        runs = results.setdefault(sig.name, [])
        for number in range(1, args.trials + 1):
            runs.append(trial(args, sig, rng.randint(low, high)))
            print(trial_line(sig, number, args.trials, runs[-1]), flush=True)
    print()
    for sig in args.signals:
        print(summary_line(sig, results[sig.name]))
    if args.json:
        settings = {k: v for k, v in vars(args).items() if k not in ("signals", "json")}
        args.json.write_text(json.dumps({"settings": settings, "results": results}, indent=2)
                             + "\n", encoding="utf-8")
    finished = [r["finish"]["ok"] for runs in results.values() for r in runs if "finish" in r]
    return 0 if all(finished) else 1


if __name__ == "__main__":
    sys.exit(main())
