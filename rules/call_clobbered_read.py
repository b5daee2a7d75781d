"""Checks that no caller-saved register is read after a C call clobbered it.

## What it does
Reports the instruction that reads a caller-saved register (64-bit code:
``%rcx``, ``%rdx``, ``%rsi``, ``%rdi``, ``%r8``-``%r11``; 32-bit code:
``%ecx``, ``%edx``; never ``%rax``/``%eax``, the return value) after a
``call`` into C clobbered it, before anything wrote it again; the message
names the (first) call and spells the registers as the code's mode does.
An exit to user mode (``sysretq``, ``sysexit``, ``iretq``, ``iret``) counts
as a read of every register of the mode: the clobbered value would reach
user space (or the interrupted context an ``iret`` returns to).  An
``iret``/``ERETS`` through a frame the path built itself, whose RIP is one
of the program's labels (``pushq $1f``, or ``leaq 1f(%rip)`` pushed:
6.9+'s ``asm_fred_entry_from_kvm``), returns to no other context: the search
goes on at that label (``analysis/frames.py``: ``iret_targets``).  One finding per reading
instruction, however many calls clobber what it reads.

A call clobbers only a value the code had: on some path back from the call
an instruction wrote the register, or the entry point received it (from
user mode or an interrupted context: every register; a function C calls:
the arguments its C declaration gives it, found in the headers of its
folder and of ``arch/x86/include/asm``, every argument register when none is found; global
code C declares, as ``SYM_CODE_START`` functions called from C are, the
same).  A register that no path gave a value holds garbage before the
call as after it: ACPI's ``do_suspend_lowlevel(void)`` stores every
register into ``saved_context`` after ``call save_processor_state``, and
loses nothing.

Message: ``%rdx is clobbered by the call to do_work() and read later by movq %rdx, RDX(%rsp)``.

## Why is this bad?
Under the SysV x86-64 ABI a C function may clobber every caller-saved
register (MODEL 1, 4).  A value kept in ``%rdx`` across ``call`` is garbage
afterwards, and user registers must come back intact.  32-bit code (the
instruction's code mode) follows the i386 kernel ABI instead (``-mregparm=3``):
only %eax, %ecx and %edx are caller-saved, %ebx, %esi, %edi and %ebp survive
a call, and there is no %r8-%r15 to clobber.

## Example
```asm
	movq	RIP(%rsp), %rcx
	call	syscall_exit_work
	sysretq
```

Use instead:
```asm
	call	syscall_exit_work
	movq	RIP(%rsp), %rcx
	sysretq
```

## Options
``preserving``: names of C functions known to preserve every register
(none by default), e.g. ``[tool.entrylint.call-clobbered-read] preserving =
["my_save_all_helper"]``.

Only direct calls out of the analyzed file are judged (a callee that is asm
of the analyzed file has its own code and is followed, not assumed).  What
such a call clobbers and reads comes from ``analysis/callees.py`` (MODEL 4):
a C function clobbers the caller-saved registers and reads the argument
registers its prototype declares (the tree's C index; unknown: all six), so
a clobbered ``%rdx`` that reaches a call to a 3-argument handler is a read,
and one that reaches a 2-argument call is not; an asm function of another
file of the tree (a ``THUNK``) clobbers and reads what its own code does;
one whose code cannot be followed (the retbleed untraining sequences) is
not judged: what it clobbers is not known.  Nor is a static call (a name
with the tree's ``STATIC_CALL_TRAMP_PREFIX``, ``__SCT__``, as the file's
macros define it): its trampoline goes where ``static_call_update()``
pointed it at run time, C or not (7.x's Hyper-V VTL return calls a
hypercall page that keeps no register).
Indirect calls (paravirt hooks that preserve registers, ``CALL_NOSPEC``)
are passed through, indirect jumps end the search.  ``cpuid`` reads
``%ecx`` (the subleaf) only for leaves that have subleaves: after ``movl
$0x80000001, %eax`` in the straight-line code before it, it does not
(``program/effects.py`` ``NO_SUBLEAF``).  A ``call`` that jumps over a
speculation trap to the code right after it (``call 772f; int3; 772:``,
the RSB filling of ``FILL_RETURN_BUFFER``) drops its return address: no
``ret`` comes back to it.

## References
- MODEL 1, 4 (SysV ABI; the i386 kernel ABI for 32-bit code); the review of the first KAISER patch ("the
  registers we are allowed to clobber can vary").
"""

