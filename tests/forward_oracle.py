"""A brute-force oracle for the forward state (MODEL 3, 3.1), written from the
model's text and independent of ``entrylint.analysis.transfer``.

Programs are lists of ``Op`` (what the generator in
``test_forward_property.py`` writes as .S text).  The oracle enumerates every
path from the entry (programs are acyclic; a call into an asm helper is
followed into the helper and back, so that is finite too), carrying one
concrete state per path:

- the MODEL 3 tuple (origin, gs, cr3, stack), as plain strings;
- what each generated register holds: ``"cr3:user"`` / ``"cr3:kernel"`` (a
  value read from %cr3 that names that page table), ``"int:N"`` (a small
  integer, 0..255, the path put there: ``movq $42``, ``xorl``, and what
  ``addq $8`` / ``andq $~0x1000`` make of it) or nothing known;
- the values of ZF and CF when known (True / False), else None.

Flag abstraction (the one judgement call): a flag is known only from the
tests MODEL 3 refines on -- ``testb $3, CS(%rsp)`` (ZF set <=> from kernel)
and ``bt $12, %reg`` on a value read from CR3 (CF = the user bit) -- and, as
on the hardware, ZF after ``addq``/``andq`` of a small integer the path
holds (a flag word, a count: ZF <=> the result is 0).  Any other
instruction that writes a flag makes it unknown (the model does not follow
arbitrary values: ``orq $0x1000`` leaving ZF=0 is not tracked); an
instruction that leaves a flag alone keeps it (Intel SDM: BT/BTS/BTR leave
ZF unaffected; MOV, SWAPGS touch no flags; MOV to/from CR leaves all status
flags undefined; a call into C clobbers them).

At a conditional jump a known flag picks one edge, an unknown one takes both.
The result: for every instruction the set of tuples before it, and the
events (CR3 writes with their meaning, exits) as (kind, node, tuple, detail).
"""

from __future__ import annotations

from dataclasses import dataclass

# registers the generator uses: two caller-saved, two callee-saved
CALLER_SAVED = frozenset({"rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11"})

U, K = "user", "kernel"

# MODEL 3 / the entry table: the tuples each kind of entry point starts with
STARTS = {
    "entry_SYSCALL_64": frozenset({(U, U, U, "user")}),
    "asm_exc_page_fault": frozenset({(U, U, U, "entry"), (K, K, K, "task")}),
    "asm_exc_nmi": frozenset({(U, U, U, "ist")} | {(K, gs, cr3, "ist") for gs in (U, K) for cr3 in (U, K)}),
}


@dataclass(frozen=True)
class Op:
    """One generated instruction.

    kind: swapgs, rdcr3 (movq %cr3, %r), clr (user bit cleared: and/btr),
    set (user bit set: or/bts), wrcr3 (movq %r, %cr3), copy (movq %src, %r),
    clobber (an unrelated write to r: movq $imm / xorl / addq), testcs
    (testb $3, CS(%rsp)), bt (bt $12, %r), tasksp (movq %gs:pcpu_hot+24, %rsp),
    call (into C), callasm (call helper_fn), jmp, jcc, ret, sysret, iret."""

    kind: str
    reg: str | None = None
    src: str | None = None
    form: str = ""  # which spelling: and/btr, or/bts, mov/xor/add, jz/jnz/jc/jnc
    label: int | None = None  # branch target: index of an instruction


def flip(space: str) -> str:
    return U if space == K else K


def is_cr3(v: str | None) -> bool:
    return v is not None and v.startswith("cr3:")


def small(v: str | None) -> int | None:
    return int(v[4:]) if v is not None and v.startswith("int:") else None


@dataclass(frozen=True)
class St:
    t: tuple[str, str, str, str]  # origin, gs, cr3, stack
    regs: tuple[tuple[str, str], ...] = ()  # sorted (register, "cr3:X" / "int:N")
    zf: bool | None = None
    cf: bool | None = None

    def held(self, r: str | None) -> str | None:
        return dict(self.regs).get(r)

    def hold(self, r: str, v: str | None) -> St:
        d = dict(self.regs)
        d.pop(r, None)
        if v is not None:
            d[r] = v
        return St(self.t, tuple(sorted(d.items())), self.zf, self.cf)

    def with_t(self, **kw) -> St:
        o, g, c, s = self.t
        o, g, c, s = kw.get("origin", o), kw.get("gs", g), kw.get("cr3", c), kw.get("stack", s)
        return St((o, g, c, s), self.regs, self.zf, self.cf)

    def flags(self, zf="keep", cf="keep") -> St:
        return St(self.t, self.regs, self.zf if zf == "keep" else zf, self.cf if cf == "keep" else cf)


