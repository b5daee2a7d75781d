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
``finish`` lets it go unasked.  ``start`` is such a child with its first
value only.  Every message is framed (8 bytes of length, then the pickle),
and a child closes what it inherited of the other children's pipes, so
none waits on a pipe another process still holds open.

A process with threads of its own (the language server) must not fork:
``start_forker()``, called before any thread starts, forks one process that
does nothing but fork the children ``serve`` asks for afterwards (their
pipes passed to it over a socket); it ends when this process does.
"""

from __future__ import annotations

import os
import pickle
import sys
import threading

from entrylint.source.record import data


@data(eq=False)
class Handle:
    pid: int
    fd: int  # the read end of the pipe its values come by
    ask: int = -1  # the write end of the pipe its request comes by (serve; -1: none, or sent)
    ours: bool = True  # forked here, and reaped here (else the forker's child, reaped there)


_open: list[Handle] = []  # the children not yet reaped (finish)
_forker = None  # (socket.socket) to the process that forks the children, once started
_forker_pid = 0
_forker_seq = 0  # requests sent to it: its answer names the one it answers
_forker_lock = threading.Lock()


def available() -> bool:
    """A fork here is cheap and safe: Linux (no thread of ours runs in a
    check; macOS forbids fork after some of its libraries start)."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


def start(fn, *args) -> Handle | None:
    """``fn(*args)`` begun in a child process; None when none could be made."""
    return serve(fn, None, None, *args)


def serve(first, prepare, then, *args) -> Handle | None:
    """A child that sends ``first(*args)``, then runs ``prepare(*args)``
    (what its answer will need), then waits for one request -- the arguments of
    ``then``, sent by ``request`` -- and sends ``then(*request)``; with no
    request (``finish``), it ends.  What ``prepare`` and ``then`` read is
    sent with the answer (cache.recorded, when recording).  Without
    ``then``, it ends after its first value (``start``)."""
    if _forker is None and not available():
        return None
    r, w = os.pipe()
    rq, wq = os.pipe() if then is not None else (-1, -1)
    if _forker is not None:
        pid = _by_forker((first, prepare, then, args), [w] + ([rq] if rq >= 0 else []))
    else:
        try:
            pid = os.fork()
        except OSError:
            pid = -1
        if pid == 0:  # the child: never returns into the caller's code
            try:
                os.close(r)
                if wq >= 0:
                    os.close(wq)
                for other in _open:  # (the other children's pipes: theirs and the parent's)
                    for fd in (other.fd, other.ask):
                        if fd >= 0:
                            os.close(fd)
                _open.clear()
            finally:
                _child(first, prepare, then, args, w, rq)
    for fd in (w, rq):  # (the child's ends)
        if fd >= 0:
            os.close(fd)
    if pid < 0:
        os.close(r)
        if wq >= 0:
            os.close(wq)
        return None
    try:  # (a value waits in the pipe, not in the child, till it is taken)
        import fcntl

        fcntl.fcntl(r, fcntl.F_SETPIPE_SZ, 1 << 20)
    except (ImportError, AttributeError, OSError):
        pass
    h = Handle(pid, r, wq, ours=_forker is None)
    _open.append(h)
    return h


def _child(first, prepare, then, args, w: int, rq: int) -> None:
    """(In the child.)  ``serve``'s child, on its ends of the pipes: it
    never returns."""
    from entrylint import cache

    code = 1
    try:
        from entrylint import ahead

        ahead.forget()  # (a child making the tree's facts is the parent's)
        with os.fdopen(w, "wb") as out:
            _send(out, lambda: first(*args), cache)
            if then is not None:
                ready, got = _send(None, lambda: prepare(*args), cache)  # (its reads go with the answer)
                try:
                    ask = pickle.loads(_framed(rq))
                except EOFError:
                    ask = None  # let go unasked
                if ask is not None:  # (not prepared: the parent makes it, from a state not half made)
                    _send(out, (lambda: (got and cache.depend(*got), then(*ask))[1]) if ready else _unprepared,
                          cache)
        code = 0
    finally:
        os._exit(code)


