"""Macro definitions and the expansion algorithm.

The algorithm follows the one of GNU cpp (libcpp/macro.cc) so that the output
is the same token for token, including where white space goes:

* a stack of contexts; a macro is *disabled* while its context is on the
  stack, and a name of a disabled macro that is read is painted blue
  (``Tok.noexp``) for good;
* arguments are collected unexpanded, then fully expanded on their own before
  substitution unless the parameter is an operand of ``#`` or ``##``;
* padding markers (``PAD``) carry the white space of an invocation and ask the
  printer to avoid accidental pastes at expansion boundaries;
* ``##`` re-lexes the spelling of its operands; in assembler mode an invalid
  paste leaves both tokens (gcc does not complain either).

How tokens are spelled in a string (``#``) and kept apart when printed:
spelling.py.
"""

from __future__ import annotations

from typing import Callable

from entrylint.cpp import invocations
from entrylint.cpp.lexer import EOF, NAME, OP, PAD, Tok, lex_one
from entrylint.cpp.spelling import stringify
from entrylint.cpp.types import Condition
from entrylint.source import Location
from entrylint.source.record import record


@record
class MacroDef:
    """A ``#define`` as it stands.  ``params`` is None for an object-like
    macro; ``body`` is the replacement list as written (white space folded).
    (A record: a cold check of 6.12's entry_64.S makes 5.3k of them, one per
    ``#define`` of its headers.)"""

    name: str
    params: tuple[str, ...] | None
    variadic: bool
    body: str
    location: Location
    cond: Condition = ()


class Macro:
    """The compiled form of a MacroDef."""

    __slots__ = ("name", "params", "variadic", "body", "pidx", "defn", "builtin")

    def __init__(self, name, params, variadic, body, defn, builtin=None):
        self.name = name
        self.params = params  # tuple of names or None
        self.variadic = variadic
        self.body = body  # list[Tok]; params are NAME tokens found in pidx
        self.pidx = {p: i for i, p in enumerate(params)} if params else {}
        self.defn = defn
        self.builtin = builtin

    def same_as(self, other: "Macro") -> bool:
        if self.params != other.params or self.variadic != other.variadic:
            return False
        if len(self.body) != len(other.body):
            return False
        for i, (a, b) in enumerate(zip(self.body, other.body)):
            if a.text != b.text or a.pl != b.pl or (i and a.ws != b.ws):
                return False
        return True


def means_same(a: Macro | None, b: Macro | None) -> bool:
    """Whether two entries of a macro table (a Macro or None) mean the same
    to an expansion: the same object, or made from an equal ``#define`` (the
    same text at the same place) -- what the preprocessor's memos of a line
    and of a header (cpp/headermemo.py) ask of every name they looked up."""
    return a is b or (a is not None and b is not None and a.defn == b.defn and a.builtin == b.builtin)


class ExpansionLimit(Exception):
    """Raised inside the expander when a limit is hit; caught by the driver."""


def _pad(src):
    t = Tok(PAD, "")
    t.src = src
    return t


AVOID_PASTE = _pad(None)
_EOF_TOK = Tok(EOF, "")

class Context:
    # rec: the recording of the invocation this is the output of
    # (invocations.py); final: tokens an expansion handed on, not looked at again
    __slots__ = ("toks", "i", "macro", "rec", "final")

    def __init__(self, toks, macro, rec=None, final=False):
        self.toks = toks
        self.i = 0
        self.macro = macro
        self.rec = rec
        self.final = final


