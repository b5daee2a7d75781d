"""The driver: reads files, runs directives, expands text lines and records,
for every output line, its origins and its presence condition.

Output lines follow ``gcc -E``: one per logical source line that has tokens
left after expansion; an invocation whose arguments span lines produces its
output (and whatever follows it on its last line) on the line where it starts.
"""

from __future__ import annotations

import os
import weakref
from dataclasses import field
from pathlib import Path

from entrylint.cpp import builtins, directives as D, headermemo
from entrylint.cpp.conditionals import Conditionals, Group
from entrylint.cpp.config import Kconfig
from entrylint.cpp.lexer import EOF, NAME, NUMBER, OP, LexedFile, Tok, lex_file_once
from entrylint.cpp.macros import Expander, ExpansionLimit, Macro, MacroDef, means_same
from entrylint.cpp.render import location, render
from entrylint.cpp.types import Condition, PPLine
from entrylint.source import Location, Problem, ProblemKind
from entrylint.source.reader import read_source
from entrylint.source.limits import DEFAULT, Limits, hit, together
from entrylint.source.tree import IncludeSearch
from entrylint.source.record import data

AUTOCONF = "generated/autoconf.h"


@data
class CppOptions:
    search: IncludeSearch = field(default_factory=IncludeSearch)
    kconfig: Kconfig | None = None
    defines: dict[str, str | None] = field(default_factory=dict)
    undefines: tuple[str, ...] = ()
    limits: Limits = DEFAULT  # every bound the preprocessor keeps (include depth, expansions, ...)
    spent: int = 0  # lines the check's earlier profiles read (the cpp-lines limit bounds a check)
    # the check reads the file under other profiles too: a macro line's
    # expansion is kept for them, and taken from the profile before
    share_lines: bool = False


@data
class PPResult:
    lines: list[PPLine]
    problems: list[Problem]
    macros: dict[str, MacroDef]
    files: list[str]
    missing: list[str]
    # extra (not in the original contract): asm/X.h names served by asm-generic/X.h
    fallbacks: list[str] = field(default_factory=list)
    peak: dict[str, int] = field(default_factory=dict)  # the largest use of each limit (by name)


class _File:
    __slots__ = ("path", "lines", "idx", "groups", "base_cond", "guard", "found_idx", "dir", "rendered", "expanded")

    def __init__(self, path, lexed: LexedFile, base_cond, found_idx):
        self.path = path
        self.lines = lexed.lines
        self.rendered = lexed.rendered
        self.expanded = lexed.expanded
        self.idx = 0
        self.groups: list[Group] = []
        self.base_cond = base_cond
        if lexed.guard is False:  # a header lexed once per process is included by many files
            lexed.guard = D.find_guard(lexed.lines)
        self.guard = lexed.guard
        self.found_idx = found_idx
        self.dir = os.path.dirname(path)


