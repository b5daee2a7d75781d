"""iced-x86 -> ``InsnInfo``: the decoder half of ``program/decode.py``.

This module and ``decode.py`` together are "decode.c": the only place that
imports iced_x86 or names mnemonics.  The facts no decoder models (GS base,
exits to user, serialization) are the tables below, keyed by iced's Mnemonic
names.

Bytes are decoded in the code mode they were assembled for (16, 32 or 64);
registers of 16/32-bit code fold to the canonical 64-bit names all the same
(``%ax``/``%eax`` -> ``rax``), as ``effects.py`` names them.
"""

from __future__ import annotations

import re
from dataclasses import replace

import iced_x86 as _iced

from entrylint.program.effects import Access, Certainty, DataOp, Flow, InsnInfo, MemRef
from entrylint.program.operands import _BARE_SYMBOL, Imm, Mem, Target, parse_operands


def _names(enum_cls) -> dict[int, str]:
    out: dict[int, str] = {}
    for name in dir(enum_cls):
        value = getattr(enum_cls, name)
        if not name.startswith("_") and isinstance(value, int):
            out.setdefault(value, name)
    return out


MNEMONIC_NAMES: dict[int, str] = _names(_iced.Mnemonic)
_REGISTER_NAMES: dict[int, str] = _names(_iced.Register)
_FLOW_NAMES: dict[int, str] = _names(_iced.FlowControl)
_CC_NAMES: dict[int, str] = _names(_iced.ConditionCode)
_M = {name: value for value, name in MNEMONIC_NAMES.items()}

# --- tables of x86 facts, keyed by iced Mnemonic names -----------------------

_FLOW_FROM_ICED = {
    "NEXT": Flow.NEXT,
    "UNCONDITIONAL_BRANCH": Flow.JUMP,
    "CONDITIONAL_BRANCH": Flow.COND_JUMP,
    "CALL": Flow.CALL,
    "RETURN": Flow.RET,
    "INDIRECT_BRANCH": Flow.INDIRECT_JUMP,
    "INDIRECT_CALL": Flow.INDIRECT_CALL,
    "INTERRUPT": Flow.INT,
    "EXCEPTION": Flow.INT,
    "XBEGIN_XABORT_XEND": Flow.NEXT,
}

# Flow that iced reports generically (RETURN, NEXT) but entrylint tells apart.
_FLOW_OVERRIDE = {
    "SYSRET": Flow.EXIT_TO_USER,
    "SYSRETQ": Flow.EXIT_TO_USER,
    "SYSEXIT": Flow.EXIT_TO_USER,
    "SYSEXITQ": Flow.EXIT_TO_USER,
    "ERETU": Flow.EXIT_TO_USER,  # FRED: return to user
    "IRET": Flow.IRET,
    "IRETD": Flow.IRET,
    "IRETQ": Flow.IRET,
    # FRED: return to supervisor from the event frame on the stack.  No flow
    # fits exactly; IRET does: a return through an exception frame, which the
    # analysis resolves by the tuple's origin (FRED kernel events: kernel).
    "ERETS": Flow.IRET,
    "UIRET": Flow.IRET,
    "HLT": Flow.HALT,
    "SYSCALL": Flow.INT,  # iced: CALL; for entrylint a trap into the kernel
    "SYSENTER": Flow.INT,
    "UD0": Flow.STOP,  # iced: EXCEPTION; #UD is never resumed (BUG())
    "UD1": Flow.STOP,
    "UD2": Flow.STOP,
}

# What an instruction computes (effects.DataOp).  `mov` covers movabs and the
# moves to/from control, debug and segment registers; gas's `sal` is iced SHL.
_DATA_OP = {
    "MOV": DataOp.MOVE, "LEA": DataOp.LEA, "AND": DataOp.AND, "OR": DataOp.OR,
    "XOR": DataOp.XOR, "ADD": DataOp.ADD, "SUB": DataOp.SUB, "BT": DataOp.BT,
    "BTS": DataOp.BTS, "BTR": DataOp.BTR, "BTC": DataOp.BTC, "TEST": DataOp.TEST,
    "CMP": DataOp.CMP, "PUSH": DataOp.PUSH, "POP": DataOp.POP, "XCHG": DataOp.XCHG,
    "SHL": DataOp.SHL, "SAL": DataOp.SHL, "SHR": DataOp.SHR, "SAR": DataOp.SAR,
    "NOT": DataOp.NOT, "NEG": DataOp.NEG,
}  # fmt: skip
# inc/dec: an add/sub of an implicit 1 (value tracking: error_entry's %ebx flag)
_STEP = {"INC": DataOp.ADD, "DEC": DataOp.SUB}

