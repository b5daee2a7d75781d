"""What a direct call out of the analyzed file does to registers (MODEL 4).

A ``call``/tail-call ``jmp`` to a name that is not code of the analyzed file
goes to one of:

- a **C function**: it reads the argument registers its prototype declares
  (the tree's C index, ``analysis/cindex.py``; unknown: all six), clobbers
  the caller-saved registers (SysV ABI) and, being C, may read per-cpu data
  through GS;
- an **asm function of another file of the tree** (``THUNK`` in
  arch/x86/entry/thunk_64.S, ``entry_untrain_ret`` in arch/x86/lib/...):
  summarised from its own code -- that file is expanded with the same
  options, and a small walk from the symbol to its returns says which
  registers still hold their value there (``push``/``pop`` pairs, C calls in
  between), which it reads, and whether it may touch GS (a %gs access or a C
  call).  Code the walk cannot follow (an indirect jump, a %rsp it cannot
  track, a call into its own file's helpers) makes it opaque: what it does
  to registers is not known.  A name no text search finds defined
  (retpoline.S's ``__x86_retpoline_r9``: a macro invoked through cpp) is
  looked up in the files whose macros define names of its head
  (``asm_heads``), expanded.  Where each name is defined: ``asmindex.py``.

``Callees`` answers per name and caches per tree and options; without a tree
every name is C with an unknown prototype.  A file built only for 32-bit
kernels has the i386 kernel ABI (``regs.I386``: %eax, %edx, %ecx clobbered)
for its C callees, whose reads stay unknown (regparm(3), but asmlinkage
takes all on the stack), and 32-bit asm callees are summarised from their
code like 64-bit ones (``xen_iret_crit_fixup`` keeps %ecx and %edx).  The walk's result is plain data
(``Callee``) that liveness, the forward transfer and the rules read.
"""

from __future__ import annotations

import os
import re
from collections import OrderedDict
from dataclasses import field
from pathlib import Path

from entrylint.analysis import regs
from entrylint.analysis.asmindex import asm_definitions, asm_heads
from entrylint.program.effects import Access, DataOp, Flow
from entrylint.source import overlay
from entrylint.source.record import data


@data(frozen=True)
class Callee:
    name: str
    kind: str  # "c", "asm" (summarised from its code), "opaque" (asm the walk cannot follow)
    reads: frozenset[str]  # general registers it reads on entry
    clobbers: frozenset[str]  # general registers that may not hold their value when it returns
    gs: bool = True  # may read per-cpu data through GS before anything serializes (EL303's question)
    file: str | None = None  # where an asm callee is defined (relative to the root)
    declared: bool = False  # reads come from a prototype or the callee's code, not the ABI's worst case


def c_callee(name: str, params: int | None = None, abi: regs.Abi = regs.SYSV64) -> Callee:
    """A C function with ``params`` declared parameters (None: unknown, every
    argument register of ``abi``), clobbering what ``abi`` lets it."""
    n = len(abi.args) if params is None else min(params, len(abi.args))
    return Callee(name, "c", frozenset(abi.args[:n]), abi.caller_saved, declared=params is not None)


UNKNOWN_C = c_callee("")


