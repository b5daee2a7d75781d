"""Entry points and the tuples they start with (MODEL 3).

One table, read top to bottom; the first row that matches a symbol decides.
A row matches by symbol name (exact or ``*`` pattern) or by the macro whose
expansion defined the symbol (``idtentry``, ``apicinterrupt``: the IDT-entry
macros of each version), and says which tuples the CPU can arrive with:

- SYSCALL (64-bit and compat): from user, user GS, user CR3, user %rsp;
- SYSENTER: the same on the entry stack (the MSR points %rsp there);
- IDT vectors and int $0x80: from user (entry stack) or from kernel (its stack);
  an exception from kernel mode may also arrive at an exit instruction that
  faults with the user GS or CR3 (``EXIT_SITES``); a maskable interrupt
  cannot: the kernel runs those exit windows with interrupts disabled, so an
  external interrupt only ever finds the kernel's GS and CR3 (``IRQ``);
- paranoid vectors (NMI, #MC, #DB, #DF, #VC): any GS, any CR3, on an IST stack;
  a 32-bit kernel has no IST: from user mode on the entry stack (TSS.sp0),
  from kernel mode on the stack it interrupted, which is the entry stack
  wherever the kernel runs with the user CR3 (``on_32bit``);
- a task gate (the 32-bit double fault): the state of the TSS it names, as
  the tree's C code initialises it (``analysis/task_gates.py``);
- FRED entries (6.9+): the CPU already switched the GS base; PTI is off;
- ret_from_fork: a new task returning to user through the exit path;
- asm functions called from C: kernel state.  Not the native implementation
  of a paravirt op (``native_iret``, ``native_usergs_sysret64``: ``native_``
  and the op a patch site of the program names, the kernel's pv_ops
  convention): it is reached from its patch sites, with their state, never
  as a C function (MODEL 6.1).

After the table, the tree's own C code: a 64-bit symbol the tree writes to
the SYSCALL/SYSENTER MSRs is that kind of entry whatever its annotation
(4.x ``ENTRY(ignore_sysret)``), and an entry the MSR write picks by a feature
test starts with that feature's value (4.15-4.19: ``entry_SYSCALL_64`` only
with PTI off, the trampoline only with PTI on; ``analysis/msr_entries.py``).

Symbols that nothing in the table names (inner labels, helpers reached by
call or jump) are not entry points: they get their state from the paths
that reach them.  A configuration can add rows (``extra``).
"""

from __future__ import annotations

import fnmatch
import re

from entrylint.analysis.state import Feature, Origin, Space, Stack, Tuple
from entrylint.source.record import data

U, K = Space.USER, Space.KERNEL


def _t(origin: Origin, gs: Space, cr3: Space, stack: Stack, **features: Feature) -> Tuple:
    """A tuple assuming ``features`` and what they imply (state.IMPLIES: Xen
    PV has no PTI, as a gate on PTI would find on the way)."""
    t = Tuple(origin, gs, cr3, stack)
    for k, v in sorted(features.items()):
        t = t.assume(f"X86_FEATURE_{k}", v)
    return t


SYSCALL = frozenset({_t(Origin.USER, U, U, Stack.USER)})
SYSENTER = frozenset({_t(Origin.USER, U, U, Stack.ENTRY)})
IDT = frozenset({_t(Origin.USER, U, U, Stack.ENTRY), _t(Origin.KERNEL, K, K, Stack.TASK)})
INT80 = frozenset({_t(Origin.USER, U, U, Stack.ENTRY)})
PARANOID = frozenset({_t(Origin.USER, U, U, Stack.IST)} |
                     {_t(Origin.KERNEL, gs, cr3, Stack.IST) for gs in (U, K) for cr3 in (U, K)})
FRED_USER = frozenset({_t(Origin.USER, K, U, Stack.TASK, FRED=Feature.ON, PTI=Feature.OFF)})
FRED_KERNEL = frozenset({_t(Origin.KERNEL, K, K, Stack.TASK, FRED=Feature.ON, PTI=Feature.OFF)})
XENPV = frozenset({_t(Origin.USER, K, K, Stack.TASK, XENPV=Feature.ON),
                   _t(Origin.KERNEL, K, K, Stack.TASK, XENPV=Feature.ON)})
FORK = frozenset({_t(Origin.USER, K, K, Stack.TASK)})
FROM_C = frozenset({_t(Origin.KERNEL, K, K, Stack.TASK)})


@data(frozen=True)
class EntryKind:
    name: str
    tuples: frozenset


@data(frozen=True)
class Row:
    kind: EntryKind
    names: tuple[str, ...] = ()  # symbol names or fnmatch patterns
    macros: tuple[str, ...] = ()  # macros whose expansion defines the symbol