# Conditions on one flag: iced ConditionCode name -> (flag, value when taken).
_SINGLE_FLAG_CC = {
    "O": ("of", True), "NO": ("of", False), "B": ("cf", True), "AE": ("cf", False),
    "E": ("zf", True), "NE": ("zf", False), "S": ("sf", True), "NS": ("sf", False),
    "P": ("pf", True), "NP": ("pf", False),
}  # fmt: skip
# loope/loopne also test %rcx: their condition is not the flag alone.
_NO_COND = {"LOOPE", "LOOPNE"}

# GS base: swapgs exchanges it with MSR_KERNEL_GS_BASE; wrmsr/rdmsr touch it
# only when %ecx is MSR_GS_BASE (0xc0000101) or MSR_KERNEL_GS_BASE (0xc0000102).
# ERETU too: FRED swaps the GS base in hardware, on event delivery from ring 3
# (entries.py starts FRED user entries with the kernel GS) and back on ERETU
# to ring 3, as SWAPGS would (Intel FRED spec, ERETU).
_SWAPS_GS = {"SWAPGS", "ERETU"}
_LEAF_REGS = {"CPUID": frozenset({"rcx"})}  # InsnInfo.leaf_regs: the subleaf
_LOADS_VM_STATE = {"VMLOAD"}
_FRAME_RIP_SLOT = {"ERETS": 1, "ERETU": 1}  # InsnInfo.frame_rip_slot (FRED: an error code below the RIP)
_WRITES_GS_BASE = {
    "WRGSBASE": Certainty.YES,
    "WRMSR": Certainty.MAY,
    "WRMSRNS": Certainty.MAY,
    "WRMSRLIST": Certainty.MAY,
    "LKGS": Certainty.MAY,  # loads %gs into the *inactive* (kernel) GS base
}
_READS_GS_BASE = {
    "RDGSBASE": Certainty.YES,
    "RDMSR": Certainty.MAY,
    "RDMSRLIST": Certainty.MAY,
}

# Serializing (or, for lfence, dispatch-serializing: a speculation barrier).
# mov to a control register (not %cr8) or debug register is added by operand.
_SERIALIZING = {
    "CPUID", "IRET", "IRETD", "IRETQ", "LFENCE", "SERIALIZE", "INVD", "WBINVD",
    "INVLPG", "INVPCID", "LGDT", "LIDT", "LLDT", "LTR", "RSM", "WRMSR",
    "XSETBV", "ERETS", "ERETU", "SYSRET", "SYSRETQ",
}  # fmt: skip

_ACCESS_READ = {_iced.OpAccess.READ, _iced.OpAccess.COND_READ, _iced.OpAccess.READ_WRITE,
                _iced.OpAccess.READ_COND_WRITE}  # fmt: skip
_ACCESS_WRITE = {_iced.OpAccess.WRITE, _iced.OpAccess.READ_WRITE}
_ACCESS_COND_WRITE = {_iced.OpAccess.COND_WRITE, _iced.OpAccess.READ_COND_WRITE}
_MEM_ACCESS = {
    _iced.OpAccess.READ: Access.READ,
    _iced.OpAccess.WRITE: Access.WRITE,
    _iced.OpAccess.READ_WRITE: Access.READ_WRITE,
    _iced.OpAccess.COND_READ: Access.COND_READ,
    _iced.OpAccess.COND_WRITE: Access.COND_WRITE,
    _iced.OpAccess.READ_COND_WRITE: Access.READ_WRITE,
}

_FLAG_BITS = (
    ("cf", _iced.RflagsBits.CF), ("pf", _iced.RflagsBits.PF), ("af", _iced.RflagsBits.AF),
    ("zf", _iced.RflagsBits.ZF), ("sf", _iced.RflagsBits.SF), ("of", _iced.RflagsBits.OF),
    ("df", _iced.RflagsBits.DF), ("if", _iced.RflagsBits.IF), ("ac", _iced.RflagsBits.AC),
)  # fmt: skip

