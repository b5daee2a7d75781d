"""AT&T operand parsing (pure Python; no assembler, no decoder, no mnemonics).

``parse_operands("%rsp, %gs:cpu_tss_rw+4")`` gives ``(Reg("rsp"),
Mem(seg="gs", disp="cpu_tss_rw+4"))``.  Which operands are branch targets is
not decided here (that would need the mnemonic): the caller passes
``branch=True`` for a jump/call, and a bare expression then becomes a
``Target`` instead of an absolute memory operand.
"""

from __future__ import annotations

import re
from functools import lru_cache

from entrylint.source.record import record

# --- registers ---------------------------------------------------------------

_LEGACY = {
    "rax": ("eax", "ax", "al", "ah"),
    "rbx": ("ebx", "bx", "bl", "bh"),
    "rcx": ("ecx", "cx", "cl", "ch"),
    "rdx": ("edx", "dx", "dl", "dh"),
    "rsi": ("esi", "si", "sil"),
    "rdi": ("edi", "di", "dil"),
    "rbp": ("ebp", "bp", "bpl"),
    "rsp": ("esp", "sp", "spl"),
    "rip": ("eip", "ip"),
}


def _build_register_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for full, subs in _LEGACY.items():
        table[full] = full
        for sub in subs:
            table[sub] = full
    for n in range(8, 16):
        for suffix in ("", "d", "w", "b", "l"):
            table[f"r{n}{suffix}"] = f"r{n}"
    for seg in ("es", "cs", "ss", "ds", "fs", "gs"):
        table[seg] = seg
    for n in range(16):
        table[f"cr{n}"] = f"cr{n}"
        table[f"dr{n}"] = f"dr{n}"
        table[f"db{n}"] = f"dr{n}"
    for n in range(32):
        for kind in ("xmm", "ymm", "zmm"):
            table[f"{kind}{n}"] = f"{kind}{n}"
    for n in range(8):
        table[f"mm{n}"] = f"mm{n}"
        table[f"k{n}"] = f"k{n}"
        table[f"st({n})"] = f"st{n}"
        table[f"st{n}"] = f"st{n}"
        table[f"tr{n}"] = f"tr{n}"
    for n in range(4):
        table[f"bnd{n}"] = f"bnd{n}"
    table["st"] = "st0"
    return table


_REGISTERS = _build_register_table()


def canonical_register(name: str) -> str | None:
    """Fold a register name (with or without ``%``, any case) to its canonical
    name: general registers to the 64-bit one (``%al`` -> ``rax``, ``%r11d``
    -> ``r11``); segment, control, debug and vector registers keep their own
    name.  ``None`` if ``name`` is not a register."""
    key = name.strip().lower().lstrip("%").replace(" ", "")
    return _REGISTERS.get(key)


# --- operand values ----------------------------------------------------------


@record
class Reg:
    """A register operand; ``name`` as written, lower case, no ``%``."""

    name: str
    indirect: bool = False

    @property
    def canonical(self) -> str | None:
        return canonical_register(self.name)


@record
class Imm:
    """An immediate; ``expr`` is the text after ``$``."""

    expr: str


@record
class Mem:
    """A memory operand ``seg:disp(base,index,scale)``.  Register names are as
    written (lower case, no ``%``); ``disp`` is the expression text or ``""``."""

    seg: str | None = None
    disp: str = ""
    base: str | None = None
    index: str | None = None
    scale: int = 1
    indirect: bool = False

    @property
    def rip_relative(self) -> bool:
        return self.base is not None and canonical_register(self.base) == "rip"

    @property
    def gs_relative(self) -> bool:
        return self.seg == "gs"

    @property
    def rsp_relative(self) -> bool:
        return self.base is not None and canonical_register(self.base) == "rsp"


@record
class Target:
    """A direct branch/call target: a symbol, ``.L`` label, numeric local
    reference (``1f``, ``2b``) or an expression."""

    expr: str

    @property
    def local_ref(self) -> tuple[int, str] | None:
        """``(1, "f")`` for ``1f``; None if not a numeric local reference."""
        m = _LOCAL_REF.fullmatch(self.expr.strip())
        return (int(m.group(1)), m.group(2)) if m else None