def _unprepared():
    raise RuntimeError("prepare() failed")


# -- the forker: children for a process with threads -----------------------------

def start_forker(preload: tuple[str, ...] = ()) -> bool:
    """Fork the process that forks ``serve``'s children from now on (to be
    called before this process starts a thread); it imports ``preload``
    first, so its children start with them.  False when there is none."""
    global _forker, _forker_pid
    if _forker is not None or not available():
        return _forker is not None
    import socket

    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        pid = os.fork()
    except OSError:
        a.close()
        b.close()
        return False
    if pid:
        b.close()
        _forker, _forker_pid = a, pid
        return True
    code = 1
    try:
        a.close()
        _forker_main(b, preload)
        code = 0
    finally:
        os._exit(code)


def forker_running() -> bool:
    return _forker is not None


def stop_forker() -> None:
    """Let the forker go (it ends with its socket) and reap it."""
    global _forker, _forker_pid
    if _forker is None:
        return
    sock, pid, _forker, _forker_pid = _forker, _forker_pid, None, 0
    sock.close()
    try:
        os.waitpid(pid, 0)
    except OSError:
        pass


def _forker_main(sock, preload) -> None:
    """(In the forker.)  Fork a child for each request until this
    process's parent closes the socket: a request is its number (8 bytes,
    with the child's ends of its pipes), then the pickled (first, prepare,
    then, args) of ``serve``, framed."""
    import importlib
    import signal
    import socket

    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # (the parent's stdin and stdout are a protocol; its end of file is theirs)
        os.dup2(devnull, fd)
    os.close(devnull)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # (the children are reaped by the kernel)
    for name in preload:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a child imports it then, or fails as it would have
            pass
    while True:
        seq, fds, _flags, _addr = socket.recv_fds(sock, 8, 2)  # (the fds come with the request's number)
        try:
            if not seq:
                raise EOFError
            seq += _read(sock.fileno(), 8 - len(seq)) if len(seq) < 8 else b""
            data = _framed(sock.fileno())
        except EOFError:
            return
        try:
            first, prepare, then, args = pickle.loads(data)
            pid = os.fork()
        except Exception:  # noqa: BLE001 - no child: the parent makes it
            pid = -1
        if pid == 0:
            sock.close()
            _child(first, prepare, then, args, fds[0], fds[1] if len(fds) > 1 else -1)
        for fd in fds:
            os.close(fd)
        sock.sendall(seq + pid.to_bytes(8, "big", signed=True))


def _by_forker(request: tuple, fds: list[int]) -> int:
    """The forker's child for ``request`` (``serve``'s arguments), on
    ``fds``: its pid, or -1."""
    import socket

    try:
        data = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 - not to be sent: made here
        return -1
    if len(data) > 1 << 20:  # (a bound method of a large object, say: sending it costs more than it saves)
        return -1
    global _forker_seq
    with _forker_lock:
        _forker_seq += 1
        seq = _forker_seq.to_bytes(8, "big")
        try:
            sent = socket.send_fds(_forker, [seq], fds)
            _forker.sendall(seq[sent:] + _frame(data))  # (a stream socket takes what its buffer holds)
            while True:  # (the answers of requests whose sender was interrupted first are passed over)
                got = _read(_forker.fileno(), 16)
                if got[:8] == seq:
                    return int.from_bytes(got[8:], "big", signed=True)
        except (OSError, EOFError):
            return -1