@dataclass
class Result:
    before: dict[int, set[tuple]]
    events: set[tuple]  # (kind, node, tuple, detail)
    paths: int


def run(ops: list[Op], entry: str, helper: int | None = None, bt_keeps_zf: bool = True) -> Result:
    """Every path from instruction 0 (entry point ``entry``); ``helper`` is the
    index where ``helper_fn`` starts (its ``ret`` returns to the caller).

    ``bt_keeps_zf``: BT/BTS/BTR leave ZF alone (the hardware); False makes
    them forget it, as the engine does today (one known flag per tuple)."""
    keep_zf = "keep" if bt_keeps_zf else None
    before: dict[int, set[tuple]] = {i: set() for i in range(len(ops))}
    events: set[tuple] = set()
    npaths = 0

    # explicit stack of (instruction, state, return address or None); each
    # item is one path prefix: no merging, every path walked to its end
    todo = [(0, St(t), None) for t in sorted(STARTS[entry])]
    while todo:
        i, s, ret = todo.pop()
        if i is None or i >= len(ops):
            npaths += 1  # fell off the end (not generated, but harmless)
            continue
        op = ops[i]
        before[i].add(s.t)
        origin, gs, cr3, stack = s.t
        nxt = i + 1
        k = op.kind
        if k == "swapgs":
            s = s.with_t(gs=flip(gs))
        elif k == "rdcr3":
            s = s.hold(op.reg, f"cr3:{cr3}").flags(None, None)
        elif k == "clr":
            n = small(s.held(op.reg))
            if op.form == "and" and n is not None:  # andq $~0x1000 keeps a small integer
                s = s.hold(op.reg, f"int:{n}").flags(n == 0, None)
            else:
                s = s.hold(op.reg, "cr3:kernel" if is_cr3(s.held(op.reg)) else None)
                s = s.flags(None if op.form == "and" else keep_zf, None)
        elif k == "set":  # a small integer with bit 12 set is not small
            s = s.hold(op.reg, "cr3:user" if is_cr3(s.held(op.reg)) else None)
            s = s.flags(None if op.form == "or" else keep_zf, None)
        elif k == "wrcr3":
            v = s.held(op.reg)
            if v == "cr3:kernel" and cr3 == "kernel":  # the kernel page table it holds: no switch
                events.add(("cr3-write", i, s.t, f"same:{cr3}"))
            elif is_cr3(v):
                events.add(("cr3-write", i, s.t, f"pti:{v[4:]}"))
                s = s.with_t(cr3=v[4:])
            else:
                events.add(("cr3-write", i, s.t, "not-pti"))
            s = s.flags(None, None)
        elif k == "copy":
            s = s.hold(op.reg, s.held(op.src))
        elif k == "clobber":
            n = small(s.held(op.reg))
            if op.form == "mov":
                s = s.hold(op.reg, "int:42")
            elif op.form == "xor":
                s = s.hold(op.reg, "int:0").flags(None, None)
            elif n is not None and n + 8 <= 255:  # addq $8 to a small integer
                s = s.hold(op.reg, f"int:{n + 8}").flags(n + 8 == 0, None)
            else:
                s = s.hold(op.reg, None).flags(None, None)
        elif k == "testcs":
            s = s.flags(origin == K, None)
        elif k == "bt":
            v = s.held(op.reg)
            s = s.flags(keep_zf, v == "cr3:user" if is_cr3(v) else None)
        elif k == "tasksp":
            s = s.with_t(stack="task")
        elif k == "call":
            s = St(s.t, tuple(kv for kv in s.regs if kv[0] not in CALLER_SAVED))
        elif k == "callasm":
            todo.append((helper, s, i + 1))
            continue
        elif k == "ret":
            if ret is None:
                events.add(("ret", i, s.t, ""))
                npaths += 1
            else:
                todo.append((ret, s, None))
            continue
        elif k == "jmp":
            todo.append((op.label, s, ret))
            continue
        elif k == "jcc":
            flag = s.zf if op.form in ("jz", "jnz") else s.cf
            want = op.form in ("jz", "jc")  # the flag value that takes the branch
            if flag is None or flag == want:
                todo.append((op.label, s, ret))
            if flag is None or flag != want:
                todo.append((nxt, s, ret))
            continue
        elif k == "sysret":
            events.add(("exit-user", i, s.t, "sysret"))
            npaths += 1
            continue
        elif k == "iret":
            events.add(("exit-user" if origin == U else "return-kernel", i, s.t, "iret"))
            npaths += 1
            continue
        else:
            raise AssertionError(k)
        todo.append((nxt, s, ret))
    return Result(before, events, npaths)
