"""Time `publisher build` on synthetic publications: cold (no cache, empty public/) and warm
(nothing changed), through the library function and once through the CLI in a subprocess.

    python bench/build.py                      # N = 1,000 and 10,000
    python bench/build.py --sizes 500 --repeat 5 --profile

Publications are generated with bench/gen_reviews.py into bench/out/<N>/ (kept between runs;
regenerated when the review count differs). Targets (2-core machine): 10,000 reviews cold < 3 s,
warm < 0.5 s. ``--profile`` prints the top functions of one cold and one warm library build.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from gen_reviews import generate  # noqa: E402

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def ensure_publication(n: int, directory: Path) -> None:
    reviews = directory / "reviews"
    if reviews.is_dir() and sum(1 for _ in reviews.glob("*.md")) == n:
        return
    shutil.rmtree(directory, ignore_errors=True)
    generate(n, directory)


def make_cold(directory: Path) -> None:
    shutil.rmtree(directory / "public", ignore_errors=True)
    shutil.rmtree(directory / ".publisher", ignore_errors=True)


def time_library(directory: Path, *, cold: bool) -> tuple[float, object]:
    from publisher.config import load_config
    from publisher.pipeline.build import build_publication

    if cold:
        make_cold(directory)
    start = time.perf_counter()
    report = build_publication(load_config(directory=directory), now=NOW)
    return time.perf_counter() - start, report


def time_cli(directory: Path, *, cold: bool) -> float:
    if cold:
        make_cold(directory)
    command = [sys.executable, "-m", "publisher", "-C", str(directory), "--now", NOW.isoformat(),
               "build"]
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def profile(directory: Path, *, cold: bool, top: int) -> None:
    from publisher.config import load_config
    from publisher.pipeline.build import build_publication

    if cold:
        make_cold(directory)
    config = load_config(directory=directory)
    profiler = cProfile.Profile()
    profiler.enable()
    build_publication(config, now=NOW)
    profiler.disable()
    print(f"--- profile, {'cold' if cold else 'warm'} ---")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(top)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated review counts")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement")
    parser.add_argument("--out", type=Path, default=HERE / "out", help="where publications go")
    parser.add_argument("--profile", action="store_true", help="profile one cold, one warm build")
    args = parser.parse_args(argv)

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; "
          f"best (median) of {args.repeat} runs")
    print(f"{'N':>7} {'how':<10} {'cold s':>14} {'warm s':>14}  files (cold / warm)")
    for n in (int(s) for s in args.sizes.split(",")):
        directory = args.out / str(n)
        ensure_publication(n, directory)
        cold, warm = [], []
        for _ in range(args.repeat):
            seconds, report = time_library(directory, cold=True)
            cold.append(seconds)
            cold_files = len(report.written)  # type: ignore[attr-defined]
            seconds, report = time_library(directory, cold=False)
            warm.append(seconds)
            warm_files = len(report.written)  # type: ignore[attr-defined]
        print(f"{n:>7} {'library':<10} {fmt(cold):>14} {fmt(warm):>14}  "
              f"{cold_files} / {warm_files} written")
        cli_cold = time_cli(directory, cold=True)
        cli_warm = time_cli(directory, cold=False)
        print(f"{n:>7} {'CLI':<10} {cli_cold:>14.3f} {cli_warm:>14.3f}  (one run each, "
              "interpreter start-up included)")
        if args.profile:
            profile(directory, cold=True, top=30)
            profile(directory, cold=False, top=30)
    return 0


def fmt(values: list[float]) -> str:
    return f"{min(values):.3f} ({statistics.median(values):.3f})"


if __name__ == "__main__":
    sys.exit(main())
