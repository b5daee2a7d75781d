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

``serve(first, prepare, then, *args)`` is a child with two values on the
same terms (ahead.py: the tree's facts, then the C index's answers for
names known only later): ``receive`` takes its first, ``request`` sends it
the arguments of the second, ``result`` takes that and reaps it, and
``finish`` lets it go unasked.
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
    ask: int = -1  # a served child's: the write end of the pipe its request comes by (serve)
    served: bool = False  # its messages framed (serve): result() is its next one, then finish()


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
        from entrylint import ahead

        ahead.forget()  # (a child making the tree's facts is the parent's)
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


def result(h: Handle | None, tell: bool = True):
    """The child's value (its reads told to the recorders here, unless not
    ``tell``), or None."""
    if h is None:
        return None
    if h.served:
        try:
            return receive(h, tell)
        finally:
            finish(h)
    try:
        with os.fdopen(h.fd, "rb") as fh:
            data = fh.read()
    finally:
        _, status = os.waitpid(h.pid, 0)
    if status != 0 or not data:
        return None
    return _value(data, tell)


def _value(data: bytes, tell: bool):
    """A child's message: its value (its reads told to the recorders here,
    when ``tell``), or None: it failed, or the message was cut short."""
    from entrylint import cache

    try:
        how, value, deps = pickle.loads(data)
    except Exception:  # noqa: BLE001 - a message cut short: computed here
        return None
    if how != "ok":
        return None
    if deps is not None and tell:
        cache.depend(*deps)
    return value


def abandon(h: Handle | None) -> None:
    """The child's work is not wanted (the caller failed first): it is
    stopped and reaped, so no process is left behind."""
    if h is None:
        return
    if h.served:
        return finish(h, stop=True)
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


# -- a child that answers one request after its first value (serve) ---------
#
# Its messages are framed (8 bytes of length, then the pickle), as two
# come by one pipe; the request is one pickle, its pipe closed after it.


def serve(first, prepare, then, *args) -> Handle | None:
    """A child that sends ``first(*args)``, then runs ``prepare(*args)``
    (what its answer will need), then waits for one request -- the arguments of
    ``then``, sent by ``request`` -- and sends ``then(*request)``; with no
    request (``finish``), it ends.  What ``prepare`` and ``then`` read is
    sent with the answer (cache.recorded, when recording)."""
    if not available():
        return None
    from entrylint import cache

    r, w = os.pipe()
    rq, wq = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        for fd in (r, w, rq, wq):
            os.close(fd)
        return None
    if pid:
        os.close(w)
        os.close(rq)
        try:  # (the first value waits in the pipe, not in the child, till it is taken)
            import fcntl

            fcntl.fcntl(r, fcntl.F_SETPIPE_SZ, 1 << 20)
        except (ImportError, AttributeError, OSError):
            pass
        return Handle(pid, r, wq, served=True)
    code = 1
    try:
        os.close(r)
        os.close(wq)
        from entrylint import ahead

        ahead.forget()
        with os.fdopen(w, "wb") as out:
            _send(out, lambda: first(*args), cache)
            ready, got = _send(None, lambda: prepare(*args), cache)  # (its reads go with the answer)
            with os.fdopen(rq, "rb") as fh:
                data = fh.read()
            if data:  # (not prepared: the parent makes it, from a state not half made)
                ask = pickle.loads(data)
                _send(out, (lambda: then(*ask)) if ready else _unprepared, cache, got)
        code = 0
    finally:
        os._exit(code)


def _unprepared():
    raise RuntimeError("prepare() failed")


def _send(out, fn, cache, before=None) -> tuple[bool, tuple | None]:
    """``fn()`` computed (recorded when recording) and, with ``out``, sent
    framed: ("ok", value, reads) or ("failed", ...).  Returns whether it
    was made, and its reads."""
    try:
        if cache.recording():
            value, deps = cache.recorded(fn)
            if before is not None:  # the reads of prepare() too
                deps = ({**before[0], **deps[0]}, {**before[1], **deps[1]}, set(before[2]) | set(deps[2]))
        else:
            value, deps = fn(), None
        msg = ("ok", value, deps)
    except BaseException:  # noqa: BLE001 - the parent makes it again and says what went wrong
        msg, deps = ("failed", None, None), None
    if out is not None:
        data = pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
        out.write(len(data).to_bytes(8, "big") + data)
        out.flush()
    return msg[0] == "ok", deps


def receive(h: Handle | None, tell: bool = True):
    """A served child's next value (its reads told here, unless not
    ``tell``), or None: it failed, or ended without one."""
    if h is None:
        return None
    try:
        data = _read(h.fd, int.from_bytes(_read(h.fd, 8), "big"))
    except (OSError, EOFError):  # it ended without it
        return None
    return _value(data, tell)


def _read(fd: int, n: int) -> bytes:
    parts = []
    while n:
        b = os.read(fd, n)
        if not b:
            raise EOFError
        parts.append(b)
        n -= len(b)
    return b"".join(parts)


def request(h: Handle, *args) -> bool:
    """Send a served child its request; False when it cannot take it."""
    try:
        data = pickle.dumps(args, protocol=pickle.HIGHEST_PROTOCOL)
        with os.fdopen(h.ask, "wb") as fh:
            fh.write(data)
    except (OSError, pickle.PicklingError):
        return False
    finally:
        h.ask = -1
    return True


def finish(h: Handle | None, stop: bool = False) -> None:
    """A served child let go: no request (it ends, or with ``stop`` it is
    stopped: its prepare() writes nothing), its pipe closed, reaped."""
    if h is None:
        return
    if stop:
        import signal

        try:
            os.kill(h.pid, signal.SIGKILL)
        except OSError:
            pass
    for fd in (h.ask, h.fd):
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass
    h.ask = h.fd = -1
    try:
        os.waitpid(h.pid, 0)
    except OSError:
        pass