from __future__ import annotations

import sys
from collections import deque

from pathlib import Path

from entrylint.analysis.callees import declared_params
from entrylint.analysis.entries import K_FROM_C
from entrylint.analysis.frames import iret_targets
from entrylint.analysis.liveness import Procedures, outside_kind, succ_nodes
from entrylint.analysis.regs import GPRS, abi, spelled
from entrylint.findings.model import Finding, Severity
from entrylint.plugins import hookimpl
from entrylint.plugins.info import RuleInfo
from entrylint.plugins.support import finding, node_table
from entrylint.program.effects import Flow, goes_on_in_program


class CallClobberedRead(Finding):
    id = "EL103"
    slug = "call-clobbered-read"
    severity = Severity.WARNING
    template = "{regs} clobbered by the call to {callee}() and read later by {reader}"


@hookimpl
def entrylint_rules():
    return [RuleInfo.from_module(sys.modules[__name__], CallClobberedRead, precision="medium",
                                 tags=("abi", "registers"))]


@hookimpl
def entrylint_check(analysis, config):
    if not config.is_enabled(CallClobberedRead.id) or analysis.liveness is None:
        return
    program, cfg = analysis.program, analysis.cfg
    preserving = set(config.option(CallClobberedRead.slug, "preserving", ()) or ())
    procs = analysis.procedures or Procedures.build(program, cfg)
    callee = _callees(analysis)
    # reader -> register -> the first call (in program order) whose clobber it reads
    readers: dict[int, dict[str, object]] = {}
    search = Search(analysis, procs, callee)
    for ins in program.instructions:
        if not search.c_call(ins) or ins.target_name in preserving:
            continue
        c = callee(ins.target_name)
        if c.kind == "opaque":
            continue
        clobbers = c.clobbers
        live = analysis.liveness.after(ins.index) & (clobbers - {"rax"})
        for r in GPRS:
            if r in live:
                x = search.first(ins.index, r)
                if x is not None and search.held(ins.index, r):
                    readers.setdefault(x.index, {}).setdefault(r, ins)
    # one finding per reader: where the garbage is read (or leaves for user mode)
    for idx in sorted(readers):
        regs_calls = readers[idx]
        first = min(regs_calls.values(), key=lambda c: c.index)
        regs = " ".join(f"%{spelled(r, first.mode)}" for r in regs_calls) + (" is" if len(regs_calls) == 1 else " are")
        reader = program.instructions[idx]
        yield finding(CallClobberedRead, analysis, reader, regs=regs, callee=first.target_name,
                      reader=describe(reader))


def _callees(analysis):
    got = getattr(analysis, "callees", None)
    if got is not None:
        return got
    from entrylint.analysis.callees import Callees

    P = analysis.program.instructions
    return Callees(kernel32=bool(P) and all(i.mode != 64 for i in P))  # no tree: C by the file's ABI


def _c_call(program, ins) -> bool:
    info = ins.info
    return (info is not None and info.flow is Flow.CALL and ins.target is None
            and outside_kind(program, ins.target_name, None) == "c")


def describe(x) -> str:
    return "the exit to user mode" if x.info.flow in (Flow.EXIT_TO_USER, Flow.IRET) else x.text


