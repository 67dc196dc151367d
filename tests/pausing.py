"""A ``publisher`` command in a subprocess, paused at a point the test names, so that a test
signals or kills it there rather than wherever a poll happened to catch it.

In the test::

    with Pause(tmp_path / "pause", "publisher.pipeline.output:Output.put", call=7) as pause:
        proc = pause.start("-C", str(root), "build", stdout=subprocess.PIPE)
        pause.wait(proc.pid)          # it is inside its 7th Output.put, before the real one
        proc.send_signal(signal.SIGKILL)

``start`` runs ``python -m tests.pausing DIRECTORY TARGET CALL ARGS...``: this module as a
program replaces TARGET (``module:attribute``, a function or a method of a class) with a
wrapper, then runs ``python -m publisher ARGS...`` in the same process. In every process, the
wrapper's CALL-th call writes ``held-<pid>`` in DIRECTORY and waits, before calling the real
TARGET, until ``release`` writes ``go`` there. Calls are counted per process: a worker forked
after the patch inherits it and counts its own calls from its first one.

The wait is a loop of short sleeps, which a Python signal handler interrupts: a SIGTERM handler
that raises (publisher's does) raises there, as it would anywhere in TARGET. A process held
for HOLD_LIMIT seconds gives up (an exception in the wrapper), so nothing waits forever; and
leaving the ``with`` block kills the command if it is still running, then releases whatever
is still held.
"""

from __future__ import annotations

import functools
import importlib
import os
import runpy
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
#: How long a held process waits for ``go`` before it gives up.
HOLD_LIMIT = 300.0


class Pause:
    """The test's side: start the command, wait until processes are held, release them."""

    def __init__(self, directory: Path, target: str, *, call: int) -> None:
        self.directory = directory
        self.target = target
        self.call = call
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *args: str, **popen: Any) -> subprocess.Popen[bytes]:
        """``python -m publisher ARGS`` with TARGET patched (``popen``: Popen's keywords)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        # This checkout first, whatever the working directory: its tests and its publisher.
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": str(REPO) + (os.pathsep + path if path else "")}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.pausing", str(self.directory), self.target,
             str(self.call), *args], env=env, **popen)
        return self.process

    def held(self) -> set[int]:
        """The processes waiting now (or killed while they waited)."""
        return {int(p.name.removeprefix("held-")) for p in self.directory.glob("held-*")}

    def wait(self, *pids: int, timeout: float = 120) -> None:
        """Until each of ``pids`` is held; fails at once if the command ends first."""
        assert self.process is not None, "start the command first"
        deadline = time.monotonic() + timeout
        while not set(pids) <= self.held():
            if self.process.poll() is not None:
                out, err = self.process.communicate()
                raise AssertionError(f"the command ended (status {self.process.returncode}) "
                                     f"before {self.target} was called {self.call} times in "
                                     f"processes {sorted(set(pids) - self.held())}: {out!r} "
                                     f"{err!r}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no call {self.call} of {self.target} in processes "
                                     f"{sorted(set(pids) - self.held())} within {timeout} s")
            time.sleep(0.005)

    def release(self) -> None:
        (self.directory / "go").touch()

    def __enter__(self) -> Pause:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()  # forked workers die with it (publisher.cores.die_with)
            self.process.wait()
            # Closed unread: a worker that outlived the command would hold them open.
            for pipe in (self.process.stdout, self.process.stderr):
                if pipe is not None:
                    pipe.close()
        self.release()  # and would go on and end rather than wait out HOLD_LIMIT


def _patch(directory: Path, target: str, call: int) -> None:
    module, _, attribute = target.partition(":")
    *path, name = attribute.split(".")
    owner: Any = importlib.import_module(module)
    for part in path:
        owner = getattr(owner, part)
    original = getattr(owner, name)
    calls: dict[int, int] = {}

    @functools.wraps(original)
    def held(*args: Any, **kwargs: Any) -> Any:
        pid = os.getpid()
        calls[pid] = calls.get(pid, 0) + 1
        if calls[pid] == call:
            (directory / f"held-{pid}").touch()
            deadline = time.monotonic() + HOLD_LIMIT
            while not (directory / "go").exists():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"held in {target} for {HOLD_LIMIT} s; never released")
                time.sleep(0.01)
        return original(*args, **kwargs)

    setattr(owner, name, held)


def main() -> None:
    directory, target, call, *args = sys.argv[1:]
    _patch(Path(directory), target, int(call))
    sys.argv[1:] = args
    runpy.run_module("publisher", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