@data
class Callees:
    """name -> Callee for one analyzed file (its tree and options)."""

    root: Path | None = None
    options: object = None  # api.Options the analyzed file was read with
    kernel32: bool = False  # the analyzed file is built only for 32-bit kernels (its callees too)
    depth: int = 0  # how deep in summaries of summaries we are
    # the tree's STATIC_CALL_TRAMP_PREFIX (linux/static_call_types.h), when
    # the file's macros define it: a static call's trampoline jumps to what
    # static_call_update() installed at run time, which need not be C (Hyper-V's
    # VTL return installs its hypercall page): what it does is not known
    static_prefix: str | None = None
    _memo: dict = field(default_factory=dict)
    _c: list = field(default_factory=list)  # [the tree's C index], looked up at the first name asked

    def __call__(self, name: str | None) -> Callee:
        if not name:
            return UNKNOWN_C
        got = self._memo.get(name)
        if got is None:
            got = self._memo[name] = self._resolve(name)
        return got

    def _resolve(self, name: str) -> Callee:
        abi = regs.I386 if self.kernel32 else regs.SYSV64
        if _static(name, self.static_prefix):
            return Callee(name, "opaque", frozenset(abi.args), abi.caller_saved)
        if self.root is None:
            return c_callee(name, abi=abi)
        if not self._c:  # (once per analysis, not once per name: 50 a check of entry_64.S)
            self._c.append(_index(self.root))
        index = self._c[0]
        fn = index.get(name) if index is not None else None
        if fn is not None:
            # 32-bit: regparm(3), but asmlinkage functions take every argument
            # on the stack and the index does not say which: reads unknown
            return c_callee(name, None if self.kernel32 else fn.params, abi)
        opaque = None
        files, named = self._asm_files(name)
        for where in files:
            got = _summary(self.root, where, name, self.options, self.depth, self.kernel32) \
                if self.depth < 2 else None if named else False
            if got is False:  # the file does not define it
                if not named:
                    continue  # (a head's file defines other names than this one)
                got = None
            if got is not None:
                return got
            opaque = opaque or where
        if opaque is not None:
            return Callee(name, "opaque", frozenset(abi.args), abi.caller_saved, True, opaque)
        return c_callee(name, abi=abi)

    def _asm_files(self, name: str) -> tuple[list[str], bool]:
        """The ``.S`` files of this kernel (not thunk_32.S for 64-bit code)
        that may define asm function ``name``, and whether a text search
        found it defined there (else they are the files of its head)."""
        from entrylint.source.tree import build_flavour

        named = asm_definitions(self.root).get(name, ())
        return [f for f in named or self._by_head(name)
                if build_flavour(Path(self.root) / f).kernel32 is self.kernel32], bool(named)

    def _by_head(self, name: str) -> list[str]:
        """The files whose macros define names of a head ``name`` starts with
        (the rest a word: ``__x86_retpoline_r9``), longest head first."""
        heads = asm_heads(self.root)
        return [f for h in sorted(heads, key=len, reverse=True)
                if name.startswith(h) and re.fullmatch(r"\w+", name[len(h):]) for f in heads[h]]


def ask_apart(callees: Callees, program, own: Path) -> bool:
    """Before the liveness asks ``callees`` about the names ``program`` calls
    out to (a check with a core to spare): the C index's answers for them
    begun in a process apart (cindex.LazyCIndex.ask_apart: on a cold tree
    the longest part of 6.12 entry_64.S's liveness, 0.29 s), unless they
    were before the program was built (ask_before_build), and here
    meanwhile the other files of the tree that define some of them as asm
    expanded (their summaries read them next: 0.17 s; not ``own``, the file
    checked, whose program is remembered later).  False when nothing was
    begun (every answer known: the process would only wait)."""
    index = _index(callees.root) if callees.root is not None else None
    if index is None:
        return False
    names = {ins.target_name for ins in program.instructions if ins.target is None and ins.target_name
             and not _static(ins.target_name, callees.static_prefix)}
    if index.pending is not None and not names:  # (asked before the build: the build found no call out)
        index.cancel()
    if not index.ask_apart(names) and index.pending is None:
        return False
    mine = Path(own).resolve()
    for rel in sorted({f for n in names for f in callees._asm_files(n)[0]}):
        if (Path(callees.root) / rel).resolve() != mine:
            expanded(callees.root, rel, callees.options)
    return True


def _static(name: str, prefix: str | None) -> bool:
    """``name`` is a static call's trampoline (``prefix``: the tree's
    STATIC_CALL_TRAMP_PREFIX): what it jumps to is installed at run time."""
    return bool(prefix) and name.strip('"').startswith(prefix)


def ask_before_build(root: Path | None, statements, macros) -> None:
    """The C index's answers begun in a process apart as soon as GNU as has
    made the statements (ask_apart's, 45-70 ms sooner: the program's build
    and the other files' expansions go on here meanwhile; the process apart
    is the later of the two about half the time): for the names a call or
    jump of the statements names that no label of them defines -- the
    targets the build finds out of the program (6.12's entry_64.S,
    entry_64_compat.S, entry_32.S, retpoline.S, head_64.S: the same names).
    A name the build finds that is not among them is answered here when
    asked; one among them that it does not find is answered and not asked
    (an answer is a function of the name alone)."""
    from entrylint.program.build import LABELREF

    index = _index(root) if root is not None else None
    if index is None:
        return
    prefix = static_call_prefix(macros)
    labels = {s.name for s in statements if s.kind == "label"}
    # (AT&T's branch mnemonics: call, callq, jmp, jne, ...; an operand the
    # build would read as a label, a numeric local one aside)
    index.ask_apart({a for s in statements if s.kind == "insn" and (s.name.startswith("call") or s.name[:1] == "j")
                     for a in (s.args.strip(),) if LABELREF.fullmatch(a) and not a[0].isdigit()
                     and a not in labels and not _static(a, prefix)})