_WRITE_KINDS = {_iced.OpAccess.WRITE, _iced.OpAccess.READ_WRITE, _iced.OpAccess.COND_WRITE,
                _iced.OpAccess.READ_COND_WRITE}  # fmt: skip

# Immediate operand kinds -> the width (bits) of the value the CPU uses.
_IMM_BITS = {
    _iced.OpKind.IMMEDIATE8: 8, _iced.OpKind.IMMEDIATE8_2ND: 8, _iced.OpKind.IMMEDIATE16: 16,
    _iced.OpKind.IMMEDIATE32: 32, _iced.OpKind.IMMEDIATE64: 64,
    _iced.OpKind.IMMEDIATE8TO16: 16, _iced.OpKind.IMMEDIATE8TO32: 32,
    _iced.OpKind.IMMEDIATE8TO64: 64, _iced.OpKind.IMMEDIATE32TO64: 64,
}  # fmt: skip

_INFO_FACTORY = _iced.InstructionInfoFactory()
_GAS = _iced.Formatter(_iced.FormatterSyntax.GAS)
_NO_REGS = {_iced.Register.NONE, _iced.Register.RIP, _iced.Register.EIP}


def _flags(bits: int) -> frozenset[str]:
    got = _FLAG_SETS.get(bits)
    if got is None:
        got = _FLAG_SETS[bits] = _interned(frozenset(name for name, bit in _FLAG_BITS if bits & bit))
    return got


# A process decodes tens of thousands of instructions and keeps their
# InsnInfo (the decoder's memo): their register and flag sets are a few
# hundred distinct values, each kept once (a frozenset costs 200 bytes)
_SETS: dict[frozenset, frozenset] = {}
_FLAG_SETS: dict[int, frozenset] = {}


def _interned(s: frozenset) -> frozenset:
    return _SETS.setdefault(s, s)


def _reg_name(reg: int) -> str:
    """Canonical name (matches ``operands.canonical_register``)."""
    if _iced.RegisterExt.is_gpr(reg):
        reg = _iced.RegisterExt.full_register(reg)
    return _REGISTER_NAMES.get(reg, f"reg{reg}").lower()


def _is_partial(reg: int) -> bool:
    return _iced.RegisterExt.is_gpr8(reg) or _iced.RegisterExt.is_gpr16(reg)


def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


# A gas expression made of numbers only (no symbol, no `1f`, no `.`).
_NUMBER = re.compile(r"0[xX][0-9a-fA-F]+|0[bB][01]+|\d+")
_OPERATORS = re.compile(r"[\s()+\-*/%<>&|^~!]*")


def _numeric(expr: str) -> bool:
    return bool(_OPERATORS.fullmatch(_NUMBER.sub(" ", expr)))


def _symbolic_operands(operand_text: str) -> tuple[bool, bool]:
    """Whether an immediate / a memory displacement written in the operand
    text depends on a symbol (its encoded value is a placeholder)."""
    imm = mem = False
    for op in parse_operands(operand_text):
        if isinstance(op, Imm):
            imm = imm or not _numeric(op.expr)
        elif isinstance(op, Mem):
            mem = mem or (op.disp != "" and not _numeric(op.disp))
    return imm, mem


def _displacement(ins, mode: int) -> int:
    """The explicit memory operand's displacement as a signed number (iced
    gives the address-size value, or the target address when RIP-relative)."""
    value = ins.memory_displacement
    if ins.is_ip_rel_memory_operand:
        return _signed(value - ins.next_ip, 64)
    bits = 64 if mode == 64 else mode
    for reg in (ins.memory_base, ins.memory_index):
        if reg != _iced.Register.NONE:
            if _iced.RegisterExt.is_gpr32(reg):
                bits = 32
            elif _iced.RegisterExt.is_gpr16(reg):
                bits = 16
            break
    return _signed(value, bits)


def _explicit_mem(ins, acc: int, mode: int, symbolic: bool) -> MemRef:
    seg = None if ins.memory_segment == _iced.Register.NONE else _reg_name(ins.memory_segment)
    base = None if ins.memory_base in _NO_REGS else _reg_name(ins.memory_base)
    index = None if ins.memory_index == _iced.Register.NONE else _reg_name(ins.memory_index)
    return MemRef(
        _MEM_ACCESS.get(acc, Access.ADDRESS), seg, base, index, ins.memory_index_scale or 1,
        bool(ins.is_ip_rel_memory_operand), None if symbolic else _displacement(ins, mode),
    )