@record
class Other:
    """Anything this parser does not classify (AVX-512 ``{%k1}``, garbage)."""

    text: str


Operand = Reg | Imm | Mem | Target | Other

_LOCAL_REF = re.compile(r"(\d+)([fb])")
_REG_TEXT = re.compile(r"%\s*([a-z][a-z0-9]*(?:\(\d\))?)", re.IGNORECASE)
_ADDR = re.compile(
    r"\(\s*(?:%\s*(?P<base>[a-z0-9]+))?\s*"
    r"(?:,\s*(?:%\s*(?P<index>[a-z0-9]+))?\s*(?:,\s*(?P<scale>\d+)\s*)?)?\)",
    re.IGNORECASE,
)
_SEG = re.compile(r"%\s*([c-gs]s)\s*:", re.IGNORECASE)


def split_operands(args: str) -> list[str]:
    """Split on top-level commas (not inside parentheses, braces or quotes)."""
    parts: list[str] = []
    depth = 0
    quote: str | None = None
    cur: list[str] = []
    escaped = False
    for ch in args:
        if quote:
            cur.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
            continue
        if ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    tail = "".join(cur).strip()
    if tail or parts:
        parts.append(tail)
    return parts


def _address_suffix(text: str) -> tuple[str, re.Match[str] | None]:
    """Split ``disp(base,index,scale)`` into ``disp`` and the match of the
    trailing address part, if the text ends with one."""
    if not text.endswith(")"):
        return text, None
    depth = 0
    for i in range(len(text) - 1, -1, -1):
        if text[i] == ")":
            depth += 1
        elif text[i] == "(":
            depth -= 1
            if depth == 0:
                m = _ADDR.fullmatch(text[i:])
                if m and (m.group("base") or m.group("index") or "," in text[i:]):
                    return text[:i].strip(), m
                return text, None
    return text, None


def parse_operand(text: str, branch: bool = False) -> Operand:
    """Classify one AT&T operand.  ``branch``: the operand belongs to a
    jump/call, so a bare expression is a ``Target``, not absolute memory."""
    t = text.strip()
    indirect = False
    if t.startswith("*"):
        indirect = True
        t = t[1:].strip()
    if not t:
        return Other(text)
    if t.startswith("$") and not indirect:
        return Imm(t[1:].strip())
    if t.startswith("{"):
        return Other(text)
    m = _REG_TEXT.fullmatch(t)
    if m:
        name = m.group(1).lower()
        if canonical_register(name) is not None:
            return Reg(name, indirect)
        return Other(text)
    seg = None
    sm = _SEG.match(t)
    if sm:
        seg = sm.group(1).lower()
        t = t[sm.end() :].strip()
    disp, addr = _address_suffix(t)
    if addr is not None:
        base = addr.group("base")
        index = addr.group("index")
        scale = int(addr.group("scale")) if addr.group("scale") else 1
        return Mem(
            seg=seg,
            disp=disp,
            base=base.lower() if base else None,
            index=index.lower() if index else None,
            scale=scale,
            indirect=indirect,
        )
    if "%" in t:
        return Other(text)
    if seg is None and branch and not indirect:
        return Target(t)
    return Mem(seg=seg, disp=t, indirect=indirect)


_BARE_SYMBOL = re.compile(r"[A-Za-z_.][\w.$]*|\d+[fb]")  # (not `$y`: an immediate)


def parse_operands(args: str, branch: bool = False) -> tuple[Operand, ...]:
    """Parse an instruction's operand text (``Stmt.args``) into operands, in
    AT&T order (sources first, destination last).  Remembered per text (the
    operands are frozen): a file's repeated operands, and a re-analysis of
    an edited file, parse each text once.  One symbol alone (``jmp
    label23``: a program of 33k such branches has 33k texts) is read at
    once, as ``parse_operand`` reads it."""
    if _BARE_SYMBOL.fullmatch(args):
        return (Target(args),) if branch else (Mem(disp=args),)
    return _parse_operands(args, branch)


@lru_cache(maxsize=1 << 17)  # a program at the program-instructions limit, across its profiles
def _parse_operands(args: str, branch: bool) -> tuple[Operand, ...]:
    return tuple(parse_operand(p, branch) for p in split_operands(args))