def declared_params(root: Path, folder: str, name: str) -> int | None:
    """How many parameters the C declarations of asm function ``name`` give
    it (``extern void do_suspend_lowlevel(void);``): the headers of
    ``folder`` (the asm file's, relative to ``root``) and of
    ``arch/x86/include/asm``; None when none declares it or they disagree.
    Asked where a clobbered register's search reaches a function C calls
    (rules/call_clobbered_read.py), once per analysis and name: an editor
    asks again at every edit, so the answer is kept while the headers'
    stamps (name, size, mtime) are the same -- a header edited on disk, added
    or removed is read again (a memo by the tree's generation alone went
    stale)."""
    bases = (Path(root) / folder, Path(root) / "arch" / "x86" / "include" / "asm")
    stamps = tuple(_header_stamps(b) for b in bases)
    key = (overlay.generation(), str(root), folder, name)
    got = _DECLARED.get(key)
    if got is not None and got[0] == stamps:
        from entrylint import cache

        if cache.recording():  # a result recorded now depends on the headers, as if it had read them
            from entrylint.source.reader import depends_on

            for files in stamps:
                for p, mtime, _ in files:
                    if mtime is not None:
                        depends_on(p)
        return got[1]
    from entrylint.analysis.cdefiners import count_params

    decl = re.compile(r"^[ \t]*(?:extern[ \t]+)?[\w \t*]*?\b" + re.escape(name) + r"[ \t]*\(([^;{}]*?)\)[\w \t()]*;",
                      re.M)
    found: set[int | None] = set()
    for files in stamps:
        for p, mtime, _ in files:
            if mtime is None:
                continue
            try:
                text = overlay.read_text(p, errors="replace")
            except OSError:
                continue
            if name in text:
                found.update(count_params(" ".join(m.group(1).split())) for m in decl.finditer(text))
    params = found.pop() if len(found) == 1 else None
    if len(_DECLARED) >= 256:
        _DECLARED.clear()
    _DECLARED[key] = (stamps, params)
    return params


_DECLARED: dict[tuple, tuple] = {}  # declared_params: (generation, root, folder, name) -> (stamps, answer)


def _header_stamps(base: Path) -> tuple:
    """``stamps`` of the ``.h`` files of ``base``, in name order."""
    from entrylint.source.reader import stamps

    try:
        return stamps(sorted(e.path for e in os.scandir(base) if e.name.endswith(".h") and e.is_file()))
    except OSError:
        return ()


def static_call_prefix(macros) -> str | None:
    """The tree's ``STATIC_CALL_TRAMP_PREFIX`` (``__SCT__``) as a file's
    macros define it (``linux/static_call_types.h``), or None."""
    d = macros.get("STATIC_CALL_TRAMP_PREFIX") if macros is not None else None
    body = d.body.strip() if d is not None and d.params is None else ""
    return body if body.isidentifier() else None


def _index(root: Path):
    try:
        from entrylint.analysis.cindex import cached_index

        return cached_index(root)
    except Exception:  # noqa: BLE001 - no tree-sitter or an unreadable tree: no prototypes
        return None


_SUMMARIES: dict[tuple, Callee | None | bool] = {}


def _file_key(root: Path, rel: str) -> tuple:
    """A file of the tree as the tree reads now (``overlay.generation()``: a
    patch applied in memory is another generation), for the memos below."""
    return (overlay.generation(), str(root), rel)


def _summary(root: Path, rel: str, name: str, options, depth: int, kernel32: bool) -> Callee | None | bool:
    # depth is part of the key: a summary made one level down follows its own
    # callees less deep, so the first asker must not decide what later ones get
    # (a long-lived process -- the language server -- saw other findings after
    # other files).  kernel32 is the file's own (Callees.get checks it).
    okey = options_key(options)
    key = (*_file_key(root, rel), name, okey, depth)
    from entrylint import cache

    own = any(k[:3] == key[:3] for k in _OWN)
    if own:
        cache.from_checked_file()
    elif cache.facts_on():  # a fact of the tree, on disk across runs (not a function of the file checked)
        return cache.fact(("callee-summary", str(root), rel, name, repr(okey), depth, kernel32),
                          _summarise, root, rel, name, options, depth, kernel32)
    if key not in _SUMMARIES:
        _SUMMARIES[key] = _summarise(root, rel, name, options, depth, kernel32)
    return _SUMMARIES[key]