K_NMI_REPEAT = EntryKind("nmi-repeat", frozenset(t for t in PARANOID if t.origin is Origin.KERNEL))
K_SYSCALL = EntryKind("syscall", SYSCALL)
K_SYSENTER = EntryKind("sysenter", SYSENTER)
K_INT80 = EntryKind("int80", INT80)
K_IDT = EntryKind("idt", IDT)
K_IRQ = EntryKind("irq", IDT)  # maskable interrupts: no exit-site tuples (IF=0 there)
K_PARANOID = EntryKind("paranoid", PARANOID)
K_FRED_USER = EntryKind("fred-user", FRED_USER)
K_FRED_KERNEL = EntryKind("fred-kernel", FRED_KERNEL)
K_XENPV = EntryKind("xen-pv", XENPV)
K_FORK = EntryKind("ret-from-fork", FORK)
K_FROM_C = EntryKind("called-from-c", FROM_C)

TABLE: tuple[Row, ...] = (
    # SYSCALL/SYSENTER targets, every family (4.15-4.19 land on a trampoline first)
    Row(K_SYSCALL, names=("entry_SYSCALL_64", "entry_SYSCALL_64_trampoline", "entry_SYSCALL_compat",
                          "entry_SYSCALL32_ignore", "system_call")),
    Row(K_SYSENTER, names=("entry_SYSENTER_compat", "ia32_sysenter_target")),
    Row(K_INT80, names=("entry_INT80_compat", "ia32_syscall")),
    # the 32-bit kernel's (entry_32.S, 4.4+): SYSENTER lands on the stack of
    # MSR_IA32_SYSENTER_ESP, int $0x80 on the TSS's; the user's %fs until SAVE_ALL
    Row(K_SYSENTER, names=("entry_SYSENTER_32",)),
    Row(K_INT80, names=("entry_INT80_32",)),
    # paranoid vectors: 6.x names, then 4.x names
    Row(K_PARANOID, names=("asm_exc_nmi", "asm_exc_machine_check", "asm_exc_debug", "asm_exc_double_fault",
                           "asm_exc_vmm_communication", "nmi", "machine_check", "debug", "double_fault")),
    Row(K_PARANOID, macros=("idtentry_mce_db", "idtentry_df", "idtentry_vc")),
    # the outer NMI's final iret lands here when a nested NMI rewrote its frame
    Row(K_NMI_REPEAT, names=("repeat_nmi",)),
    # FRED (6.9+)
    Row(K_FRED_USER, names=("asm_fred_entrypoint_user",)),
    Row(K_FRED_KERNEL, names=("asm_fred_entrypoint_kernel",)),
    # Xen PV callbacks run with the hypervisor's isolation, not PTI
    # (xen_error_entry is a helper called through an alternative, not an entry)
    Row(K_XENPV, names=("xen_failsafe_callback", "xen_*_callback", "exc_xen_*", "asm_exc_xen_*",
                        "xen_syscall_target", "xen_sysenter_target", "xen_syscall32_target")),
    Row(K_FORK, names=("ret_from_fork", "ret_from_fork_asm")),
    # SYM_CODE (not SYM_FUNC) helpers that C code calls
    Row(K_FROM_C, names=("rewind_stack_and_make_dead", "rewind_stack_do_exit")),
    # maskable interrupts made by the IRQ/APIC macros of each version (checked
    # before ``idtentry``: 5.8+ idtentry_irq/_sysvec expand through it)
    Row(K_IRQ, macros=("idtentry_irq", "idtentry_sysvec", "apicinterrupt", "apicinterrupt3",
                       "trace_apicinterrupt", "interrupt")),
    Row(K_IRQ, names=("asm_sysvec_*", "asm_common_interrupt", "asm_spurious_interrupt",
                      "irq_entries_start", "spurious_entries_start")),
    # exception vectors made by the IDT-entry macros of each version
    Row(K_IDT, macros=("idtentry", "idtentry_body")),
    Row(K_IDT, names=("asm_exc_*",)),
)

# Annotations of asm functions meant to be called (from C or asm): kernel state.
FUNCTION_KINDS = ("SYM_FUNC_START", "SYM_FUNC_START_LOCAL", "SYM_FUNC_START_NOALIGN",
                  "SYM_FUNC_START_WEAK", "SYM_TYPED_FUNC_START", "ENTRY", "function")


@data(frozen=True)
class Entry:
    symbol: str
    node: int  # CFG node (instruction index, or the fork at that place)
    kind: EntryKind