class Expander:
    """Expands the tokens of one logical line (and the lines an invocation
    spans) against a macro table.

    ``more()`` is called when an argument list runs past the end of the base
    tokens; it returns the tokens of the next text line or None.  ``peek()``
    says whether the next line starts with ``(`` (then ``more()`` is called),
    without consuming anything otherwise."""

    def __init__(self, macros: dict[str, Macro], limit: int,
                 on_error: Callable[[str, Tok | None], None],
                 builtins: Callable[[Macro, Tok, list[list[Tok]] | None], list[Tok]]):
        self.macros = macros
        self.limit = limit
        self.count = 0
        self.on_error = on_error
        self.builtin_expand = builtins
        self.stack: list[Context] = []
        self.disabled: dict[str, int] = {}
        self.base: list[Tok] = []
        self.bi = 0
        self.more: Callable[[], list[Tok] | None] | None = None
        self.peek: Callable[[], bool] | None = None
        self.in_directive = False
        self.prevent = 0
        self.site = None  # (loc, chain) of the outermost invocation in progress
        self.depth_limit = 200
        self.deepest = 0  # the deepest nesting seen (tools/limits_survey.py)
        self.exhausted = False  # set once the expansion limit was hit: expand nothing more
        # the names looked up in the table since start(record=True): what a
        # line's expansion read of it (the preprocessor's memo of a file's
        # lines); None: not recorded
        self.looked: list[str] | None = None
        self.noted: set | None = None  # every name looked up, while a header is recorded (cpp/headermemo.py)
        # expansions of invocations recorded and taken again (invocations.py)
        self.memo: dict[tuple, object] = {}
        self.seen: set[tuple] = set()  # the keys of the invocations met (recorded the second time)
        self.memo_tokens = 0
        self._open: list = []  # the recordings open, the innermost last
        self._started = None  # the one whose invocation's marker get() gives next
        self._closing: list = []  # those whose context ended since drain last looked
        self._own_looked = False  # looked is a list for the recordings' sake only

    # -- reading ---------------------------------------------------------
    def start(self, toks: list[Tok], more=None, peek=None, in_directive=False, record=False):
        self.stack.clear()
        self.disabled.clear()
        self.looked = [] if record else None
        self._open, self._started, self._closing, self._own_looked = [], None, [], False
        self.base = toks
        self.bi = 0
        self.more = more
        self.peek = peek
        self.in_directive = in_directive
        self.prevent = 0

    def _lex_base(self, crossing: bool) -> Tok:
        if self.bi < len(self.base):
            t = self.base[self.bi]
            self.bi += 1
            return t
        if crossing and self.more is not None:
            while True:
                nxt = self.more()
                if nxt is None:
                    return _EOF_TOK
                if nxt:
                    self.base = nxt
                    self.bi = 1
                    return nxt[0]
        return _EOF_TOK

    def _pop(self):
        ctx = self.stack.pop()
        m = ctx.macro
        if m is not None:
            n = self.disabled[m] - 1
            if n:
                self.disabled[m] = n
            else:
                del self.disabled[m]

    def get(self, crossing: bool = False) -> Tok:
        """cpp_get_token: the next token after macro expansion (PAD tokens
        included unless in a directive)."""
        stack = self.stack
        while True:
            if not stack:
                t = self._lex_base(crossing)
            else:
                ctx = stack[-1]
                if ctx.i < len(ctx.toks):
                    t = ctx.toks[ctx.i]
                    ctx.i += 1
                    if ctx.final:
                        return t
                    if t.pl:
                        self._paste_all(t)
                        if self.in_directive:
                            continue
                        return _pad(t)
                else:
                    self._pop()
                    if ctx.rec is not None:
                        self._closing.append(ctx.rec)
                    if self.in_directive:
                        continue
                    return AVOID_PASTE
            if t.kind != NAME or t.noexp:
                return t
            m = self.macros.get(t.text)
            if self.looked is not None:
                self.looked.append(t.text)
            if self.noted is not None:
                self.noted.add(t.text)
            if m is None:
                return t
            if t.text in self.disabled:
                t = t.copy()
                t.noexp = True
                return t
            if self.prevent or self.exhausted:
                return t
            if not stack:
                self.site = (t.loc, t.chain + (m.name,))
            r = self._enter(m, t)
            if r:
                if self.in_directive or r == 2:
                    continue
                return _pad(t)
            return t

    def drain(self, out: list) -> None:
        """get() until it gives the end, each token appended to ``out``.  A
        token that is no macro's name (looked up and noted as get() does)
        and, in a macro's output, pastes nothing, is handed over here as
        get() would hand it over, without a call of it (nine tokens in ten
        of a crypto file's expansion)."""
        stack = self.stack
        append = out.append
        get = self.get
        macros = self.macros
        while True:
            if stack:
                ctx = stack[-1]
                i, toks = ctx.i, ctx.toks
                t = toks[i] if i < len(toks) and not toks[i].pl else None
            else:
                ctx = None
                i, toks = self.bi, self.base
                t = toks[i] if i < len(toks) else None
            if t is not None and t.kind == NAME and not t.noexp:
                if macros.get(t.text) is None:
                    if self.looked is not None:
                        self.looked.append(t.text)
                    if self.noted is not None:
                        self.noted.add(t.text)
                else:
                    t = None  # a macro's name: get() reads it
            if t is None:
                t = get()
                if self._started is not None or self._closing:
                    invocations.handed(self, t is AVOID_PASTE, out)
            elif ctx is not None:
                ctx.i = i + 1
            else:
                self.bi = i + 1
            if t.kind == EOF:
                if self._open:
                    invocations.drained(self, out)
                return
            append(t)

    # -- invocation ------------------------------------------------------
    def _enter(self, m: Macro, name: Tok) -> int:
        self.count += 1
        if self.count > self.limit:
            self.exhausted = True
            raise ExpansionLimit("cpp-expansions", f"more than {self.limit} macro expansions")
        if len(self.stack) > self.deepest:
            self.deepest = len(self.stack)
        if len(self.stack) > self.depth_limit:
            raise ExpansionLimit("cpp-depth", f"macro expansion nested deeper than {self.depth_limit}")
        if self._open:
            invocations.entered(self, len(self.stack))
        args = None
        if m.params is not None:
            self.prevent += 1
            try:
                args = self._collect(m, name)
            finally:
                self.prevent -= 1
            if args is None:
                return 0
            if args is False:  # error already reported; the arguments are dropped
                return 0
        if m.builtin is not None:
            if self._open:
                invocations.impure(self)
            out = self.builtin_expand(m, name, args)
            self._push(self._stamp(out, name, m), None)
            return 1
        rec = None
        if m.params:
            if not self.in_directive and invocations.ENABLED:
                loc, chain = self._origin(name)
                k = invocations.key(m, chain, args, len(self.stack))
                got = self.memo.get(k)
                if got is not None:
                    toks = invocations.taken(self, got, loc)
                    if toks is not None:
                        self.stack.append(Context(toks, None, final=True))
                        return 1
                if k in self.seen:  # (met before: worth recording)
                    rec = invocations.start(self, k, loc)
                else:
                    if len(self.seen) >= invocations.MAX_SEEN:
                        self.seen.clear()
                    self.seen.add(k)
            toks = self._replace(m, name, args)
        else:
            toks = self._stamp(m.body, name, m)
        self._push(toks, m.name)
        if rec is not None:  # (its tokens begin after the marker get() gives next: invocations.handed)
            self.stack[-1].rec = self._started = rec
        return 1

    def _push(self, toks, macro_name):
        self.stack.append(Context(toks, macro_name))
        if macro_name is not None:
            self.disabled[macro_name] = self.disabled.get(macro_name, 0) + 1

    def _origin(self, name: Tok):
        if name.chain or not self.stack or self.site is None:
            return name.loc, name.chain
        return self.site[0], self.site[1][:1]

    def _stamp(self, body, name, m):
        loc, chain = self._origin(name)
        chain = chain + (m.name,)
        return [b.at(loc, chain) for b in body]

    def _next_nonpad(self, crossing):
        """Peek for '(' after a function-like macro name (funlike_invocation_p)."""
        pads = []
        while True:
            if not self.stack and self.bi >= len(self.base) and not self.in_directive:
                # At the end of the base line: look at the next line without consuming it.
                if self.peek is None or not self.peek():
                    return None, pads
                t = self.get(crossing=True)
            else:
                t = self.get(crossing=False)
            if t.kind == PAD:
                pads.append(t)
                continue
            return t, pads

    def _collect(self, m: Macro, name: Tok):
        tok, pads = self._next_nonpad(True)
        if tok is None or tok.kind != OP or tok.text != "(":
            if tok is not None and (tok.kind != EOF or self.stack):
                self._backup(tok)
            if pads:
                self.stack.append(Context([pads[-1]], None))
            return None
        nparams = len(m.params)
        args: list[list[Tok]] = []
        cur: list[Tok] = []
        depth = 0
        while True:
            t = self.get(crossing=not self.in_directive)
            k = t.kind
            if k == PAD:
                if cur:
                    cur.append(t)
                continue
            if k == EOF:
                if self._open:
                    invocations.impure(self)
                self.on_error(f'unterminated argument list invoking macro "{m.name}"', name)
                return False
            if k == OP:
                tx = t.text
                if tx == "(":
                    depth += 1
                elif tx == ")":
                    if depth == 0:
                        break
                    depth -= 1
                elif tx == "," and depth == 0 and not (m.variadic and len(args) == nparams - 1):
                    while cur and cur[-1].kind == PAD:
                        cur.pop()
                    args.append(cur)
                    cur = []
                    continue
            cur.append(t)
        while cur and cur[-1].kind == PAD:
            cur.pop()
        args.append(cur)
        if nparams == 0:
            if len(args) == 1 and not args[0]:
                return []
        elif len(args) == nparams:
            return args
        elif len(args) == nparams - 1 and m.variadic:
            args.append([])
            return args
        given = 0 if (len(args) == 1 and not args[0]) else len(args)
        if nparams == 1 and given == 0:
            return [[]]
        if self._open:
            invocations.impure(self)
        self.on_error(f'macro "{m.name}" passed {given} arguments, but takes {nparams}', name)
        return False

    def _backup(self, tok):
        """Push one token back so that it is read again next."""
        if not self.stack and self.bi > 0 and self.base[self.bi - 1] is tok:
            self.bi -= 1
        elif self.stack and self.stack[-1].i > 0 and self.stack[-1].toks[self.stack[-1].i - 1] is tok:
            self.stack[-1].i -= 1
        else:
            self.stack.append(Context([tok], None))

    def _expand_arg(self, arg: list[Tok]) -> list[Tok]:
        if not arg:
            return []
        macros = self.macros
        for t in arg:
            if t.pl or t.kind == NAME and not t.noexp and macros.get(t.text) is not None:
                break
        else:
            # no macro name and no paste in it (most arguments: registers,
            # numbers, a macro's own parameters already replaced): get()
            # would hand back each token as it is, looking each name up
            names = [t.text for t in arg if t.kind == NAME and not t.noexp]
            if self.looked is not None:
                self.looked += names
            if self.noted is not None:
                self.noted.update(names)
            return list(arg)
        self._push(list(arg) + [_EOF_TOK], None)
        depth = len(self.stack)
        out = []
        saved_prevent = self.prevent
        self.prevent = 0
        try:
            self.drain(out)
        finally:
            self.prevent = saved_prevent
        # The EOF marker ended the argument: drop its context.
        if len(self.stack) >= depth:
            del self.stack[depth - 1:]
        return out

    def _replace(self, m: Macro, name: Tok, args: list[list[Tok]]) -> list[Tok]:
        loc, chain = self._origin(name)
        chain = chain + (m.name,)
        body = m.body
        pidx = m.pidx
        expanded: dict[int, list[Tok]] = {}
        out: list[Tok] = []
        nparams = len(m.params)
        in_dir = self.in_directive
        i = 0
        n = len(body)
        while i < n:
            src = body[i]
            if src.kind == NAME and src.text in pidx and not src.noexp:
                ai = pidx[src.text]
                arg = args[ai]
                prev_pl = i > 0 and body[i - 1].pl
                if src.src == "#":  # stringified parameter
                    s = stringify(arg)
                    s.ws = src.ws
                    s.loc = loc
                    s.chain = chain
                    s.pl = src.pl
                    out.append(s)
                    i += 1
                    continue
                if src.pl or prev_pl:
                    toks = arg
                else:
                    toks = expanded.get(ai)
                    if toks is None:
                        toks = self._expand_arg(arg)
                        expanded[ai] = toks
                if prev_pl and out:
                    last = out[-1]
                    if (last.kind == OP and last.text == "," and m.variadic
                            and ai == nparams - 1):
                        if not arg:
                            out.pop()
                        else:
                            last = last.copy()
                            last.pl = False
                            out[-1] = last
                    elif not arg:
                        last = last.copy()
                        last.pl = False
                        out[-1] = last
                if not in_dir and i > 0 and not prev_pl:
                    out.append(_pad(src))
                if toks:
                    out += [t if t.kind == PAD or t.chain else t.at(loc, chain) for t in toks]
                    if src.pl:
                        last = out[-1]
                        if last.kind == PAD:
                            # find the last real token
                            for j in range(len(out) - 1, -1, -1):
                                if out[j].kind != PAD:
                                    c = out[j].copy()
                                    c.pl = True
                                    out[j] = c
                                    del out[j + 1:]
                                    break
                        else:
                            c = last.copy()
                            c.pl = True
                            out[-1] = c
                if not in_dir and not src.pl:
                    out.append(AVOID_PASTE)
                i += 1
                continue
            if src.kind == NAME and src.text == "__VA_OPT__" and m.variadic and i + 1 < n \
                    and body[i + 1].text == "(":
                # __VA_OPT__(x): x if the variable arguments are not empty.
                depth = 0
                j = i + 1
                while j < n:
                    if body[j].text == "(":
                        depth += 1
                    elif body[j].text == ")":
                        depth -= 1
                        if depth == 0:
                            break
                    j += 1
                if not any(t.kind != PAD for t in args[nparams - 1]):
                    i = j + 1
                    continue
                body = body[:i] + body[i + 2:j] + body[j + 1:]
                n = len(body)
                continue
            out.append(src.at(loc, chain))
            i += 1
        return out

    # -- pasting ---------------------------------------------------------
    def _paste_all(self, lhs: Tok):
        ctx = self.stack[-1]
        while True:
            if ctx.i >= len(ctx.toks):
                break
            rhs = ctx.toks[ctx.i]
            ctx.i += 1
            if rhs.kind == PAD:
                continue
            text = lhs.text + rhs.text
            if lhs.kind == OP and lhs.text == "/" and rhs.text != "=":
                new = None
            else:
                new = lex_one(text)
            if new is None:
                ctx.i -= 1
                lhs = lhs.copy()
                lhs.pl = False
                break
            new.ws = lhs.ws
            new.loc = lhs.loc
            new.chain = lhs.chain
            new.pl = rhs.pl
            lhs = new
            if not rhs.pl:
                break
        if lhs.pl:
            lhs = lhs.copy()
            lhs.pl = False
        if lhs.kind == NAME and lhs.text in self.disabled:
            lhs.noexp = True
        self.stack.append(Context([lhs], None))


__all__ = ["MacroDef", "Macro", "Expander", "ExpansionLimit", "AVOID_PASTE", "OP", "NAME"]