class Search:
    """Where a register's value goes after a node: :meth:`first` is the
    nearest instruction that reads it before any write of it.  With
    ``callee`` (what a call out of the file does), a later such call reads
    it when its callee does (an argument its prototype declares), one that
    clobbers it answers for it from there, and one that keeps it is passed;
    without, every call out of the file ends the search, and so does an
    indirect call (a paravirt op, a pointer from a table: code we cannot
    see, clobbering under the call ABI).  A ``jmp *%reg`` goes on where the
    walk followed it (a code address the path loaded into the register),
    else ends the search.  Unlike liveness, a register is not
    kept alive across a partial write (``movb $0xfc, %al; shl $56, %rax``).

    Breadth first: the nearest reader, ties in the order the successors are
    listed.  The nodes from which no reader of the register can be reached
    at all (one pass backwards from its readers, linear in the program,
    made the first time the register is asked about) are not entered: the
    answer is the same (such a node is never on a path to a reader, and the
    nodes kept are visited in the same order), and a file whose calls
    clobber what nothing reads no longer costs calls x program."""

    def __init__(self, analysis, procs, callee=None) -> None:
        self.analysis, self.procs, self.callee = analysis, procs, callee
        self._nodes: list[_Node] | None = None
        self._preds: dict[int, list[int]] | None = None
        self._readers: dict[str | None, list[int]] = {}  # register (None: every one) -> nodes reading it
        self._reach: dict[str, frozenset[int]] = {}
        # the last analysis' reach sets and its nodes made again here (old, new):
        # a register none of those reads, ends or leads elsewhere for has its last set
        self._last_reach: dict[str, frozenset[int]] = {}
        self._remade: list[tuple[_Node, _Node]] = []
        self._c: dict[str | None, bool] = {}
        self._starts_at: dict[int, list] | None = None  # node -> the entry points that start there
        self._global_at: dict[int, list[str]] | None = None  # node -> the global symbols that start there
        self._params: dict[str, int | None] = {}  # a C-callable entry point -> its declared parameters
        self._starts: dict[int, tuple[int, ...]] = {}  # node -> its successors (a search starts there)
        self._rw: dict[int, tuple] = {}  # id(info) -> (registers read, written): instructions share infos
        self.entered = 0  # nodes the searches entered (the work, for tests)

    def first(self, node: int, reg: str):
        nodes = self._table()
        keep = self._reach.get(reg)
        if keep is None:
            keep = self._reach[reg] = self._reaching(reg)
        if not keep:
            return None
        P = self.analysis.program.instructions
        start = self._starts.get(node)
        if start is None:
            start = self._starts[node] = tuple(succ_nodes(self.analysis.cfg, node))
        if len(start) == 1:  # the search's first node, as the loop below would take it (most calls)
            v = start[0]
            if v not in keep:
                return None
            self.entered += 1
            n = nodes[v]
            if n.read_all or reg in n.read:
                return P[v]
            if n.end_all or reg in n.end:
                return None
            todo, seen = deque(n.next), {v}
        else:
            todo, seen = deque(start), set()
        while todo:
            v = todo.popleft()
            if v in seen or v not in keep:
                continue
            seen.add(v)
            self.entered += 1
            n = nodes[v]
            if n.read_all or reg in n.read:
                return P[v]
            if not (n.end_all or reg in n.end):
                todo.extend(n.next)
        return None

    def _table(self) -> list[_Node]:
        """The nodes (plugins/support.node_table: one table per analysis),
        and the reach sets the analysis' searches share."""
        if self._nodes is None:
            key = ("search", self.callee is not None)
            if self.callee is None:
                self._nodes = node_table(self.analysis, key, self._node)
            else:  # the search without a callee's table (live-scratch's), but where a callee can matter
                base = Search(self.analysis, self.procs)._table()
                self._nodes = node_table(self.analysis, key, lambda v: self._node_over(base, v))
            if self.analysis.carries:  # (shared with the analysis' other searches and the next analysis)
                self._reach = self.analysis.memo.setdefault(("search-reach", key[1]), {})
            carried = self.analysis.carried
            last = carried.get(key) if carried is not None else None
            if last is not None and len(last[0]) == len(self._nodes):
                old = last[0]
                self._remade = [(old[v], n) for v, n in enumerate(self._nodes) if n is not old[v]]
                self._last_reach = carried.get(("search-reach", key[1]), {})
        return self._nodes

    def _reaching(self, reg: str) -> frozenset[int]:
        last = self._last_reach.get(reg)
        if last is not None and all(a.reads(reg) == b.reads(reg) and a.ends(reg) == b.ends(reg) and a.next == b.next
                                    for a, b in self._remade):
            return last  # (the nodes it is made of are the same for it)
        nodes = self._nodes
        self._preds_and_readers()
        preds = self._preds
        todo = self._readers.get(reg, []) + self._readers.get(None, [])
        out = set(todo)
        while todo:
            for v in preds.get(todo.pop(), ()):
                if v not in out and not nodes[v].ends(reg):
                    out.add(v)
                    todo.append(v)
        return frozenset(out)

    def held(self, node: int, reg: str) -> bool:
        """Whether ``reg`` may hold a value of the code's before ``node``
        (so that a call there clobbers something): on some path back to an
        entry point an instruction writes it, or the entry point receives it
        -- every register from user mode or an interrupted context, the
        arguments its C declaration gives a function called from C (all of
        them when none is found).  A call on the way (into C, or code we
        cannot see) answers for it as a write does: the search from that
        call reports what it clobbered, and a value before it is not lost
        from view."""
        nodes = self._table()
        self._preds_and_readers()
        starts = self._entry_starts()
        todo, seen = deque([node]), set()
        while todo:
            v = todo.popleft()
            if v in seen:
                continue
            seen.add(v)
            if v != node and (nodes[v].end_all or reg in nodes[v].end):
                return True
            for e in starts.get(v, ()):
                if self._receives(e.kind.name, e.symbol, reg):
                    return True
            preds = self._preds.get(v, ())
            if not preds and v not in starts:
                # global code C declares (SYM_CODE_START of a function C
                # calls, as OLPC's do_olpc_suspend_lowlevel): what C passes;
                # else reached from where we do not know
                names = self._globals().get(v)
                if not names or any(self._receives(K_FROM_C.name, s, reg, declared=True) for s in names):
                    return True
            todo.extend(preds)
        return False

    def _preds_and_readers(self) -> None:
        if self._preds is None:
            self._preds = {}
            for v, n in enumerate(self._nodes):
                for w in n.next:
                    self._preds.setdefault(w, []).append(v)
                for r in (None,) if n.read_all else n.read:
                    self._readers.setdefault(r, []).append(v)

    def _globals(self) -> dict[int, list[str]]:
        """Node -> the global symbols that start there."""
        if self._global_at is None:
            self._global_at = {}
            cfg = self.analysis.cfg
            for s in self.analysis.program.symbols.values():
                if s.is_global and s.start < cfg.n:
                    self._global_at.setdefault(cfg.entry(s.start), []).append(s.name)
        return self._global_at

    def _entry_starts(self) -> dict[int, list]:
        if self._starts_at is None:
            self._starts_at = {}
            for e in self.analysis.entries:
                self._starts_at.setdefault(e.node, []).append(e)
        return self._starts_at

    def _receives(self, kind: str, symbol: str, reg: str, declared: bool = False) -> bool:
        """Whether an entry point (its kind's name, its symbol) receives a
        value in ``reg`` from who enters it.  ``declared``: only if a C
        declaration says how C calls it (else: it does)."""
        if kind != K_FROM_C.name:
            return True
        got = self._params.get(symbol, False)
        if got is False:
            exp = self.analysis.expansion
            got = None
            if exp.root is not None:
                try:
                    folder = Path(exp.path).resolve().parent.relative_to(Path(exp.root).resolve()).as_posix()
                except ValueError:
                    folder = None
                if folder is not None:
                    got = declared_params(exp.root, folder, symbol)
            self._params[symbol] = got
        if got is None:
            return True if declared else reg in self._args()
        return reg in self._args()[:got]

    def _args(self) -> tuple[str, ...]:
        P = self.analysis.program.instructions
        return abi(P[0].mode if P else 64).args

    def c_call(self, x) -> bool:
        """``_c_call``, remembered by target name."""
        info = x.info
        if info is None or info.flow is not Flow.CALL or x.target is not None:
            return False
        got = self._c.get(x.target_name)
        if got is None:
            got = self._c[x.target_name] = _c_call(self.analysis.program, x)
        return got

    def _node_over(self, base: list[_Node], v: int) -> tuple[_Node, bool]:
        """``_node(v)`` from the table of the search without a callee
        (``base``): a callee is only asked at a call or jump (out of the
        file), and made again there (so is what reads the walk, an indirect
        jump or an iret, as ``_node`` says it reads more)."""
        if v < self.analysis.cfg.n:
            info = self.analysis.program.instructions[v].info
            if info is not None and info.flow in _ASKING:
                return self._node(v)
        return base[v], False

    def _reads_writes(self, info) -> tuple:
        """(info, registers it reads, registers it writes for sure and does not read), kept by id."""
        read = frozenset(info.regs_read)
        got = self._rw[id(info)] = (info, read, frozenset(info.regs_written) - frozenset(info.regs_cond_written) - read)
        return got

    def _node(self, v: int) -> tuple[_Node, bool]:
        """What the search does at node ``v``, for every register at once,
        and whether that read what a callee out of the file does."""
        an = self.analysis
        cfg = an.cfg
        if v >= cfg.n:  # a fork
            return _Node(next=succ_nodes(cfg, v)), False
        x = an.expansion.program.instructions[v]
        info = x.info
        if goes_on_in_program(x):  # (most nodes: the last case below)
            rw = self._rw.get(id(info)) or self._reads_writes(info)
            return _Node(rw[1], rw[2], next=succ_nodes(cfg, v)), False
        procs, callee = self.procs, self.callee
        if info is None or info.flow is Flow.STOP:
            return _END, False
        if info.flow is Flow.INDIRECT_JUMP:
            # on to where the walk followed it (a code address the path loaded
            # into the register: the SYSCALL trampoline's jump to its second
            # stage); else code we cannot see.  (It reads the walk: made again
            # for every analysis.)
            nxt = self.analysis.forward.register_targets(v)
            return (_Node(frozenset(info.regs_read), next=nxt) if nxt else _END), True
        if info.flow is Flow.IRET and (nxt := iret_targets(self.analysis.forward, v)):
            return _Node(next=nxt), True  # a frame the path built: on at its label (it reads the walk)
        if info.flow in (Flow.EXIT_TO_USER, Flow.IRET):
            return _Node(read_all=True), False  # user mode reads every register
        _, read, written = self._rw.get(id(info)) or self._reads_writes(info)
        if info.flow is Flow.INDIRECT_CALL:
            return _Node(read, end_all=True), False  # code we cannot see, under the call ABI: it answers for them
        if self.c_call(x) or v in procs.leaves and procs.leaves[v] == "c-tail":
            c = callee(x.target_name) if callee is not None else None
            if c is None or c.kind == "opaque":
                # what it does with the registers is not known
                return _Node(read, end_all=True), c is not None
            if c.declared:
                read |= frozenset(c.reads) - written  # the callee reads them as arguments
            if info.flow is Flow.JUMP:
                return _Node(read, end_all=True), True
            # clobbered again: that call answers for them; an asm callee keeps the rest
            return _Node(read, written | frozenset(c.clobbers) | frozenset(c.reads), next=succ_nodes(cfg, v)), True
        if info.flow is Flow.CALL and v in procs.callee:
            nxt = (procs.callee[v],)
        elif v in procs.leaves:
            nxt = tuple(procs.returns_to.get(v, ()))
        elif info.flow is Flow.JUMP and x.target is None or info.flow is Flow.CALL:
            return _Node(read, end_all=True), False  # out of the program, not C: unknown
        else:
            nxt = succ_nodes(cfg, v)
        return _Node(read, written, next=nxt), False


# the flows at which _node may ask the callee or read the walk
_ASKING = frozenset({Flow.CALL, Flow.JUMP, Flow.INDIRECT_JUMP, Flow.IRET})


class _Node:
    """One node of :class:`Search`: the registers it reads (the search
    stops there with it), those at which the search ends for a register
    (a write, a call that answers for it), and where it goes on to."""

    __slots__ = ("end", "end_all", "next", "read", "read_all")

    def __init__(self, read=frozenset(), end=frozenset(), *, read_all=False, end_all=False, next=()) -> None:
        self.read, self.end, self.read_all, self.end_all, self.next = read, end, read_all, end_all, next

    def reads(self, reg: str) -> bool:
        return self.read_all or reg in self.read

    def ends(self, reg: str) -> bool:
        return self.end_all or reg in self.end


_END = _Node(end_all=True)