class Preprocessor(Conditionals):
    # at_line(pp, file, included=False): called after each text line of the
    # main file read at the top level, and after each of its #include lines
    # (included=True) (incremental.py takes its snapshots there); None: no call
    at_line = None
    main = ""
    headers_size = 0  # the largest file read other than the main file
    main_lines = 0  # the main file's lines counted for cpp-lines (cpp/resume.py)

    def __init__(self, opts: CppOptions):
        self.opts = opts
        self.macros: dict[str, Macro] = {}
        self.problems: list[Problem] = []
        self.out: list[PPLine] = []
        self.files: list[str] = []
        self.missing: list[str] = []
        self.fallbacks: list[str] = []
        self.cache: dict[str, LexedFile | None] = {}
        self.stack: list[_File] = []
        self.cond: Condition = ()
        self.counter = 0
        self.locs: dict[tuple, Location] = {}
        # the expander calls back through a weak reference: no cycle keeps a
        # finished preprocessor (and all it read) until a collection
        me = weakref.ref(self)
        self.exp = Expander(self.macros, opts.limits.cpp_expansions, lambda *a: me()._exp_error(*a),
                            lambda *a: me()._builtin(*a))
        self.exp.depth_limit = opts.limits.cpp_depth
        self.limit_hit = False
        self.peak = {"include-depth": 0, "file-size": 0, "includes": 0, "cpp-lines": opts.spent}
        self._over: set[str] = set()  # limits reported (each once per file)
        self._deep: set = set()  # #include lines that met the include-depth limit (one finding each)
        self._found: dict = {}  # (name, angled, folder, after) -> find_include's answer, for this run
        # what cpp/headermemo.py reads: the options' id (None: no records), and
        # while a header is recorded, its recorders (the names they look up),
        # the #define/#undef made, and the files and include answers read
        self._opt, self._recs, self._log = None, [], []
        self._flog, self._rlog = [], []

    # -- problems --------------------------------------------------------
    def _loc(self, t) -> Location:
        return location(self.locs, t if isinstance(t, tuple) else t.loc)

    def problem(self, kind: ProblemKind, msg: str, where=None):
        loc = None
        if where is not None:
            loc = where if isinstance(where, Location) else self._loc(where)
        self.problems.append(Problem(kind, msg, loc))

    def _exp_error(self, msg: str, tok):
        self.problem(ProblemKind.BAD_MACRO_ARGS, msg, tok.loc if tok is not None and tok.loc else None)

    # -- setup -----------------------------------------------------------
    def setup(self):
        """The built-in table: GCC's predefined macros, the builtins, the
        configuration (without kconfig.h), -D and -U (cpp/builtins.py)."""
        builtins.setup(self)
        headermemo.start(self)

    # -- files -----------------------------------------------------------
    def _lex(self, path: str, text: str | None = None) -> LexedFile | None:
        if text is None and path in self.cache:
            if self._recs:
                headermemo.lexed_file(self, path, self.cache[path], None)
            return self.cache[path]
        lim = self.opts.limits
        given = text
        if text is None:
            text, problem = read_source(path, lim)  # the file-size limit, binary files, the overlay
            if problem is not None:
                if problem.kind is ProblemKind.LIMIT:
                    self.peak["file-size"] = max(self.peak["file-size"], lim.file_size + 1)
                self.problem(problem.kind, problem.message, problem.location)
                self.cache[path] = None
                return None
        self.peak["file-size"] = max(self.peak["file-size"], len(text))
        if path != self.main:
            self.headers_size = max(self.headers_size, len(text))
        if len(text) > lim.file_size:
            self.problem(ProblemKind.LIMIT, hit(lim, "file-size", f"{path} is larger than {lim.file_size} bytes"),
                         Location(path, 1, 1))
            self.cache[path] = None
            return None
        if len(text) > lim.line_length:
            text = self._cut_long_lines(path, text)
        lexed = lex_file_once(text, path, keep=path != getattr(self, "main", None))
        for msg, line, col in lexed.problems:
            self.problem(ProblemKind.CPP_ERROR, msg, Location(path, line, col))
        self.cache[path] = lexed
        if self._recs:
            headermemo.lexed_file(self, path, lexed, given)
        return lexed

    def _cut_long_lines(self, path: str, text: str) -> str:
        """Lines longer than the line-length limit are read as empty (one finding per file)."""
        lim = self.opts.limits.line_length
        lines = text.split("\n")
        long = [i for i, ln in enumerate(lines) if len(ln) > lim]
        if not long:
            return text
        self.problem(ProblemKind.LIMIT, hit(self.opts.limits, "line-length",
                                            f"line {long[0] + 1} has {len(lines[long[0]])} characters"),
                     Location(path, long[0] + 1, 1))
        for i in long:
            lines[i] = ""
        return "\n".join(lines)

    def run_file(self, path: str, text: str | None = None, found_idx=None):
        if len(self.stack) >= self.opts.limits.include_depth:
            # (a reading a limit cut is not replayed elsewhere: the headers
            # open are read again where the limit may not cut them)
            headermemo.taint(self)
            where = self.stack[-1].lines[self.stack[-1].idx - 1][0] if self.stack else None
            if (where, path) in self._deep:  # a header that includes itself twice meets it 2^n times
                return
            self._deep.add((where, path))
            names = [os.path.basename(f.path) for f in self.stack]
            cycle = ""
            if path in (f.path for f in self.stack):
                first = next(i for i, f in enumerate(self.stack) if f.path == path)
                cycle = f" ({' -> '.join(names[first:first + 8])}{' -> ...' if len(names) - first > 8 else ''}" \
                        f" -> {os.path.basename(path)}: an include cycle)"
            self.problem(ProblemKind.LIMIT, hit(self.opts.limits, "include-depth",
                                                f"#include nested deeper than {self.opts.limits.include_depth}{cycle}"),
                         where)
            return
        self.peak["include-depth"] = max(self.peak["include-depth"], len(self.stack) + 1)
        for r in self._recs:
            r.depth = max(r.depth, len(self.stack) + 1)
        if self.stack:  # the work of #include, counted as it goes: a header that
            # includes itself twice without a guard doubles per level
            if self.peak["includes"] >= self.opts.limits.includes:
                headermemo.taint(self)
                if "includes" not in self._over:
                    self._over.add("includes")
                    self.problem(ProblemKind.LIMIT, hit(self.opts.limits, "includes",
                                                        f"more than {self.opts.limits.includes} #includes read"),
                                 self.stack[-1].lines[self.stack[-1].idx - 1][0])
                return
            self.peak["includes"] += 1
        lexed = self._lex(path, text)
        if lexed is None:
            return
        if path not in self._seen_files:
            self._seen_files.add(path)
            self.files.append(path)
        f = _File(path, lexed, self.cond, found_idx)
        if f.guard is not None and self._recs:
            self._recs[-1].asked.add(f.guard[0])
        if f.guard is not None and f.guard[0] in self.macros:
            return  # multiple-include optimisation, as gcc does
        # the lines of every file read (each #include again), counted over the
        # check's profiles: what the preprocessor's work is proportional to
        left = self.opts.limits.cpp_lines - self.peak["cpp-lines"]
        if len(f.lines) > left:
            headermemo.taint(self)
            if "cpp-lines" not in self._over:
                self._over.add("cpp-lines")
                where = self.stack[-1].lines[self.stack[-1].idx - 1][0] if self.stack else Location(path, 1, 1)
                self.problem(ProblemKind.LIMIT, hit(self.opts.limits, "cpp-lines",
                                                    f"more than {self.opts.limits.cpp_lines} lines read"
                                                    f"{together(self.opts.spent)}"),
                             where)
            f.lines = f.lines[:max(left, 0)]  # the rest of the file is not read
        self.peak["cpp-lines"] += len(f.lines)
        if path == self.main and not self.stack:
            self.main_lines = len(f.lines)
        rec = None
        if path != self.main and self._opt is not None:  # a header: replayed where what it looks up is the same
            rec = headermemo.begin(self, path, lexed, found_idx)
            if rec is headermemo.REPLAYED:
                return
        saved_cond = self.cond
        self.stack.append(f)
        hook = self.at_line if path == self.main and len(self.stack) == 1 else None
        finished = False
        try:
            while True:
                toks = self._next_line(f, False)
                if toks is None:
                    break
                self._expand_line(f, toks)
                if hook is not None:
                    hook(self, f)
            if f.groups:
                self.problem(ProblemKind.UNBALANCED_BLOCK, "unterminated conditional directive",
                             Location(path, len(lexed.lines), 1))
            finished = True
        finally:
            self.stack.pop()
            self.cond = saved_cond
            if rec is not None:
                headermemo.end(self, rec, finished)

    def run(self, main: str, text: str | None = None) -> PPResult:
        self._seen_files: set[str] = set()
        self.setup()
        self.main = main
        for imp in self.opts.search.implicit:
            self.run_file(str(imp))
        self.before_main = len(self.problems)
        self.run_file(main, text)
        return self._result()

    def _result(self) -> PPResult:
        self.peak["cpp-expansions"] = self.exp.count
        self.peak["cpp-depth"] = self.exp.deepest + 1
        return PPResult(self.out, self.problems, {n: m.defn for n, m in self.macros.items()},
                        self.files, self.missing, self.fallbacks, dict(self.peak))

    # -- lines and directives ---------------------------------------------
    def _next_line(self, f: _File, in_args: bool):
        lines = f.lines
        n = len(lines)
        while f.idx < n:
            toks = lines[f.idx]
            f.idx += 1
            if not toks:
                continue
            t0 = toks[0]
            if t0.kind == OP and t0.text == "#":
                if self._directive(f, toks, in_args):
                    return toks
                continue
            if f.groups and not f.groups[-1].active:
                continue
            return toks
        return None

    def _peek_paren(self, f: _File) -> bool:
        k = f.idx
        while k < len(f.lines):
            toks = f.lines[k]
            if toks:
                return toks[0].kind == OP and toks[0].text == "("
            k += 1
        return False

    def _directive(self, f: _File, toks: list[Tok], in_args: bool) -> bool:
        """Run a directive line; True if it is not one (assembler ``#`` text)."""
        active = not f.groups or f.groups[-1].active
        if len(toks) == 1:
            return False
        name = toks[1].text if toks[1].kind == NAME else None
        if name in D.CONDITIONALS:
            self._conditional(f, name, toks, active)
            return False
        if not active:
            return False
        if name is None or name not in D.DIRECTIVES:
            return True  # `# comment`, `# 5 "file"`: kept as text in assembler mode
        args = toks[2:]
        if name == "define":
            m, err = _parse_define(toks, args, self, f.path != self.main)
            if err:
                self.problem(ProblemKind.CPP_ERROR, err, toks[1])
            elif m.name in ("__FILE__", "__LINE__") or m.name.startswith("__has_include"):
                self.problem(ProblemKind.CPP_ERROR, f'"{m.name}" cannot be redefined', toks[2])
            else:
                if self._recs:
                    self._log.append((m.name, m, self.macros.get(m.name)))
                self.macros[m.name] = m
        elif name == "undef":
            if not args or args[0].kind != NAME:
                self.problem(ProblemKind.CPP_ERROR, "no macro name given in #undef directive", toks[1])
            else:
                if self._recs:
                    self._log.append((args[0].text, None, self.macros.get(args[0].text)))
                self.macros.pop(args[0].text, None)
        elif name in ("include", "include_next", "import"):
            if in_args:
                self.problem(ProblemKind.CPP_ERROR, f"#{name} inside macro arguments is ignored", toks[1])
            else:
                self._include(f, name, toks)
        elif name == "error":
            self.problem(ProblemKind.CPP_ERROR, "#error " + D.spell(args), toks[1])
        elif name == "line":
            if not args or args[0].kind != NUMBER:
                self.problem(ProblemKind.CPP_ERROR, "#line directive requires a simple digit sequence", toks[1])
        # warning, pragma, ident, sccs, assert, unassert: nothing to do
        return False

    # -- includes ----------------------------------------------------------
    def _resolve(self, name: str, angled: bool, nxt: bool):
        f = self.stack[-1] if self.stack else None
        after = f.found_idx if (nxt and f is not None and f.found_idx is not None) else None
        cur_dir = f.dir if f is not None else None
        key = (name, angled, cur_dir, after)
        got = self._found.get(key)
        if got is None:
            got = self._found[key] = D.find_include(name, angled, cur_dir, self.opts.search, after)
        if self._recs:
            self._rlog.append((key, got))
        return got

    def _include(self, f: _File, name: str, toks: list[Tok]):
        args = toks[2:]
        hn = D.header_name(args)
        if hn is None and args:
            self.exp.start(list(args), in_directive=True)
            exp = []
            while True:
                t = self.exp.get()
                if t.kind == EOF:
                    break
                exp.append(t)
            hn = D.header_name(exp)
        if hn is None:
            self.problem(ProblemKind.CPP_ERROR, f'#{name} expects "FILENAME" or <FILENAME>', toks[1])
            return
        header, angled = hn
        kc = self.opts.kconfig
        if header == AUTOCONF and kc is not None:
            vpath = f"<kconfig:{kc.name}>"
            self.run_file(vpath, kc.autoconf_h())
            return
        path, idx = self._resolve(header, angled, name == "include_next")
        if path is None and self.opts.search.generic_fallback:
            for pre, alt in (("asm/", "asm-generic/"), ("uapi/asm/", "uapi/asm-generic/")):
                if header.startswith(pre):
                    path, idx = self._resolve(alt + header[len(pre):], True, False)
                    if path is not None:
                        self.fallbacks.append(header)
                    break
        if path is None:
            self.missing.append(header)
            self.problem(ProblemKind.MISSING_INCLUDE, f"{header}: No such file or directory", toks[1])
            return
        self.run_file(path, found_idx=idx)
        if self.at_line is not None and len(self.stack) == 1 and f.path == self.main:
            self.at_line(self, f, True)  # after an #include of the main file: the state past a header

    # -- builtins ----------------------------------------------------------
    def _builtin(self, m: Macro, name: Tok, args):
        return builtins.value(self, m, name, args)

    # -- output --------------------------------------------------------------
    def _expand_line(self, f: _File, toks: list[Tok]):
        cond = self.cond
        exp = self.exp
        macros = self.macros
        if self._recs:  # a header read for the record: whether each name of the line is a macro
            self._recs[-1].asked.update(t.text for t in toks if t.kind == NAME)
        for t in toks:
            if t.kind == NAME and t.text in macros:
                break
        else:
            # no name on the line is a macro: the expander would hand back
            # each token as it is (``movq %rsp, %rdi``, most lines of a file).
            # Its line is then a function of its tokens and the condition, made
            # once for the profiles of a check and the files that read a header
            done = f.rendered.get(id(toks))
            # (the conditions' records are shared, cpp/conditionals._cond: a compare of equal ones is by identity)
            if done is not None and (done[0] is cond or done[0] == cond):
                self._emit_line(done[1], toks)
                return
            line = render(toks, cond, self.locs)
            f.rendered[id(toks)] = (cond, line)
            self._emit_line(line, toks)
            return
        memo = f.expanded if self.opts.share_lines and f.path == self.main else None
        if memo is not None:
            got = memo.get(id(toks))
            if got is not None and got[0] is toks and self._replay(got, cond, toks):
                return
        crossed = []  # the expansion read past the line (arguments on the next lines, a peek for "(")
        if memo is None:  # (a one-profile check -- each keystroke of the language server -- keeps nothing)
            more, peek = (lambda: self._next_line(f, True)), (lambda: self._peek_paren(f))
        else:
            def more():
                crossed.append(True)
                return self._next_line(f, True)

            def peek():
                crossed.append(True)
                return self._peek_paren(f)

        exp.start(toks, more=more, peek=peek, record=memo is not None)
        count, deepest, problems = exp.count, exp.deepest, len(self.problems)
        exp.deepest = 0  # (the line's own deepest nesting, kept with it)
        out = []
        whole = False
        try:
            exp.drain(out)
            whole = True
        except ExpansionLimit as e:
            name, what = e.args
            self.problem(ProblemKind.LIMIT, hit(self.opts.limits, name, what), exp.site[0] if exp.site else toks[0])
            out = out[:4000]
            exp.stack.clear()
            exp.disabled.clear()
        except RecursionError:
            self.problem(ProblemKind.LIMIT, hit(self.opts.limits, "cpp-depth", "macro expansion too deep"), toks[0])
            exp.stack.clear()
            exp.disabled.clear()
            out = []
        finally:
            exp.more = exp.peek = None  # (they refer to this preprocessor: no cycle outlives the line)
            mine, exp.deepest = exp.deepest, max(deepest, exp.deepest)
        if memo is not None and whole and not crossed and len(self.problems) == problems:
            read = {n: macros.get(n) for n in exp.looked}
            if not any(m is not None and m.builtin is not None for m in read.values()):  # (__LINE__, __COUNTER__...)
                line = render(out, cond, self.locs)
                memo[id(toks)] = (toks, tuple(read.items()), exp.count - count, mine, exp.site, line)
                self._emit_line(line, toks)
                return
        self._emit(out, cond, toks)

    def _replay(self, got: tuple, cond, toks: list[Tok]) -> bool:
        """Emit a line of the file checked as an earlier profile expanded it,
        when every name that expansion looked up means the same here (the same
        macro, or one made from an equal ``#define``: the same text at the same
        place) and the expansion budget holds it; False otherwise."""
        _, read, count, deepest, site, line = got
        exp = self.exp
        if exp.exhausted or exp.count + count > exp.limit:
            return False
        macros = self.macros
        for name, m in read:
            if not means_same(macros.get(name), m):
                return False
        exp.count += count
        if deepest > exp.deepest:
            exp.deepest = deepest
        if count:
            exp.site = site
        if line is not None and line.cond is not cond and line.cond != cond:
            line = PPLine(line.text, line.segments, cond)  # (the condition is all of a line a profile may differ in)
        self._emit_line(line, toks)
        return True

    def _emit(self, out: list[Tok], cond, toks: list[Tok]):
        self._emit_line(render(out, cond, self.locs), toks)

    def _emit_line(self, line: PPLine | None, toks: list[Tok]):
        if line is not None and len(line.text) > self.opts.limits.line_length:
            self.problem(ProblemKind.LIMIT, hit(self.opts.limits, "line-length",
                                                f"an expanded line of {len(line.text)} characters"), toks[0])
            line = None
        if line is not None:
            self.out.append(line)