def _send(out, fn, cache) -> tuple[bool, tuple | None]:
    """(In the child.)  ``fn()`` computed (recorded when recording) and, with
    ``out``, sent framed: ("ok", value, reads) or ("failed", ...).  Returns
    whether it was made, and its reads."""
    try:
        value, deps = cache.recorded(fn) if cache.recording() else (fn(), None)
        msg = ("ok", value, deps)
    except BaseException:  # noqa: BLE001 - the parent makes it again and says what went wrong
        msg, deps = ("failed", None, None), None
    if out is not None:
        _write(out, msg)
    return msg[0] == "ok", deps


def _frame(data: bytes) -> bytes:
    """A message as sent: 8 bytes of length, then ``data`` (``_framed`` reads it)."""
    return len(data).to_bytes(8, "big") + data


def _framed(fd: int) -> bytes:
    """The next message on ``fd`` (``_frame``); EOFError at its end."""
    return _read(fd, int.from_bytes(_read(fd, 8), "big"))


def _write(fh, obj) -> None:
    fh.write(_frame(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)))
    fh.flush()


def _read(fd: int, n: int) -> bytes:
    parts = []
    while n:
        b = os.read(fd, n)
        if not b:
            raise EOFError
        parts.append(b)
        n -= len(b)
    return b"".join(parts)


_meanwhile: list = []  # work to do while a child's value is waited for (meanwhile)


def meanwhile(fn) -> None:
    """``fn()``: work this process does later in any case that asks
    nothing of a child, done while it waits for a child's value that has
    not come yet (``receive``); not done there, it is left to its caller
    (a call that fails there is made again by its caller: the failure is
    its).  On two cores the check of one file waits for the C index's
    answers when the other process is the later one, about half the time."""
    if fn not in _meanwhile:
        _meanwhile.append(fn)


def _fill(fd: int) -> None:
    """Run the work given to ``meanwhile`` while nothing is to be read on ``fd``."""
    import select

    ready = select.poll()  # (not select(): a descriptor past 1023, in a long-lived server, is refused there)
    ready.register(fd, select.POLLIN)
    while _meanwhile and not ready.poll(0):
        fn = _meanwhile.pop(0)
        try:
            fn()
        except Exception:  # noqa: BLE001 - made again, and failing there, by its caller
            pass


def receive(h: Handle | None, tell: bool = True):
    """A child's next value (the reads that made it told to this process's
    recorders as if it had read them, cache.depend, unless not ``tell``), or
    None: it failed, was killed, or ended without one."""
    if h is None:
        return None
    if _meanwhile:
        _fill(h.fd)
    try:
        data = _framed(h.fd)
    except (OSError, EOFError):
        return None
    from entrylint import cache

    try:
        how, value, deps = pickle.loads(data)
    except Exception:  # noqa: BLE001 - a message cut short: made here
        return None
    if how != "ok":
        return None
    if deps is not None and tell:
        cache.depend(*deps)
    return value


def result(h: Handle | None, tell: bool = True):
    """A child's (last) value, as ``receive``; the child is then reaped."""
    try:
        return receive(h, tell)
    finally:
        finish(h)


def request(h: Handle, *args) -> bool:
    """Send a served child its request; False when it cannot take it."""
    try:
        with os.fdopen(h.ask, "wb") as fh:
            _write(fh, args)
    except (OSError, pickle.PicklingError):
        return False
    finally:
        h.ask = -1
    return True


def abandon(h: Handle | None) -> None:
    """The child's work is not wanted (the caller failed first): it is
    stopped and reaped, so no process is left behind."""
    finish(h, stop=True)


def finish(h: Handle | None, stop: bool = False) -> None:
    """A child let go: no request (it ends, or with ``stop`` it is stopped),
    its pipes closed, reaped."""
    if h is None:
        return
    live = h in _open  # (a child reaped is not signalled: its pid may be another process's now)
    # (the forker's child is reaped there, as it ends: it is signalled only
    # while it waits for the request this process holds the pipe of)
    if stop and live and (h.ours or h.ask >= 0):
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
    if live:
        _open.remove(h)
        if h.ours:
            try:
                os.waitpid(h.pid, 0)
            except OSError:
                pass
