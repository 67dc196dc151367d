"""Time each stage of a build per review, in one process: what a whole build's figure is made of.

    python bench/stages.py                                      # 10,000 reviews, this checkout
    python bench/stages.py --impl before=/tmp/base/.venv/bin/python --impl after=.venv/bin/python

A whole build on this machine varies by 5-10 % from run to run, more than most single changes
to one stage save; timed alone, over every review of the corpus, a stage varies by 1-3 %. Each
``--impl`` runs in its own process (``--child``), round after round (interleaved), and the table
gives the median of the rounds in microseconds a review.

Stages, each over every published review: *parse* (read, hash and parse the source, as a load
does in its workers), *body* (the Markdown rendered and sanitised), *card*, *feed entry* (the
review made ready for all feed formats), *rss*, *atom*, *json* (its entry in each), *page* (its
page through the templates), *item* (its entry in the index pages). Writing files is left out:
``bench/build.py`` measures whole builds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from build import NOW, ensure_corpus  # noqa: E402

STAGES = ("parse", "body", "card", "feed entry", "rss", "atom", "json", "page", "item")


def child(directory: Path) -> dict[str, float]:
    """Microseconds a review for each stage, timed in this process."""
    import gc
    import hashlib

    from publisher.config import load_config
    from publisher.files import read_file
    from publisher.pipeline.plan import Planner
    from publisher.render.site import Site
    from publisher.sources.catalog import _source_files, load_reviews
    from publisher.sources.posters import PosterFacts
    from publisher.sources.schema import parse_bytes

    config = load_config(directory / "publisher.toml")
    catalog = load_reviews(config, cache=False)
    gc.disable()  # as a build renders
    site = Site.from_config(config)
    planner = Planner(config, site, catalog, [], PosterFacts(config, cache=False), NOW)
    reviews = planner.published
    files, *_ = _source_files(config)

    def parse(pair: tuple[str, str]) -> object:
        rel, path = pair
        data = read_file(path)
        return parse_bytes(data, rel, config, file=(path, hashlib.sha256(data).hexdigest()))

    feeds, pages = planner.feeds, planner.pages
    steps = [
        ("parse", files, parse),
        ("body", reviews, lambda r: r.body_html and r.summary),
        ("card", reviews, pages.card),
        ("feed entry", reviews, feeds.entry),
        ("rss", reviews, lambda r: feeds.entry(r).piece("rss")),
        ("atom", reviews, lambda r: feeds.entry(r).piece("atom")),
        ("json", reviews, lambda r: feeds.entry(r).piece("json")),
        ("page", reviews, lambda r: pages.review_page(r, None, None)),
        ("item", reviews, pages.item),
    ]
    timings = {}
    for name, things, step in steps:
        start = time.perf_counter()
        for thing in things:
            step(thing)
        timings[name] = (time.perf_counter() - start) / len(things) * 1e6
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=10_000, help="reviews in the corpus")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of each implementation")
    parser.add_argument("--impl", action="append", default=[], metavar="NAME=PYTHON")
    parser.add_argument("--out", type=Path, default=HERE / "out", help="where corpora go")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return
    corpus = ensure_corpus(args.size, args.out)
    impls = [spec.partition("=") for spec in args.impl or [f"this={sys.executable}"]]
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in impls}
    for _ in range(args.repeat):
        for name, _, python in impls:
            done = subprocess.run([python or sys.executable, __file__, "--child", str(corpus)],
                                  capture_output=True, text=True, check=True)
            rounds[name].append(json.loads(done.stdout))
    print(f"{args.size:,} reviews, median of {args.repeat} interleaved rounds, µs a review")
    names = list(rounds)
    print(f"{'stage':12s}" + "".join(f"{n:>12s}" for n in names))
    totals = dict.fromkeys(names, 0.0)
    for stage in STAGES:
        cells = []
        for n in names:
            value = statistics.median(r[stage] for r in rounds[n])
            totals[n] += value
            cells.append(f"{value:12.1f}")
        print(f"{stage:12s}" + "".join(cells))
    print(f"{'sum':12s}" + "".join(f"{totals[n]:12.1f}" for n in names))


if __name__ == "__main__":
    main()
