"""A function-like macro's expansion taken again where it is invoked the same way.

The crypto files of arch/x86 expand a round macro per round, and each round
invokes the same few macros with the same arguments (6.12's
cast6-avx-x86_64-asm_64.S: 2395 invocations, 310 different): the second
time, the expander would make the same tokens again.  ``Expander._enter``
records, for an invocation whose expansion ends where its macro's output
ends, the tokens that expansion handed on (``Recording``); the next
invocation with the same key is answered by those tokens, stamped at its
own place, in a context whose tokens are not looked at again (they were
the expansion's last word).

**The key** is what the expansion reads of the invocation: the macro (the
same object: a ``#define`` again is another), the chain of macros the
invocation's output is stamped with (``Expander._origin``), how many
contexts are open (the nesting limit counts them), and each argument
token's kind, spelling, white space, paint (``noexp``) and chain (a padding
marker's: the white space it carries).  Every token the
expansion hands on is stamped at the place of the outermost invocation of
the line (checked when it is recorded): it is stamped at the new one's.

**A recording is used** only where it still holds: every name the
expansion looked up (the arguments' pre-expansion and the rescan, nested
expansions included) is the same macro (or none) in the table now, and the
names among them the outer contexts disable are the same (a disabled name
is painted, not expanded); the expansion budget holds what it spent.  It hands on what the expansion would: its count of
expansions, its deepest nesting, and the names it looked up (the line's and
the header's memos of what a reading depends on).

**It is not recorded** when the expansion read past its own output (a
function-like name at its end that looked at what follows for a ``(``),
entered a built-in macro (``__LINE__``, ``__COUNTER__``...), reported an
error, or ran in a directive (``#if``, a computed ``#include``).
"""

from __future__ import annotations

from entrylint.cpp.lexer import PAD

ENABLED = True  # (the tests compare with a run that records nothing)
MAX_TOKENS = 200_000  # tokens the recordings of one preprocessor run may hold (past it: emptied; 6.12: 116k at most, cast5)
MAX_SEEN = 50_000  # keys of invocations met once kept (past it: forgotten)


class Recording:
    __slots__ = ("key", "loc", "count0", "base", "deep", "l0", "d0", "pure", "out", "start")

    def __init__(self, key, loc, exp):
        self.key, self.loc = key, loc
        self.count0 = exp.count  # (after the invocation's own count)
        self.base = len(exp.stack)
        self.deep = -1  # the deepest nesting a nested invocation met (-1: none)
        self.l0 = len(exp.looked)
        self.d0 = exp.disabled.copy()
        self.pure = True
        self.out = None  # the list the expansion is handed on to, and where in it
        self.start = 0


class Taken:
    """What a recorded expansion handed on and read."""

    __slots__ = ("tokens", "reads", "disabled", "count", "deep")

    def __init__(self, tokens, reads, disabled, count, deep):
        self.tokens, self.reads, self.disabled = tokens, reads, disabled  # reads: (name, macro or None)
        self.count, self.deep = count, deep


def key(m, chain: tuple, args: list, depth: int) -> tuple:
    sig = []
    for arg in args:
        for t in arg:
            if t.kind == PAD:
                s = t.src
                sig.append((PAD, s is None, s is not None and s.ws))
            else:
                sig.append((t.kind, t.text, t.ws, t.noexp, t.pl, t.chain, t.src))
        sig.append(None)  # (between arguments)
    return (m, chain, depth, tuple(sig))  # (the macro itself: it is kept alive, its id not reused)


def start(exp, k: tuple, loc) -> Recording:
    """A recording of the invocation being entered (before its arguments are expanded)."""
    if exp.looked is None:
        exp.looked = []
        exp._own_looked = True
    rec = Recording(k, loc, exp)
    exp._open.append(rec)
    return rec


def entered(exp, nested_depth: int) -> None:
    """A nested invocation met ``nested_depth`` contexts (the innermost recording's deepest)."""
    rec = exp._open[-1]
    if nested_depth > rec.deep + rec.base:
        rec.deep = nested_depth - rec.base


def impure(exp) -> None:
    for rec in exp._open:
        rec.pure = False


def handed(exp, ended: bool, out: list) -> None:
    """``get()`` gave ``drain`` a token (before it is appended to ``out``;
    ``ended``: the marker a context's end gives): a recording begins after
    the marker of its invocation, and ends at the one its context's end
    gives."""
    rec = exp._started
    if rec is not None:
        exp._started = None
        rec.out, rec.start = out, len(out) + 1
    closing = exp._closing
    if closing:
        exp._closing = []
        rec = closing[0]
        clean = ended and len(closing) == 1 and exp._open and exp._open[-1] is rec and rec.out is out
        if clean:
            exp._open.pop()
            if rec.pure:
                _keep(exp, rec, out[rec.start:])
            if exp._open and rec.deep >= 0:  # the recording around it met that nesting too
                outer = exp._open[-1]
                if rec.base + rec.deep > outer.base + outer.deep:
                    outer.deep = rec.base + rec.deep - outer.base
        else:
            for r in closing:
                drop(exp, r)
    _release(exp)


def drop(exp, rec: Recording) -> None:
    """``rec`` and the recordings inside it end unkept (the one around
    them still met the nesting they met)."""
    for i, r in enumerate(exp._open):
        if r is rec:
            deepest = max((x.base + x.deep for x in exp._open[i:] if x.deep >= 0), default=-1)
            del exp._open[i:]
            if exp._open and deepest >= 0:
                entered(exp, deepest)
            break
    _release(exp)


def _release(exp) -> None:
    """No recording open: the expander's list of names looked up goes, if
    it was there for the recordings only (``start``)."""
    if not exp._open and exp._own_looked:
        exp.looked = None
        exp._own_looked = False


def drained(exp, out: list) -> None:
    """``drain`` into ``out`` is over: a recording still open there read past it."""
    for r in exp._open:
        if r.out is out:
            drop(exp, r)
            return


def _keep(exp, rec: Recording, tokens: list) -> None:
    if any(t.kind != PAD and t.loc != rec.loc for t in tokens):
        return  # (a token not stamped where the invocation is: not one to stamp elsewhere)
    macros = exp.macros
    reads = tuple((n, macros.get(n)) for n in dict.fromkeys(exp.looked[rec.l0:]))
    d0 = rec.d0
    disabled = frozenset(n for n, m in reads if m is not None and n in d0)
    memo = exp.memo
    exp.memo_tokens += len(tokens)
    if exp.memo_tokens > MAX_TOKENS:
        memo.clear()
        exp.seen.clear()
        exp.memo_tokens = len(tokens)
    memo[rec.key] = Taken(tokens, reads, disabled, exp.count - rec.count0, rec.deep)


def taken(exp, got: Taken, loc) -> list | None:
    """The tokens of a recorded expansion stamped at ``loc``, its count,
    nesting and names handed on; None where it does not hold here."""
    if exp.count + got.count > exp.limit:
        return None
    depth = len(exp.stack) + got.deep if got.deep >= 0 else -1  # (the key's depth: within the limit)
    macros = exp.macros
    disabled = exp.disabled
    for n, m in got.reads:
        if macros.get(n) is not m or (m is not None and (n in disabled) != (n in got.disabled)):
            return None
    exp.count += got.count
    if depth > exp.deepest:
        exp.deepest = depth
    if exp._open and depth >= 0:
        entered(exp, depth)
    if exp.looked is not None:
        exp.looked += [n for n, _ in got.reads]
    if exp.noted is not None:
        exp.noted.update(n for n, _ in got.reads)
    return [t if t.kind == PAD else t.at(loc, t.chain) for t in got.tokens]