def options_key(options) -> tuple:
    """What of ``options`` an expansion of another file of the tree depends on
    (the key of its memo here and of the facts made from it)."""
    if options is None:
        return ()
    return (str(getattr(options, "config", None)), getattr(options, "profile", None),
            str(getattr(options, "build", None)), tuple(sorted((getattr(options, "defines", None) or {}).items())),
            tuple(getattr(options, "undefines", ()) or ()))


_EXPANDED: OrderedDict[tuple, object] = OrderedDict()
_EXPANDED_MAX = 12  # programs of other files kept (a -j worker checks many files: its memory stays bounded)
_DEPS: dict[tuple, tuple] = {}  # key of _EXPANDED -> what it was read from (cache.recorded), when recorded
_OWN: dict[tuple, object] = {}  # the analysed file's own programs (one per configuration), one file at a time


def _keep(key: tuple, value) -> None:
    _EXPANDED[key] = value
    _EXPANDED.move_to_end(key)
    while len(_EXPANDED) > _EXPANDED_MAX:
        _DEPS.pop(_EXPANDED.popitem(last=False)[0], None)


def expanded(root: Path, rel: str, options):
    """(program, CFG) of another file of the tree, expanded once per process
    and options (shared by callee summaries and the stack-switching helpers
    followed through another file); None when it cannot be read."""
    from entrylint import api
    from entrylint.analysis.cfg import CFG

    from entrylint import cache

    key = (*_file_key(root, rel), options_key(options))
    if key in _OWN:
        cache.from_checked_file()  # a fact of the tree made from it now is not kept
        return _OWN[key]
    if key not in _EXPANDED:
        def read():
            try:
                from dataclasses import replace

                opts = replace(options, root=root, layout=False) if options is not None else api.Options(root=root)
                exp = api.expand(Path(root) / rel, opts)
                return exp.program, CFG(exp.program)
            except Exception:  # noqa: BLE001 - a file we cannot read summarises nothing
                return None

        if cache.recording():
            value, _DEPS[key] = cache.recorded(read)
        else:
            value = read()
            _DEPS.pop(key, None)
        _keep(key, value)
    elif key in _DEPS and cache.recording():
        cache.depend(*_DEPS[key])  # what the program was made from, for the computation recording now
    _EXPANDED.move_to_end(key)
    return _EXPANDED[key]


def remember(root: Path | None, path: Path, options, program, cfg, text_given: bool) -> None:
    """The analysed file's own expansion, so that a summary of one of its
    functions (reached from another file's summary) does not expand it again.
    Not for an editor buffer or patch text that differs from the disk."""
    if root is None or text_given:
        return
    try:
        rel = str(Path(path).resolve().relative_to(Path(root).resolve()))
    except ValueError:
        return
    key = (*_file_key(root, rel), options_key(options))
    if any(k[:3] != key[:3] for k in _OWN):
        _OWN.clear()  # another file: the one before is not read again from here
    _OWN.setdefault(key, (program, cfg))


def _summarise(root: Path, rel: str, name: str, options, depth: int, kernel32: bool) -> Callee | None | bool:
    """What the asm function ``name`` of ``rel`` does to registers; None when
    its code cannot be followed (opaque), False when the file, expanded with
    ``options``, does not define it (a file found by a name's head defines
    other names)."""
    got = expanded(root, rel, options)
    if got is None:
        return None
    program, cfg = got
    sym = program.symbols.get(name)
    if sym is None:
        return False
    if sym.start >= cfg.n:
        return None
    inner = Callees(root, options, kernel32, depth + 1)
    res = walk(program, cfg, cfg.entry(sym.start), inner)
    if res is None:
        return None
    reads, clobbers, gs, declared = res
    return Callee(name, "asm", reads, clobbers, gs, rel, declared=declared)


# -- the walk ------------------------------------------------------------------

LIMIT = 20_000  # (node, state) visits per function
_REGS = regs.TRACKED  # every general register but %rsp


