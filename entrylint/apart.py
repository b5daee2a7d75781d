"""Work done in a process apart, on the second core, while this one goes on
(api.check: the profiles of one file, when the command line checks a
single file and the cores would otherwise sit idle).

``start(fn, *args)`` forks; the child computes ``fn(*args)`` and sends the
value back through a pipe, with what computing it read when this process
is recording for the results cache (cache.recorded: the texts, stats and
facts it depended on), and ends without running exit hooks (the child's
own memos, the decoder's table, the C index's answers, are not written;
they are caches, and the parent's are).  ``result(handle)`` waits for it:
the value, the reads told to this process's recorders as if it had read
them (cache.depend), or ``None`` when the child could not give one -- an
exception, a signal, no fork on this system.  The caller then computes
the value itself, so a failure in the child surfaces as it would have in
one process, with its message and its exit code.
"""

from __future__ import annotations

import os
import pickle
import sys
from dataclasses import dataclass


@dataclass
class Handle:
    pid: int
    fd: int  # the read end of the child's pipe


def available() -> bool:
    """A fork here is cheap and safe: Linux (no thread of ours runs in a
    check; macOS forbids fork after some of its libraries start)."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


def start(fn, *args) -> Handle | None:
    """``fn(*args)`` begun in a child process; None when none could be made."""
    if not available():
        return None
    from entrylint import cache

    r, w = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(r)
        os.close(w)
        return None
    if pid:
        os.close(w)
        return Handle(pid, r)
    # the child: never returns into the caller's code
    code = 1
    try:
        os.close(r)
        try:
            if cache.recording():
                value, deps = cache.recorded(fn, *args)
            else:
                value, deps = fn(*args), None
            data = pickle.dumps(("ok", value, deps), protocol=pickle.HIGHEST_PROTOCOL)
            code = 0
        except BaseException:  # noqa: BLE001 - the parent computes it again and says what went wrong
            data = pickle.dumps(("failed", None, None))
        with os.fdopen(w, "wb") as fh:
            fh.write(data)
    finally:
        os._exit(code)


def result(h: Handle | None):
    """The child's value (its reads told to the recorders here), or None."""
    if h is None:
        return None
    from entrylint import cache

    try:
        with os.fdopen(h.fd, "rb") as fh:
            data = fh.read()
    finally:
        _, status = os.waitpid(h.pid, 0)
    if status != 0 or not data:
        return None
    try:
        how, value, deps = pickle.loads(data)
    except Exception:  # noqa: BLE001 - a message cut short: computed here
        return None
    if how != "ok":
        return None
    if deps is not None:
        cache.depend(*deps)
    return value


def abandon(h: Handle | None) -> None:
    """The child's work is not wanted (the caller failed first): it is
    stopped and reaped, so no process is left behind."""
    if h is None:
        return
    import signal

    try:
        os.kill(h.pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        os.close(h.fd)
    except OSError:
        pass
    try:
        os.waitpid(h.pid, 0)
    except OSError:
        pass