def label_macros(program) -> dict[str, tuple[str, ...]]:
    """For each label, the macros whose expansion wrote it (its first
    definition): one pass over the statements for every symbol (a pass per
    symbol was quadratic: found by tools/fuzz.py, minutes on a big expansion)."""
    out: dict[str, tuple[str, ...]] = {}
    for st in program.statements:
        if st.kind == "label" and st.name not in out:
            # each name once: a label deep in a recursive expansion has its
            # few macros hundreds of times over (macro:73601 of tools/fuzz.py)
            out[st.name] = tuple(dict.fromkeys(f.name for f in st.trace if f.kind == "macro" and f.name))
    return out


def table_index(rows: tuple[Row, ...]):
    """The rows as lookups: the first row naming each literal name, each
    pattern row with its place, the first row naming each macro.  A program
    of 62k labels asked fnmatch 7.5M times, row by row: most of its
    classification."""
    names: dict[str, int] = {}
    patterns: list[tuple[int, re.Pattern[str]]] = []
    macros: dict[str, int] = {}
    for i, row in enumerate(rows):
        for n in row.names:
            if any(c in n for c in "*?["):
                patterns.append((i, re.compile(fnmatch.translate(n))))
            else:
                names.setdefault(n, i)
        for m in row.macros:
            macros.setdefault(m, i)
    return names, patterns, macros, len(rows)


def _first_row(index, name: str, label_macros: tuple[str, ...]) -> int | None:
    """The first row that names ``name`` or a macro that wrote it, as the
    table is read top-down (``index``: ``table_index`` of the rows)."""
    names, patterns, macros, n = index
    best = names.get(name, n)
    for i, pat in patterns:
        if i >= best:
            break
        if pat.match(name):
            best = i
            break
    for m in label_macros:
        i = macros.get(m, n)
        if i < best:
            best = i
    return best if best < n else None


def classify(program, symbol, rows: tuple[Row, ...] = TABLE, msr=None,
             labels: dict[str, tuple[str, ...]] | None = None, index=None) -> EntryKind | None:
    """``labels``: ``label_macros(program)``, and ``index``: ``table_index(rows)``,
    made once by a caller that classifies every symbol."""
    macros = (labels if labels is not None else label_macros(program)).get(symbol.name, ())
    first = _first_row(index if index is not None else table_index(rows), symbol.name, macros)
    if first is not None:
        return rows[first].kind
    by_msr = msr.kind(symbol.name) if msr is not None else None
    # a SYSCALL/SYSENTER MSR target of 64-bit code, whatever its annotation
    # (32-bit entry_SYSENTER_32 keeps its own: its TSS_entry2task_stack load
    # is not in the memory model yet)
    if by_msr is not None and _mode(program, symbol) == 64:
        return K_SYSENTER if by_msr == "sysenter" else K_SYSCALL
    if symbol.is_global and symbol.kind in FUNCTION_KINDS:
        return K_FROM_C
    return None


def _mode(program, symbol) -> int:
    P = program.instructions
    return getattr(P[symbol.start], "mode", 64) if symbol.start < len(P) else 64


def find_entries(program, cfg, extra: tuple[Row, ...] = (), msr=None,
                 labels: dict[str, tuple[str, ...]] | None = None,
                 kinds: dict[str, EntryKind | None] | None = None, tasks=None) -> list[Entry]:
    """Every entry point of the program, in program order.  ``msr``: the
    SYSCALL/SYSENTER targets the tree's C code writes and the features each
    is chosen under (``analysis/msr_entries.MsrEntries``); ``tasks``: a
    callable that reads the task-gate entries its TSS initializers name
    (``analysis/task_gates``), asked at the first 32-bit symbol.  Profiles that
    share the program's statements, symbols and CFG share what is read of
    them alone: ``labels`` (``label_macros(program)``) and ``kinds`` (each
    symbol's classification, filled here), given by the caller."""
    rows = tuple(extra) + TABLE
    gates = msr.gates if msr is not None else {}
    by_tss = None  # tasks(), when a 32-bit symbol asks
    out = []
    pv_native = {f"native_{op}" for _, op in getattr(program, "paravirt", ()) if op}
    if labels is None:
        labels = label_macros(program)
    index = table_index(rows)
    for sym in sorted(program.symbols.values(), key=lambda s: s.start):
        if sym.start >= len(program.instructions):
            continue
        if sym.kind == "SYM_INNER_LABEL" and not any(sym.name in row.names for row in rows):
            continue  # an inner label is an entry only where a row names it (repeat_nmi)
        if program.instructions[sym.start].section == ".altinstr_replacement":
            continue
        if kinds is not None and sym.name in kinds:
            kind = kinds[sym.name]
        else:
            kind = classify(program, sym, rows, msr, labels, index)
            if kind is K_FROM_C and (sym.name in pv_native or _leaves_to_user(program, cfg, sym)):
                kind = None
            if kinds is not None:
                kinds[sym.name] = kind
        if _mode(program, sym) == 32:
            if by_tss is None:  # (read once, and only for 32-bit code: a 64-bit file takes no task gate)
                by_tss = tasks() if tasks is not None else {}
            if sym.name in by_tss:
                kind = EntryKind("task-gate", by_tss[sym.name])
            elif kind is not None:
                kind = on_32bit(kind)
        if kind is None:
            continue
        node = cfg.entry(sym.start)
        if node is not None:
            if kind is K_IDT:
                kind = _with_sites(kind, program)
            if sym.name in gates:
                kind = _assuming(kind, gates[sym.name])
            out.append(Entry(sym.name, node, _with_disabled(kind, program, cfg)))
    return out