def walk(program, cfg, start: int | None, callees) -> tuple[frozenset, frozenset, bool, bool] | None:
    """From ``start`` to every return: (registers read with their entry value,
    registers not holding their entry value at some return, may touch GS,
    whether what it reads is known -- every C function it calls has a
    prototype), or None when some path cannot be followed (a callee of its
    own is opaque too).

    A state is (what each register holds, the values pushed since entry,
    whether a serializing instruction was passed); a value is the name of
    the register whose entry value it is, or None.  GS counts only where
    nothing serialized before it (``lfence; call handle_x``: fenced)."""
    from entrylint.analysis.liveness import RETURN_THUNKS, names_internal

    if start is None:
        return None
    P = program.instructions
    init = (tuple(_REGS), (), False)
    todo = [(start, init)]
    seen = {(start, init)}
    reads: set[str] = set()
    clobbers: set[str] = set()
    gs = False
    returned = False
    declared = True

    def use(vals, regs_read):
        for r in regs_read:
            if r in _REGS:
                v = vals[_REGS.index(r)]
                if v is not None:
                    reads.add(v)

    def at_return(vals, stack) -> bool:
        if stack:
            return False  # returns with something still pushed: not a plain return
        clobbers.update(r for r, v in zip(_REGS, vals) if v != r)
        return True

    def call_out(name, vals, fenced) -> bool:
        """A call (or tail call) out of the file: what the callee reads and
        clobbers; False when it is opaque."""
        nonlocal declared, gs
        callee = callees(name)
        if callee.kind == "opaque":
            return False
        declared = declared and callee.declared
        use(vals, callee.reads)
        gs = gs or callee.gs and not fenced
        for r in callee.clobbers:
            if r in _REGS:
                vals[_REGS.index(r)] = None
        return True

    while todo:
        if len(seen) > LIMIT:
            return None
        node, (vals, stack, fenced) = todo.pop()
        if cfg.is_fork(node):
            nexts = [e.dst for e in cfg.succ(node)]
        else:
            x = P[node]
            info = x.info
            if info is None:
                return None
            if any(m.gs_relative and m.access is not Access.ADDRESS for m in info.mem) and not fenced:
                gs = True
            fenced = fenced or bool(info.serializing)
            flow, op = info.flow, info.op
            vals = list(vals)
            nexts = None
            if flow is Flow.CALL and x.target is None and not names_internal(program, x.target_name or ""):
                if not call_out(x.target_name, vals, fenced):
                    return None
            elif flow is Flow.RET or flow is Flow.JUMP and x.target is None and x.target_name in RETURN_THUNKS:
                if not at_return(vals, stack):
                    return None
                returned = True
                continue
            elif flow is Flow.JUMP and x.target is None and x.target_name and \
                    not names_internal(program, x.target_name):
                if not call_out(x.target_name, vals, fenced):  # a tail call: its return is ours
                    return None
                if not at_return(vals, stack):
                    return None
                returned = True
                continue
            elif flow in (Flow.CALL, Flow.INDIRECT_CALL, Flow.INDIRECT_JUMP, Flow.IRET, Flow.EXIT_TO_USER) \
                    or flow in (Flow.JUMP, Flow.COND_JUMP) and x.target is None:
                return None  # a call into its own file, an indirect branch: not followed
            elif op is DataOp.PUSH and "rsp" in info.regs_written:
                src = getattr(info, "src", None)
                if src not in _REGS:
                    use(vals, info.regs_read)  # pushq 8(%rbp): the address registers
                stack = stack + ((vals[_REGS.index(src)] if src in _REGS else None),)
            elif op is DataOp.POP and "rsp" in info.regs_written:
                dst = getattr(info, "dst", None)
                if not stack or dst not in _REGS:
                    return None
                vals[_REGS.index(dst)] = stack[-1]
                stack = stack[:-1]
            elif "rsp" in info.regs_written:
                return None  # %rsp moved in a way the walk does not track (sub, lea, leave, pushf)
            else:
                src, dst = getattr(info, "src", None), getattr(info, "dst", None)
                copy = op is DataOp.MOVE and src in _REGS and dst in _REGS and not getattr(info, "dst_partial", False)
                if not copy:
                    use(vals, info.regs_read)
                held = vals[_REGS.index(src)] if copy else None
                for r in info.regs_written:
                    if r in _REGS:
                        vals[_REGS.index(r)] = held if copy and r == dst else None
            if flow is Flow.STOP:
                continue
            vals = tuple(vals)
            if nexts is None:
                nexts = [e.dst for e in cfg.succ(node)]
        for d in nexts:
            k = (d, (tuple(vals), stack, fenced))
            if k not in seen:
                seen.add(k)
                todo.append(k)
    if not returned:
        return None
    return frozenset(reads), frozenset(clobbers), gs, declared
