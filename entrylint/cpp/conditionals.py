"""``#if`` groups: each open group's branch conditions, their evaluation
(``defined``, ``__has_include``, macro expansion, the expression), and the
presence condition of the lines read (the including files' conditions, then
each enclosing group's earlier branches as false and its own).

A mixin of ``Preprocessor`` (preprocessor.py), which gives it ``macros``,
``exp`` (the macro expander), ``problem``, ``_loc`` and ``_resolve``.
"""

from __future__ import annotations

from entrylint.cpp import directives as D
from entrylint.cpp.expr import ExprError, evaluate
from entrylint.cpp.lexer import EOF, NAME, Tok
from entrylint.cpp.macros import ExpansionLimit
from entrylint.cpp.types import Cond
from entrylint.source import ProblemKind
from entrylint.source.limits import hit


# One Cond per (text, taken, location, the innermost Cond outside its group)
# over the process: the profiles of a check read the same #if lines, and
# their lines' conditions are then tuples of the same records, which compare
# by identity (the render memo, api._expand_shared's comparison of the
# profiles' lines); 3000 nested #if made that 16M calls of a record's
# __eq__.  The innermost Cond outside stands for all of them (it is made the
# same way), so a Cond appears only with the same objects outside it, as
# line_conditions reads them.
#
# The table is emptied only between checks (``trim``, from api.check), never
# while one is read: emptied in the middle of a check, its later profiles made
# new records for the lines read before, and each such line was compared
# field by field, its whole nesting deep (a worker of tools/fuzz.py that had
# filled the table with earlier inputs took 11 s on an input of 2.5 s).
_CONDS: dict[tuple, tuple] = {}
CONDS_KEPT = 200_000  # entries past which the next check starts with an empty table


def trim() -> None:
    """A check starts: the records of earlier checks go once there are more
    than ``CONDS_KEPT`` of them (what bounds one check's is its input)."""
    if len(_CONDS) > CONDS_KEPT:
        _CONDS.clear()


def _cond(text: str, taken: bool, location, outer: tuple) -> tuple[Cond]:
    """``(Cond,)`` for a branch whose lines sit inside ``outer``."""
    last = outer[-1] if outer else None
    key = (text, taken, location, id(last))
    got = _CONDS.get(key)
    if got is None or got[0] is not last:
        got = _CONDS[key] = (last, (Cond(text, taken, location),))
    return got[1]


class Group:
    """One open #if group: ``conds`` are the Conds of the branch being read."""

    __slots__ = ("conds", "active", "taken", "parent", "else_seen", "guard", "prior", "outer")

    def __init__(self, parent: bool, guard: bool = False):
        self.parent = parent  # enclosing region active
        self.active = False
        self.taken = False  # some branch already taken
        self.else_seen = False
        self.guard = guard
        self.conds: tuple[Cond, ...] = ()
        self.prior: tuple[Cond, ...] = ()  # earlier branches, as false
        self.outer: tuple[Cond, ...] = ()  # the condition of the lines around the group