# id(directive tokens) -> (tokens, condition, (macro, error)): a header's
# ``#define`` lines are parsed once per process, not once per file that
# includes it (the tokens are the lexed file's, shared while its text stays
# the same; the Macro is read-only once made)
_DEFINES: dict[int, tuple] = {}
_DEFINES_MAX = 200_000


def _parse_define(toks: list[Tok], args: list[Tok], pp: Preprocessor, keep: bool):
    """``keep``: a header's line (a file checked is lexed anew each time)."""
    got = _DEFINES.get(id(toks)) if keep else None
    if got is not None and got[0] is toks and got[1] == pp.cond:
        return got[2]
    res = D.parse_define(args, pp._loc(toks[2]) if args else pp._loc(toks[1]), pp.cond)
    if not keep:
        return res
    if len(_DEFINES) >= _DEFINES_MAX:
        _DEFINES.clear()
    _DEFINES[id(toks)] = (toks, pp.cond, res)
    return res


def preprocess_text(text: str, filename: str, opts: CppOptions) -> PPResult:
    """Preprocess ``text`` as if it were the file ``filename``."""
    return Preprocessor(opts).run(os.path.abspath(filename), text)


def preprocess_file(path: Path | str, opts: CppOptions) -> PPResult:
    """Preprocess the file at ``path`` (includes resolved with ``opts.search``)."""
    return Preprocessor(opts).run(os.path.abspath(str(path)))