def _address(m: MemRef) -> tuple:
    return (m.segment, m.base, m.index, m.scale, m.rip_relative)


def _operands(ins, info, mode: int, symbolic: tuple[bool, bool]) -> dict:
    """The operand fields of ``InsnInfo``: op-independent, from iced's
    operand kinds and accesses (Intel order: a written operand 0 is the
    destination); ``symbolic``: ``_symbolic_operands`` of the text."""
    sym_imm, sym_mem = symbolic
    out: dict = {}
    first = 0
    if ins.op_count and info.op_access(0) in _WRITE_KINDS:
        kind = ins.op0_kind
        if kind == _iced.OpKind.REGISTER:
            reg = ins.op0_register
            out["dst"] = _reg_name(reg)
            out["dst_partial"] = _is_partial(reg)
            first = 1
        elif kind == _iced.OpKind.MEMORY:
            out["dst_mem"] = _explicit_mem(ins, info.op_access(0), mode, sym_mem)
            first = 1
    for i in range(first, ins.op_count):
        kind = ins.op_kind(i)
        if kind == _iced.OpKind.REGISTER:
            reg = ins.op_register(i)
            if "src" not in out and reg not in _NO_REGS:
                out["src"] = _reg_name(reg)
        elif kind == _iced.OpKind.MEMORY:
            if "src_mem" not in out:
                out["src_mem"] = _explicit_mem(ins, info.op_access(i), mode, sym_mem)
        elif kind in _IMM_BITS and "imm_size" not in out:
            bits = _IMM_BITS[kind]
            out["imm_size"] = bits
            out["imm"] = None if sym_imm else _signed(ins.immediate(i), bits)
    if out.get("imm") is None:
        out.pop("imm_size", None)
        out.pop("imm", None)
    return out


_FAR_BRANCH = {_iced.OpKind.FAR_BRANCH16, _iced.OpKind.FAR_BRANCH32}


def _target(operand_text: str, far: bool = False) -> str | None:
    """The target expression: of ``jmp 1f``, or the offset of a direct far
    branch ``ljmpl $__KERNEL32_CS, $1f`` (16/32-bit code)."""
    ops = parse_operands(operand_text, branch=True)
    for op in reversed(ops):
        if isinstance(op, Target) or (far and isinstance(op, Imm)):
            return op.expr
    return None


# (mode, machine code, symbolic operands) -> (InsnInfo or error, far branch):
# what the operand text adds (the text itself, the target's name) is set per
# text.  A program of 33k `jmp label\@` decodes one instruction, not 33k.
_BY_CODE: dict[tuple, tuple] = {}
# an operand text that is one symbol or local label (`jmp foo`, `call 1f`):
# what _symbolic_operands and _target read of it, without parsing
_BY_CODE_MAX = 200_000


def decode_bytes(text: str, operand_text: str, data: bytes, mode: int = 64) -> InsnInfo | str:
    """Build the ``InsnInfo`` of ``text`` from its machine code, or return an
    error message.  ``operand_text`` is the operand part of the original text
    (for the branch target expression); ``mode`` is the code mode (16, 32, 64)
    the bytes were assembled for."""
    bare = _BARE_SYMBOL.fullmatch(operand_text) is not None
    symbolic = (False, True) if bare else _symbolic_operands(operand_text)
    key = (mode, bytes(data), symbolic)
    got = _BY_CODE.get(key)
    if got is None:
        got = _decode(text, symbolic, data, mode)
        if len(_BY_CODE) < _BY_CODE_MAX:
            _BY_CODE[key] = got
    info, far = got
    if isinstance(info, str):
        return info
    target = None
    if info.flow in (Flow.JUMP, Flow.COND_JUMP, Flow.CALL):
        target = operand_text if bare else _target(operand_text, far)
    if info.text == text and info.target == target:
        return info
    return info.with_text(text, target)