# Kernel-mode faults that can arrive with the user's GS (and CR3): at the exit's
# iret to user (#GP/#SS/#NP on a bad frame) and at the GS-selector load of
# load_gs_index.  (label, gs, cr3); only labels the program has are used.
# Both run with interrupts disabled: an exception can arrive there, an
# external interrupt (K_IRQ) cannot (NMIs are paranoid entries).
# The iret to user runs on the entry stack (4.15+), load_gs_index on the task's.
EXIT_SITES = (("native_irq_return_iret", U, U, Stack.ENTRY), (".Lgs_change", U, K, Stack.TASK),
              ("gs_change", U, K, Stack.TASK))


def on_32bit(kind: EntryKind) -> EntryKind:
    """``kind`` for 32-bit code: no IST there.  An interruption from user
    mode takes TSS.sp0, the entry stack; one from kernel mode stays on the
    stack it found: the task's, or the entry stack, the only one the kernel
    runs on with the user CR3 (it switches to it before the user CR3 on the
    way out, and off it after the kernel CR3 on the way in)."""
    if not any(t.stack is Stack.IST for t in kind.tuples):
        return kind
    tuples = {t for t in kind.tuples if t.stack is not Stack.IST}
    for t in kind.tuples:
        if t.stack is Stack.IST:
            tuples.add(t.with_(stack=Stack.ENTRY))
            if t.origin is Origin.KERNEL and t.cr3 is Space.KERNEL:
                tuples.add(t.with_(stack=Stack.TASK))
    return EntryKind(kind.name, frozenset(tuples))


def _with_sites(kind: EntryKind, program) -> EntryKind:
    extra = {Tuple(Origin.KERNEL, gs, cr3, stack, site=label)
             for label, gs, cr3, stack in EXIT_SITES if label in program.labels}
    return EntryKind(kind.name, kind.tuples | extra) if extra else kind


def _assuming(kind: EntryKind, features) -> EntryKind:
    tuples = set()
    for t in kind.tuples:
        for f, v in features:
            t = t.assume(f, v) if t is not None else None
        if t is not None:
            tuples.add(t)
    return EntryKind(kind.name, frozenset(tuples))


def _with_disabled(kind: EntryKind, program, cfg) -> EntryKind:
    """Every path starts knowing the features the configuration compiles out
    (Xen PV without CONFIG_XEN_PV, PTI without the PTI option)."""
    off = sorted(f for f in getattr(program, "disabled", ()) if f in cfg.tracked)
    if not off:
        return kind
    tuples = set()
    for t in kind.tuples:
        for f in off:
            t = t.assume(f, Feature.OFF) if t is not None else None
        if t is not None:
            tuples.add(t)
    return EntryKind(kind.name, frozenset(tuples))


def _leaves_to_user(program, cfg, sym, limit: int = 24) -> bool:
    """Whether the code at ``sym`` reaches a return to user mode (sysret,
    sysexit, iret) before any ``ret`` or call: a function C calls never does;
    such code is the native side of a paravirt op (``native_usergs_sysret64``,
    ``native_iret``), reached from its patch sites with their state, in a
    configuration that builds the function but not the patch sites."""
    from entrylint.program.effects import Flow

    P = program.instructions
    todo, seen = [cfg.entry(sym.start)], set()
    while todo and len(seen) < limit:
        n = todo.pop()
        if n is None or n in seen:
            continue
        seen.add(n)
        if not cfg.is_fork(n):
            info = P[n].info
            if info is None or info.flow in (Flow.RET, Flow.CALL, Flow.INDIRECT_CALL, Flow.INDIRECT_JUMP, Flow.STOP):
                continue
            if info.flow in (Flow.EXIT_TO_USER, Flow.IRET):
                return True
        todo.extend(e.dst for e in cfg.succ(n))
    return False
