"""Read ``objdump -d -w -z`` of an object into instructions, with iced's mnemonic.

    dump = objdump_object(Path("entry_64.o"))      # runs objdump
    dump = parse_objdump(text)                      # or parse text you already have
    dump.insns                                      # every ObjInsn, in file order
    dump.sections[".entry.text"]                    # per disassembled section
    dump.headings[".entry.text"]                    # [(address, symbol)], ascending

objdump disassembles every section flagged CODE (.text, .entry.text,
.noinstr.text, .init.text, .text..__x86.*, .altinstr_replacement, ...), so
nothing here names a section.  ``-z`` keeps runs of zero bytes as instructions
instead of ``...``; ``-w`` keeps each instruction's bytes on one line.

Symbol headings: objdump prints ``<name>:`` where a symbol starts.  Bytes before
the first symbol of a section get a heading such as ``<__switch_to_asm-0x10>``
(an offset from a symbol, not a symbol), and a section with no symbol at all
gets its section symbol (``<.altinstr_replacement>``).  Both are normalised to
the section-start pseudo symbol, which is the section's own name.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import iced_x86

# Mnemonic value -> lower-case name (e.g. 0x1d1 -> "nop"); built once from the enum.
MNEMONIC_NAMES: dict[int, str] = {
    getattr(iced_x86.Mnemonic, n): n.lower()
    for n in dir(iced_x86.Mnemonic)
    if n[:1].isupper() and isinstance(getattr(iced_x86.Mnemonic, n), int)
}

# Prefixes objdump prints as separate words before the mnemonic.
TEXT_PREFIXES = frozenset(
    "data16 data32 addr16 addr32 cs ds es ss fs gs lock rep repz repnz repe repne "
    "notrack bnd xacquire xrelease rex".split())

_SECTION = re.compile(r"^Disassembly of section (\S+):$")
_HEADING = re.compile(r"^([0-9a-f]+) <(.*)>:$")
_INSN = re.compile(r"^\s*([0-9a-f]+):\t([0-9a-f]{2}(?: [0-9a-f]{2})*)\s*(?:\t(.*))?$")
_OFFSET_NAME = re.compile(r".*[-+]0x[0-9a-f]+$")


@dataclass(frozen=True)
class ObjInsn:
    section: str
    symbol: str            # enclosing heading; the section name before the first symbol
    address: int           # offset in the section (objects are not relocated)
    bytes: bytes
    text_mnemonic: str     # objdump's mnemonic, prefixes dropped ("" for a bare prefix line)
    operands_text: str     # objdump's operands, without its "# ..." comment
    canonical: str         # iced_x86 Mnemonic name, lower-case ("invalid" if iced cannot decode)
    text: str = ""         # objdump's whole instruction text, as printed
    iced_len: int = 0      # length iced decoded from these bytes (== len(bytes) normally)

    @property
    def size(self) -> int:
        return len(self.bytes)

    @property
    def end(self) -> int:
        return self.address + len(self.bytes)


@dataclass
class ObjDump:
    sections: dict[str, list[ObjInsn]] = field(default_factory=dict)
    headings: dict[str, list[tuple[int, str]]] = field(default_factory=dict)

    @property
    def insns(self) -> list[ObjInsn]:
        return [i for sec in self.sections.values() for i in sec]


def canonical_mnemonic(code: bytes, address: int = 0) -> tuple[str, int]:
    """(iced mnemonic name lower-cased, decoded length) of the first instruction in code."""
    ins = iced_x86.Decoder(64, code, ip=address).decode()
    if ins.is_invalid:
        return "invalid", ins.len
    return MNEMONIC_NAMES.get(ins.mnemonic, f"mnemonic#{ins.mnemonic}"), ins.len


def split_text(text: str) -> tuple[str, str]:
    """objdump's instruction text -> (mnemonic without prefixes, operands without comment)."""
    text = text.split("#", 1)[0].strip()
    words = text.split()
    i = 0
    while i < len(words) - 1 and (words[i] in TEXT_PREFIXES or words[i].startswith("rex.")):
        i += 1
    if not words:
        return "", ""
    return words[i], " ".join(words[i + 1:])


def heading_symbol(name: str, section: str) -> str:
    if name == section or _OFFSET_NAME.match(name):
        return section
    return name


def parse_objdump(text: str) -> ObjDump:
    dump = ObjDump()
    section: str | None = None
    symbol = ""
    for line in text.splitlines():
        m = _SECTION.match(line)
        if m:
            section = m.group(1)
            symbol = section
            dump.sections.setdefault(section, [])
            dump.headings.setdefault(section, [])
            continue
        if section is None:
            continue
        m = _HEADING.match(line)
        if m:
            symbol = heading_symbol(m.group(2), section)
            dump.headings[section].append((int(m.group(1), 16), symbol))
            continue
        m = _INSN.match(line)
        if m:
            address = int(m.group(1), 16)
            raw = bytes.fromhex(m.group(2).replace(" ", ""))
            itext = (m.group(3) or "").strip()
            mnem, ops = split_text(itext)
            canon, ilen = canonical_mnemonic(raw, address)
            dump.sections[section].append(ObjInsn(section, symbol, address, raw, mnem, ops, canon, itext, ilen))
    return dump


def objdump_object(path: Path | str, objdump: str = "objdump") -> ObjDump:
    exe = shutil.which(objdump)
    if exe is None:
        raise FileNotFoundError(f"{objdump} not found (binutils)")
    out = subprocess.run([exe, "-d", "-w", "-z", str(path)], check=True, capture_output=True, text=True)
    return parse_objdump(out.stdout)