def _decode(text: str, symbolic: tuple[bool, bool], data: bytes, mode: int) -> tuple[InsnInfo | str, bool]:
    """``decode_bytes`` but the branch target: (its ``InsnInfo`` with the
    target None, or the error; whether it is a far branch)."""
    if not data:
        return "the assembler produced no bytes", False
    decoder = _iced.Decoder(mode, data)
    ins = decoder.decode()
    if ins.code == _iced.Code.INVALID:
        return f"cannot decode bytes {data.hex()}", False
    if ins.len != len(data):
        return f"assembles to more than one instruction ({data.hex()})", False
    info = _INFO_FACTORY.info(ins)
    mname = MNEMONIC_NAMES.get(ins.mnemonic, "INVALID")

    read: set[str] = set()
    written: set[str] = set()
    partial: set[str] = set()
    cond: set[str] = set()
    for used in info.used_registers():
        reg, acc = used.register, used.access
        if reg in _NO_REGS:
            continue
        name = _reg_name(reg)
        if acc in _ACCESS_READ:
            read.add(name)
        if acc in _ACCESS_WRITE:
            written.add(name)
            if _is_partial(reg):
                partial.add(name)
        elif acc in _ACCESS_COND_WRITE:
            cond.add(name)

    mem = []
    for used in info.used_memory():
        acc = _MEM_ACCESS.get(used.access)
        if acc is None:  # lea: address only, no access
            continue
        seg = None if used.segment == _iced.Register.NONE else _reg_name(used.segment)
        base = None if used.base in _NO_REGS else _reg_name(used.base)
        index = None if used.index == _iced.Register.NONE else _reg_name(used.index)
        rip = used.base in (_iced.Register.RIP, _iced.Register.EIP) or (
            base is None and index is None and ins.is_ip_rel_memory_operand
        )
        disp = _signed(used.displacement, 64) if not rip else None
        mem.append(MemRef(acc, seg, base, index, used.scale or 1, rip, disp))
    operands = _operands(ins, info, mode, symbolic)
    explicit = operands.get("dst_mem") or operands.get("src_mem")
    if explicit is not None:  # the explicit operand: its displacement as in dst_mem/src_mem
        mem = [replace(m, disp=explicit.disp) if _address(m) == _address(explicit) else m
               for m in mem]  # fmt: skip
    cc = None if mname in _NO_COND else _CC_NAMES.get(ins.condition_code)

    flow = _FLOW_OVERRIDE.get(mname) or _FLOW_FROM_ICED.get(
        _FLOW_NAMES.get(ins.flow_control, "NEXT"), Flow.NEXT
    )
    writes_gs = _WRITES_GS_BASE.get(mname, Certainty.NO)
    if "gs" in written:  # mov %ax,%gs / pop %gs load the active GS base
        # (VMLOAD loads GS from the VMCB at %rax -- a guest's, or the host
        # save area after a VM exit (AMD APM vol. 2, VMLOAD): not a selector
        # user space chose, and whose base the instruction does not say)
        writes_gs = Certainty.MAY if mname in _LOADS_VM_STATE else Certainty.YES
    serializing = mname in _SERIALIZING or any(
        (r.startswith("cr") and r != "cr8") or r.startswith("dr") for r in written
    )
    return InsnInfo(
        text=text,
        bytes=bytes(data),
        mnemonic=mname.lower(),
        flow=flow,
        target=None,
        regs_read=_interned(frozenset(read)),
        regs_written=_interned(frozenset(written)),
        regs_partial=_interned(frozenset(partial)),
        regs_cond_written=_interned(frozenset(cond - written)),
        flags_read=_flags(ins.rflags_read),
        flags_written=_flags(ins.rflags_written | ins.rflags_cleared | ins.rflags_set),
        flags_undefined=_flags(ins.rflags_undefined),
        mem=tuple(mem),
        swaps_gs=mname in _SWAPS_GS,
        writes_gs_base=writes_gs,
        reads_gs_base=_READS_GS_BASE.get(mname, Certainty.NO),
        cr3_read="cr3" in read,
        cr3_write="cr3" in written,
        serializing=serializing,
        privileged=bool(ins.is_privileged),
        op=_DATA_OP.get(mname, DataOp.OTHER) if mname not in _STEP else _STEP[mname],
        cond=_SINGLE_FLAG_CC.get(cc) if cc else None,
        leaf_regs=_LEAF_REGS.get(mname, frozenset()),
        frame_rip_slot=_FRAME_RIP_SLOT.get(mname, 0),
        **(operands if mname not in _STEP else {**operands, "imm": 1, "imm_size": 8}),
    ), ins.op0_kind in _FAR_BRANCH


