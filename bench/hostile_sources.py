"""Front matter that made loading quadratic: N lines of ``key: a: b`` (each one a value YAML
misreads), timed through the loader — in this checkout and, interleaved, in another one.

    python bench/hostile_sources.py                          # this checkout only
    git archive main publisher | tar -x -C /tmp/before       # the code before the fix, say
    python bench/hostile_sources.py --before /tmp/before --sizes 500 1000 2000 4000

Each measurement runs in a fresh interpreter with that tree first on sys.path, so both versions
are measured the same way and in turns (before, after, before, after, …). The figure is the time
``parse_source`` takes for one review file, best of ``--repeat``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent

CHILD = """
import json, sys, time
from pathlib import Path
from publisher.config import parse_config
from publisher.sources.schema import parse_source
config = parse_config('title = "T"\\nbase_url = "https://reel.test/"\\n', root=Path("."),
                      path=Path("publisher.toml"))
n, repeat = int(sys.argv[1]), int(sys.argv[2])
lines = "".join(f"k{i}: a: b\\n" for i in range(n))
text = f"---\\ntitle: x\\ndate: 2026-01-01\\nreviewer: R\\n{lines}---\\nBody.\\n"
assert Path(__import__("publisher").__file__).parent.parent == Path.cwd().resolve()
best = None
for _ in range(repeat):
    start = time.perf_counter()
    _review, problems, _warnings, _needs = parse_source(text, "reviews/x.md", config)
    took = time.perf_counter() - start
    best = took if best is None else min(best, took)
print(json.dumps({"seconds": best, "problems": len(problems)}))
"""


def measure(tree: Path, n: int, repeat: int) -> dict[str, float]:
    # From the tree's directory: "-c" puts the working directory first on sys.path.
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, "-c", CHILD, str(n), str(repeat)], env=env, cwd=tree,
                          capture_output=True, text=True, check=True, timeout=3600)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="another tree holding publisher/")
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 1000, 2000, 8000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    trees = [("before", args.before)] if args.before else []
    trees.append(("after", HERE))
    print(f"{'lines':>6}  " + "  ".join(f"{name:>20}" for name, _ in trees))
    for n in args.sizes:
        cells = []
        for _name, tree in trees:
            result = measure(tree, n, args.repeat)
            cells.append(f"{result['seconds']:8.3f} s ({int(result['problems']):>4} pr.)")
        print(f"{n:>6}  " + "  ".join(f"{cell:>20}" for cell in cells), flush=True)


if __name__ == "__main__":
    main()