class Conditionals:
    """The directives of ``#if`` groups and the conditions they record."""

    def _recompute_cond(self, f):
        """The condition of the lines read now: the innermost group's
        ``outer`` (the including files' and the enclosing groups'), its
        earlier branches as false and its own.  Made from the innermost group
        alone: a loop over every open group made 3000 nested ``#if`` cost
        30 s (the fuzzer's size class)."""
        if not f.groups:
            self.cond = tuple(f.base_cond)
            return
        g = f.groups[-1]
        if g.guard:
            self.cond = g.outer
            return
        cond = g.outer + g.prior + g.conds
        limit = self.opts.limits.if_depth
        if len(cond) > limit:  # the group is read, its branches are not recorded on its lines
            if "if-depth" not in self._over:
                self._over.add("if-depth")
                self.problem(ProblemKind.LIMIT, hit(self.opts.limits, "if-depth",
                                                    f"a line under more than {limit} #if conditions"),
                             f.lines[f.idx - 1][0] if f.idx else None)
            cond = g.outer
        self.cond = cond

    def _conditional(self, f, name: str, toks: list[Tok], active: bool):
        groups = f.groups
        args = toks[2:]
        if name in ("if", "ifdef", "ifndef"):
            g = Group(active)
            g.outer = self.cond if groups else tuple(f.base_cond)
            if f.guard is not None and f.idx - 1 == f.guard[1] and not groups:
                g.guard = True
            groups.append(g)
            if active:
                text, val = self._condition(name, args, toks[1])
                if name == "ifndef":
                    val = not val
                g.conds = _cond(text, name != "ifndef", self._loc(toks[1]), g.outer)
                g.active = g.taken = val
                self._recompute_cond(f)
            return
        if not groups:
            self.problem(ProblemKind.UNBALANCED_BLOCK, f"#{name} without #if", toks[1])
            return
        g = groups[-1]
        if name == "endif":
            groups.pop()
            if g.parent:
                self._recompute_cond(f)
            return
        if g.else_seen:
            self.problem(ProblemKind.UNBALANCED_BLOCK, f"#{name} after #else", toks[1])
            return
        if not g.parent:
            return
        loc = self._loc(toks[1])
        g.prior = g.prior + tuple(_cond(c.text, not c.taken, c.location, g.outer)[0] for c in g.conds)
        if name == "else":
            g.else_seen = True
            g.conds = ()
            g.active = not g.taken
            g.taken = True
        else:
            if g.taken:
                # gcc does not evaluate the expression of an #elif after a taken branch
                g.active = False
                text = self._cond_text(name, args)
                g.conds = _cond(text, name != "elifndef", loc, g.outer)
            else:
                text, val = self._condition(name, args, toks[1])
                if name == "elifndef":
                    val = not val
                g.conds = _cond(text, name != "elifndef", loc, g.outer)
                g.active = g.taken = val
        self._recompute_cond(f)

    def _cond_text(self, name, args):
        if name in ("ifdef", "ifndef", "elifdef", "elifndef"):
            return f"defined({args[0].text})" if args else "defined()"
        return D.spell(args)

    def _condition(self, name, args, where) -> tuple[str, bool]:
        text = self._cond_text(name, args)
        if name in ("ifdef", "ifndef", "elifdef", "elifndef"):
            if not args or args[0].kind != NAME:
                self.problem(ProblemKind.CPP_ERROR, f"no macro name given in #{name} directive", where)
                return text, False
            if self._recs:
                self._recs[-1].asked.add(args[0].text)  # (whether it is defined: cpp/headermemo.py)
            return text, args[0].text in self.macros
        try:
            return text, bool(self._eval(args, where))
        except ExprError as e:
            self.problem(ProblemKind.CPP_ERROR, f"#{name}: {e}", where)
            return text, False

    def _operators(self, toks: list[Tok], where) -> list[Tok]:
        """Replace ``defined X`` and ``__has_include(...)`` by 0 or 1."""
        out = []
        i = 0
        n = len(toks)
        while i < n:
            t = toks[i]
            i += 1
            if t.kind == NAME and t.text == "defined":
                name, i = D.defined_operand(toks, i)
                if name is None:
                    raise ExprError('operator "defined" requires an identifier')
                if self._recs:
                    self._recs[-1].asked.add(name)
                out.append(D.number(int(name in self.macros)))
            elif t.kind == NAME and t.text in ("__has_include", "__has_include_next"):
                if i < n and toks[i].text == "(":
                    j = i + 1
                    while j < n and toks[j].text != ")":
                        j += 1
                    hn = D.header_name(toks[i + 1:j])
                    if hn is None or j >= n:
                        raise ExprError(f'operator "{t.text}" requires a header-name')
                    found = self._resolve(hn[0], hn[1], t.text.endswith("next"))[0]
                    out.append(D.number(int(found is not None)))
                    i = j + 1
                else:
                    raise ExprError(f'missing \'(\' after "{t.text}"')
            else:
                out.append(t)
        return out

    def _eval(self, args: list[Tok], where) -> int:
        toks = self._operators(args, where)
        self.exp.start(toks, in_directive=True)
        out = []
        try:
            while True:
                t = self.exp.get()
                if t.kind == EOF:
                    break
                out.append(t)
        except ExpansionLimit as e:
            raise ExprError(str(e)) from None
        if any(t.kind == NAME and t.text == "defined" for t in out):
            out = self._operators(out, where)
        return evaluate(out)