def split_instructions(data: bytes, mode: int = 64) -> list[tuple[bytes, str]] | None:
    """Cut machine code into whole instructions: ``(bytes, AT&T text)`` for
    each, the text as iced's GAS formatter writes it (``mov %rsp,%rbp``,
    ``eretu``).  None when ``data`` is empty, some bytes do not decode, or
    the last instruction is cut short (``0f`` alone)."""
    if not data or mode not in (16, 32, 64):
        return None
    out: list[tuple[bytes, str]] = []
    pos = 0
    for ins in _iced.Decoder(mode, bytes(data)):
        if ins.code == _iced.Code.INVALID:
            return None
        out.append((bytes(data[pos:pos + ins.len]), _GAS.format(ins)))
        pos += ins.len
    return out if out and pos == len(data) else None


# --- mnemonic vocabulary (no assembling) -------------------------------------

# Prefixes GNU as accepts as a word of their own, on the instruction's line or
# on a line before it (checked with binutils 2.40).  Pseudo prefixes such as
# `{disp32}` or `{vex}` are not here: as rejects them on a line of their own
# ("pseudo prefix without instruction").  `rex.` takes any of W, R, X, B in
# that order (`rex.WRXB`).  `data32`, `addr16`, `es`, `ss`, `cs`
# and `ds` are refused in 64-bit code, but they are still prefixes.
_REX_PREFIXES = frozenset(
    "rex." + "".join(c for c, bit in zip("wrxb", (8, 4, 2, 1)) if n & bit) for n in range(1, 16)
)
PREFIXES = frozenset({
    "lock", "rep", "repe", "repz", "repne", "repnz", "notrack", "bnd", "xacquire",
    "xrelease", "data16", "data32", "addr16", "addr32", "rex", "rex64",
    "cs", "ds", "es", "fs", "gs", "ss",
}) | _REX_PREFIXES  # fmt: skip


def is_prefix(word: str) -> bool:
    """Whether ``word`` is an instruction prefix (``rep``, ``lock``, ``rex.WB``,
    ``gs``, ...) that GNU as accepts as a statement of its own and applies to
    the next instruction.  Case does not matter; a trailing ``;`` is ignored."""
    w = word.lower()
    return w in PREFIXES or w.rstrip(";") in PREFIXES


_CC_ALIASES = {
    "z": "e", "nz": "ne", "c": "b", "nae": "b", "nc": "ae", "nb": "ae", "nbe": "a",
    "na": "be", "nge": "l", "nl": "ge", "nle": "g", "ng": "le", "pe": "p", "po": "np",
}  # fmt: skip

_ATT_ONLY = {
    "cbtw", "cwtl", "cltq", "cwtd", "cltd", "cqto", "movabs", "ljmp", "lcall", "lret",
    "fwait", "ud2a", "ud2b", "icebp", "sysretl", "sysexitl", "xlatb", "smov",
}  # fmt: skip


def _build_known() -> frozenset[str]:
    names = {n.lower() for n in _M if n != "INVALID"}
    for cc, canon in _CC_ALIASES.items():
        for head in ("j", "set", "cmov"):
            if head + canon in names:
                names.add(head + cc)
    names |= _ATT_ONLY
    for src in "bw":
        for dst in "wlq":
            if src == "w" and dst == "w":
                continue
            names.add(f"movz{src}{dst}")
            names.add(f"movs{src}{dst}")
    names.add("movslq")
    for s in ("movs", "stos", "lods", "scas", "cmps", "ins", "outs"):
        names.add(s + "l")
    return frozenset(names)


KNOWN_MNEMONICS = _build_known()


def is_known_mnemonic(word: str) -> bool:
    w = word.strip().lower()
    if not w:
        return False
    if w in KNOWN_MNEMONICS or is_prefix(w):
        return True
    if len(w) < 3 or w[-1] not in "bwlq" or w[:-1] not in KNOWN_MNEMONICS:
        return False
    # one size suffix only: `movq` is a mnemonic, `movqq` is not
    base = w[:-1]
    return not (base[-1] in "bwlq" and base[:-1] in KNOWN_MNEMONICS)


def iced_version() -> str:
    """iced-x86's version (part of the decoder table's key); "unknown" when no metadata says it."""
    from entrylint.source import dists

    got = dists.version("iced-x86")
    if got:
        return got
    try:
        from importlib.metadata import version

        return version("iced-x86")
    except Exception:  # noqa: BLE001 - metadata is optional
        return "unknown"
