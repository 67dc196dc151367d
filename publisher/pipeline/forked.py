"""Work shared among forked processes: each child runs one share and sends back what it made.

A big build (a first one, a new template) spends nearly all its time rendering and writing
thousands of independent files; on a machine with several cores, children forked after the
plan is made each take a share, and the parent takes one too. A child inherits the whole plan
(nothing is pickled on the way in), writes its files itself and sends back, through a pipe,
only a small picklable result.

Failure is all or nothing, like the build itself: when a child fails, the parent raises the
child's error; when the parent's own share fails or the parent is stopped (a signal), it kills
the children and waits for them, so that whoever cleans up after it finds no process still writing.
"""

from __future__ import annotations

import os
import pickle
import signal
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from ..cores import die_with, end_children
from ..errors import PublisherError
from ..files import write_all


class WorkerLost(PublisherError):
    """A forked worker stopped without a result (killed: out of memory, say)."""


def run_forked(shares: Sequence[Callable[[], Any]], here: Callable[[], Any]) -> list[Any]:
    """Run each share in a forked child and ``here`` in this process meanwhile (one fork
    fewer, and what it computes stays here); the result of ``here``, then the shares' (a
    share no process can be forked for runs here too, after ``here``, and comes first).

    A PublisherError a share raises is raised here, as itself (or with its message, if it
    does not survive pickling); a bug in a share is a RuntimeError carrying its traceback; a
    child that dies without a result is a WorkerLost.
    """
    children: list[tuple[int, int]] = []  # (pid, read end of its pipe)
    inline: list[Callable[[], Any]] = []  # shares no process could be forked for
    parent = os.getpid()
    failed = True
    try:
        for share in shares:
            read, write = os.pipe()
            try:
                pid = os.fork()
            except OSError:  # no process to be had (a limit, no memory): done here instead
                os.close(read)
                os.close(write)
                inline.append(share)
                continue
            if pid == 0:  # the child: never returns
                os.close(read)
                die_with(parent)
                _child(share, write)
            os.close(write)
            children.append((pid, read))
        mine = [here(), *(share() for share in inline)]
        results = [_receive(pid, read) for pid, read in children]
        failed = False
    finally:
        end_children(children, kill=failed)
    failures = [r for r in results if r[0] != "ok"]
    if failures:
        raise _error(failures[0])
    return [*mine, *(value for _status, value in results)]


def _child(share: Callable[[], Any], write: int) -> None:
    code = 0
    try:
        try:
            message: tuple[str, Any] = ("ok", share())
        except PublisherError as exc:
            message = ("error", _portable(exc))
            code = 1
        except Exception:  # a bug: its traceback goes to the parent
            message = ("bug", traceback.format_exc())
            code = 1
        write_all(write, pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))
    except BaseException:  # a signal, a broken pipe: the parent sees no result
        code = 1
    finally:
        # No exit handlers, no flushing of the parent's buffers: they are the parent's.
        os._exit(code)


def _portable(exc: PublisherError) -> PublisherError:
    """``exc`` if it pickles back to the same message, else a PublisherError saying it."""
    try:
        copy = pickle.loads(pickle.dumps(exc))
        if type(copy) is type(exc) and str(copy) == str(exc):
            return exc
    except Exception:  # noqa: S110 - any failure to pickle: send the message instead
        pass
    return PublisherError(str(exc))


def _receive(pid: int, read: int) -> tuple[str, Any]:
    chunks = []
    while chunk := os.read(read, 1 << 20):
        chunks.append(chunk)
    if not chunks:
        _pid, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            how = f"was killed by {signal.Signals(os.WTERMSIG(status)).name}"
        else:
            how = f"exited with status {os.waitstatus_to_exitcode(status)}"
        return ("lost", f"a worker process {how} before it finished; nothing was changed; "
                        "run the command again")
    result: tuple[str, Any] = pickle.loads(b"".join(chunks))
    return result


def _error(failure: tuple[str, Any]) -> Exception:
    status, value = failure
    if status == "error":
        return value  # type: ignore[no-any-return]
    if status == "bug":  # shown as a bug is: with its traceback
        return RuntimeError(f"a worker process failed:\n{value}")
    return WorkerLost(value)
