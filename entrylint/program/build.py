"""Build the ``Program`` from the expanded statements.

Order of the passes (each needs the one before):
1. ``_scan``: instructions, labels, symbols, sections and code data, in
   statement order; a ``.byte`` of literals in a code section whose bytes
   decode into whole instructions (in the current code mode) becomes those
   instructions (``encoded``, decoded here, with iced only), else data;
2. ``_alternatives``: forks from the ``.altinstructions`` entries, read as
   the data the headers of each version build (not from a macro name), so
   4.x ``.word`` feature fields and 6.x ``.4byte`` ft_flags both work;
   then paravirt patch sites (``.parainstructions``) become forks whose
   native side ``native`` supplies (``program.paravirt``);
3. ``_decode``: register/flag semantics from the decoder (must come after 1,
   it needs the instruction texts);
4. ``_targets``: direct branch and call targets (after 3: only the decoder
   says which instructions branch);
5. ``extable``: exception-table entries (MODEL 3: a fixup is an edge), read
   from the ``__ex_table`` section's data as each version's _ASM_EXTABLE
   writes it (``.long from - .``/``.quad from``, fixup, then a handler or
   type field), not from a macro name (after 1: it needs the labels).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping, Sequence

from entrylint.gas.types import Stmt
from entrylint.program.decode import code_mode, is_unknown_mnemonic_message
from entrylint.cpp.expr import ExprError, _number
from entrylint.program.constants import disabled_features, eval_int, feature_names, macro_int
from entrylint.program.model import AltFork, AltSide, DataItem, Instruction, Program, Replacement, Symbol
from entrylint.program.operands import parse_operands
from entrylint.source import Problem, ProblemKind

ALT_SECTION = ".altinstructions"
EXTABLE_SECTION = "__ex_table"
PARA_SECTION = ".parainstructions"
# the sections whose directives the passes after the scan read as tables
# (alternatives, exception table, paravirt patch sites): the scan lists them
TABLES = (ALT_SECTION, EXTABLE_SECTION, PARA_SECTION)
_EXTABLE_FIELDS = {".long", ".int", ".4byte", ".quad", ".8byte"}
REPL_SECTION = ".altinstr_replacement"

# Sections that hold code whatever their flags say (the kernel's linker script names).
_CODE_PREFIXES = (".text", ".entry.text", ".noinstr.text", ".init.text", ".exit.text",
                  ".altinstr_replacement", ".altinstr_aux", ".fixup", ".head.text",
                  ".cpuidle.text", ".kprobes.text", ".ref.text", ".sched.text", ".spinlock.text")
_BYTE_DIRECTIVES = {".byte", ".word", ".short", ".value", ".2byte", ".long", ".int", ".4byte",
                    ".quad", ".8byte", ".skip", ".space", ".fill", ".zero", ".align", ".balign",
                    ".p2align", ".balignw", ".balignl", ".p2alignw", ".p2alignl", ".ascii",
                    ".asciz", ".string", ".org", ".nops"}
# the directives pass 1 reads besides the byte directives and the code modes
_READ = frozenset({".section", ".pushsection", ".globl", ".global", ".type", ".size", ".set", ".equ", ".equiv",
                   ".eqv"})
_ENCODED: dict[tuple, tuple] = {}  # (a .byte's arguments, code mode) -> the instructions its bytes decode to
_ENCODED_MAX = 4096  # (a file of made-up .byte lines keeps none past it)
_NUMREF = re.compile(r"^(\d+)([fb])$")
# a literal of a `.byte` list: hex, binary, octal (leading 0) or decimal, optionally negated
_BYTE_LITERAL = re.compile(r"(-?)(0[xX][0-9a-fA-F]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)")
_REGISTER = re.compile(r"%[a-z][a-z0-9]*(\([0-7]\))?")
_WORD = re.compile(r"(?<![%$.\w])[A-Za-z_][\w]*(?![\w(])")
LABELREF = re.compile(r"[.A-Za-z_$][\w.$]*|\d+[fb]\b")


def is_local_label(name: str) -> bool:
    return name.startswith(".L") or name.isdigit() or "\x02" in name


class _Labels:
    """Label definitions by statement index, for GAS's ``1f``/``1b`` rules."""

    def __init__(self) -> None:
        self.numeric: dict[str, list[int]] = {}
        self.named: dict[str, int] = {}
        self.aliases: dict[str, str] = {}  # ``.set alias, label`` (SYM_FUNC_ALIAS*): resolved when asked

    def define(self, name: str, at: int) -> None:
        if name.isdigit():
            self.numeric.setdefault(name, []).append(at)
        else:
            self.named.setdefault(name, at)

    def resolve(self, ref: str, at: int) -> int | None:
        """Statement index of the label ``ref`` names when used at statement ``at``."""
        m = _NUMREF.match(ref)
        if m:
            defs = self.numeric.get(m.group(1), [])
            if m.group(2) == "f":
                i = bisect.bisect_right(defs, at)
                return defs[i] if i < len(defs) else None
            i = bisect.bisect_left(defs, at)
            return defs[i - 1] if i > 0 else None
        got = self.named.get(ref)
        for _ in range(8):  # (an alias of an alias; a cycle ends here)
            if got is not None or ref not in self.aliases:
                break
            ref = self.aliases[ref]
            got = self.named.get(ref)
        return got


def build_program(statements: Sequence[Stmt], macros: Mapping[str, object] | None = None,
                  constants: Mapping[str, int] | None = None, decoder=None,
                  mode: int = 64, native=None) -> tuple[Program, list[Problem]]:
    """``mode`` is the code mode the file starts in (what ``-m16``/``-m32``
    give it); ``.code16``/``.code32``/``.code64`` change it as for GNU as.
    ``native(sites)``: the native side of paravirt patch sites (see
    ``program.paravirt.native_reader``); None leaves them straight-line."""
    prog = Program(statements=list(statements), constants=dict(constants or {}))
    problems: list[Problem] = []
    labels = _Labels()
    builder = _Builder(prog, labels, macros or {})
    builder.mode = mode
    builder.scan()
    builder.alternatives(problems)
    prog.stmt_at = (tuple(builder.ins_si), tuple(builder.data_si), builder.sym_si, tuple(builder.sites))
    if native is not None:
        from entrylint.program.paravirt import add_native_forks

        add_native_forks(builder, native)
    if decoder is not None:
        builder.decode(decoder, problems)
    builder.targets()
    builder.extable()
    return prog, problems


def instruction(idx: int, st: Stmt, args: str, mode: int, prefixes: tuple[Stmt, ...] = ()) -> Instruction:
    """Instruction ``idx`` of statement ``st`` (``args``: its operand text,
    register aliases resolved; ``prefixes``: prefix statements on lines of
    their own before it), before decoding (program/patch.py makes one again
    this way)."""
    try:
        ops = parse_operands(args)
    except Exception:  # the operand parser is total in intent; never let it stop a file
        ops = ()
    return Instruction(idx, st, st.name, tuple(p.name for p in prefixes) if prefixes else (), ops, st.section,
                       args=args, mode=mode, merged=prefixes)


def decode_problem(ins: Instruction, msg: str) -> Problem:
    """The problem of an instruction the assembler refused (``msg``: its message)."""
    kind = ProblemKind.UNKNOWN_MNEMONIC if is_unknown_mnemonic_message(msg) else ProblemKind.ASM_ERROR
    return Problem(kind, msg, ins.location, ins.stmt.trace)


def alt_flag_layout(macros: Mapping[str, object]) -> tuple[int, int, int]:
    """(flags shift, not-bit for a 16-bit feature field, not-bit within the flags)
    as the headers read define them."""
    shift = macro_int("ALT_FLAGS_SHIFT", macros) or 16
    inv = macro_int("ALTINSTR_FLAG_INV", macros)
    lo = inv.bit_length() - 1 if inv else 15
    nf = macro_int("ALT_FLAG_NOT", macros)
    hi = nf.bit_length() - 1 if nf else 0
    return shift, lo, hi


class _Builder:
    def __init__(self, prog: Program, labels: _Labels, macros: Mapping[str, object]) -> None:
        self.prog = prog
        self.labels = labels
        self.macros = macros
        # per section: sorted statement indices of its instructions, and their instruction indices
        self.sec_stmt: dict[str, list[int]] = {}
        self.sec_insn: dict[str, list[int]] = {}
        self.sym_by_section: dict[str, list[tuple[int, str]]] = {}
        # the statement index each instruction and each data item was made
        # from (by its index; not a dict by ``id`` of the statement: ``id`` is
        # audited, and cache.recorded's hook then runs once per statement)
        self.ins_si: list[int] = []
        self.data_si: list[int] = []
        self.aliases: dict[str, str] = {}  # GAS register aliases in force
        self.mode = 64
        # section of TABLES -> the statement indices of its directives, in order
        self.tables: dict[str, list[int]] = {t: [] for t in TABLES}
        self.sym_si: dict[str, int] = {}  # a symbol's name -> the statement index of its label
        self.sites: list[int] = []  # each alternative's site label (its statement index)

    def symbol_at(self, si: int, section: str) -> str | None:
        """The symbol whose code statement ``si`` of ``section`` is in."""
        return _enclosing(self.sym_by_section.get(section, []), si + 1)

    # -- pass 1 -------------------------------------------------------------
    def scan(self) -> None:
        prog = self.prog
        globals_: set[str] = set()
        types: dict[str, str] = {}
        sizes: dict[str, int] = {}
        sym_labels: list[tuple[int, str, Stmt]] = []
        from entrylint.program.decode import is_prefix

        # (by how often each kind comes: 6.12's entry_64.S is 9.7k statements,
        # two thirds of them directives)
        directive, add_insn, define = self._directive, self._add_insn, self.labels.define
        tables = self.tables
        pending: list[Stmt] = []  # prefixes written as statements of their own
        for si, st in enumerate(prog.statements):
            kind = st.kind
            if kind == "directive":
                section = st.section
                listed = tables.get(section)
                if listed is not None:
                    listed.append(si)
                if st.name in _BYTE_DIRECTIVES:
                    # in a code section, data among the instructions; else
                    # passed over (ORC, extable and alternative entries: two
                    # thirds of the statements)
                    if self.is_code(section):
                        self._code_data(si, st)
                    continue
                directive(si, st, globals_, types, sizes)
            elif kind == "insn":
                if not st.args and is_prefix(st.name):
                    pending.append(st)
                    continue
                add_insn(si, st, tuple(pending))
                pending.clear()
            elif kind == "label":
                define(st.name, si)
                if not is_local_label(st.name):
                    sym_labels.append((si, st.name, st))
            elif kind == "assign":
                self._assign(st.name, st.args)
        self._symbols(sym_labels, globals_, types, sizes)

    def _assign(self, name: str, value: str) -> None:
        """``name = value`` / ``.set``: constants, and register aliases
        (``X0 = %xmm4``; macros re-equate them, so they are followed in order)."""
        v = eval_int(value)
        if v is not None:
            self.prog.constants.setdefault(name, v)
        if not self.aliases and "%" not in value:  # (``cnt = cnt + 1``: no register to alias)
            return
        target = self.resolve_aliases(value.strip())
        if _REGISTER.fullmatch(target):
            self.aliases[name] = target
        else:
            self.aliases.pop(name, None)

    def resolve_aliases(self, text: str) -> str:
        if not self.aliases:
            return text
        return _WORD.sub(lambda m: self.aliases.get(m.group(0), m.group(0)), text)

    def _add_insn(self, si: int, st: Stmt, prefixes: tuple[Stmt, ...] = ()) -> None:
        prog = self.prog
        section = st.section
        idx = len(prog.instructions)
        prog.instructions.append(instruction(idx, st, self.resolve_aliases(st.args), self.mode, prefixes))
        self.ins_si.append(si)
        stmts = self.sec_stmt.get(section)
        if stmts is None:
            stmts = self.sec_stmt[section] = []
            self.sec_insn[section] = []
            prog.code_sections.add(section)
        stmts.append(si)
        self.sec_insn[section].append(idx)

    def _code_data(self, si: int, st: Stmt) -> None:
        """A byte directive in a code section: data among the instructions,
        or (``.byte`` of literals) instructions written as bytes."""
        if st.name == ".byte" and self._add_encoded(si, st):
            return
        self.prog.data.append(DataItem(stmt=st, section=st.section, symbol=None))
        self.data_si.append(si)

    def _directive(self, si: int, st: Stmt, globals_: set[str], types: dict[str, str],
                   sizes: dict[str, int]) -> None:
        """A directive that is no byte directive (the scan reads those)."""
        name = st.name
        if name not in _READ:
            mode = code_mode(name)
            if mode is not None:
                # GNU as keeps one mode for the whole file, whatever the section
                self.mode = mode
        elif name in (".section", ".pushsection"):
            parts = [p.strip() for p in st.args.split(",")]
            if len(parts) > 1 and "x" in parts[1].strip('"'):
                self.prog.code_sections.add(parts[0])
        elif name in (".globl", ".global"):
            globals_.update(a.strip() for a in st.args.split(","))
        elif name == ".type":
            parts = [p.strip() for p in st.args.split(",")]
            if len(parts) == 2:
                types[parts[0]] = parts[1].lstrip("@%").strip('"')
        elif name == ".size":
            parts = [p.strip() for p in st.args.split(",", 1)]
            if parts:
                sizes.setdefault(parts[0], si)
        else:  # .set, .equ, .equiv, .eqv
            parts = [p.strip() for p in st.args.split(",", 1)]
            if len(parts) == 2:
                self._assign(parts[0], parts[1])
                if LABELREF.fullmatch(parts[1]) and not parts[1][0].isdigit():
                    # another name for a label: 5.19+'s SYM_FUNC_ALIAS(_LOCAL), whose
                    # calls (aesni_set_key's to _key_expansion_128) are asm calls
                    self.labels.aliases.setdefault(parts[0], parts[1])

    def _add_encoded(self, si: int, st: Stmt) -> bool:
        """A ``.byte`` of literals whose bytes are whole instructions in the
        current mode (``ERETU`` = ``.byte 0xf3,0x0f,0x01,0xca``) becomes those
        instructions; False (it stays data) for anything else."""
        from entrylint.program.decode import decode_bytes, split_opcode

        key = (st.args, self.mode)
        infos = _ENCODED.get(key, False)
        if infos is False:  # (6.12's entry_64.S: 224 ``.byte 0x6a, vector`` of one macro, none literal)
            data = _literal_bytes(st.args)
            infos = tuple(decode_bytes(data, self.mode) or ()) if data else ()
            if len(_ENCODED) < _ENCODED_MAX:
                _ENCODED[key] = infos
        if not infos:
            return False
        for info in infos:
            head, args = split_opcode(info.text)
            idx = len(self.prog.instructions)
            try:
                ops = tuple(parse_operands(args))
            except Exception:  # the operand parser is total in intent
                ops = ()
            self.prog.instructions.append(Instruction(
                index=idx, stmt=st, mnemonic=info.mnemonic, prefixes=tuple(head.split()[:-1]),
                operands=ops, section=st.section, info=info, args=args, mode=self.mode,
                encoded=True))
            self.ins_si.append(si)
            self.sec_stmt.setdefault(st.section, []).append(si)
            self.sec_insn.setdefault(st.section, []).append(idx)
        self.prog.code_sections.add(st.section)
        return True

    def is_code(self, section: str) -> bool:
        return section in self.prog.code_sections or named_as_code(section)

    def position(self, si: int, section: str) -> int:
        """Instruction index of the first instruction of ``section`` at or after statement ``si``
        (one past the section's last instruction if none follows)."""
        stmts = self.sec_stmt.get(section, [])
        insns = self.sec_insn.get(section, [])
        i = bisect.bisect_left(stmts, si)
        if i < len(insns):
            return insns[i]
        return (insns[-1] + 1) if insns else len(self.prog.instructions)

    def between(self, start: int, end: int, section: str) -> tuple[int, ...]:
        """The instructions of ``section`` whose index is in [start, end)."""
        insns = self.sec_insn.get(section, [])
        return tuple(insns[bisect.bisect_left(insns, start):bisect.bisect_left(insns, end)])

    def _symbols(self, sym_labels, globals_, types, sizes) -> None:
        prog = self.prog
        for si, name, st in sym_labels:
            kind = st.cpp_macros[0] if st.cpp_macros else (
                "function" if types.get(name) == "function" else "label")
            start = self.position(si, st.section)
            end_si = sizes.get(name)
            end = self.position(end_si, st.section) if end_si is not None else None
            if name not in prog.symbols:
                prog.symbols[name] = Symbol(name=name, kind=kind, section=st.section, start=start, end=end,
                                            location=st.location, is_global=name in globals_, type=types.get(name))
                self.sym_si[name] = si
            prog.labels.setdefault(name, start)
        # enclosing symbol of each instruction and code data item: the last symbol label before it
        by_section = self.sym_by_section
        for si, name, st in sym_labels:
            by_section.setdefault(st.section, []).append((si, name))
        for ins, si in zip(prog.instructions, self.ins_si, strict=True):
            ins.symbol = _enclosing(by_section.get(ins.section, []), si)
        for d, si in zip(prog.data, self.data_si, strict=True):
            d.symbol = _enclosing(by_section.get(d.section, []), si)
        for name, si in self.labels.named.items():
            st = prog.statements[si]
            prog.labels.setdefault(name, self.position(si, st.section))

    # -- pass 2 -------------------------------------------------------------
    def alternatives(self, problems: list[Problem]) -> None:
        prog = self.prog
        features, disabled, (shift, not_bit_lo, not_bit_hi) = macro_facts(self.macros)
        prog.features, prog.disabled = dict(features), set(disabled)
        entries = self._alt_entries()
        forks: dict[int, dict] = {}
        for (si_orig, orig, si_repl, repl, feat_dir, feat_expr, olen, rlen, st) in entries:
            o_start = self._label_pos(orig, si_orig)
            r_start = self._label_pos(repl, si_repl)
            o_end = self._label_pos(_first_label(olen[1]), olen[0]) if olen else None
            r_end = self._label_pos(_first_label(rlen[1]), rlen[0]) if rlen else None
            value = eval_int(feat_expr)
            if None in (o_start, r_start, o_end, r_end) or value is None:
                problems.append(Problem(ProblemKind.ASM_ERROR,
                                        f"alternative entry not understood: {feat_dir} {feat_expr}",
                                        st.location, st.trace))
                continue
            if feat_dir == ".word":
                bit, negated, flags = value & ~(1 << not_bit_lo), bool(value & (1 << not_bit_lo)), 0
            else:
                bit = value & ((1 << shift) - 1)
                flags = value >> shift
                negated = bool(flags & (1 << not_bit_hi))
                flags &= ~(1 << not_bit_hi)
            name = prog.features.get(bit, f"feature#{bit}")
            # Entries that name the same label *statement* patch the same site
            # (ALTERNATIVE_2's two entries; 6.x nests them, the outer entry's
            # 740b then resolves to the inner label).  Separate ALTERNATIVEs
            # may share an instruction position (both with an empty original)
            # but never a label statement: they stay separate forks.
            f = forks.setdefault(o_start[0], {"start": o_start[1], "end": o_end[1], "repl": [],
                                              "site": o_start})
            f["end"] = max(f["end"], o_end[1])
            f["repl"].append(Replacement(feature=name, feature_bit=bit, negated=negated, flags=flags,
                                         start=r_start[1], end=r_end[1],
                                         insns=self.between(r_start[1], r_end[1],
                                                            prog.statements[r_start[0]].section)))
        for key in sorted(forks):
            f = forks[key]
            fi = len(prog.forks)
            site_stmt = prog.statements[f["site"][0]]
            fork = AltFork(index=fi, orig_start=f["start"], orig_end=f["end"],
                           replacements=tuple(f["repl"]), location=site_stmt.location,
                           section=site_stmt.section,
                           orig=self.between(f["start"], f["end"], site_stmt.section), trace=site_stmt.trace)
            prog.forks.append(fork)
            self.sites.append(f["site"][0])
            first = fork.replacements[0]
            for i in fork.orig:
                if prog.instructions[i].alt is None:
                    prog.instructions[i].alt = AltSide(fi, "orig", first.feature, first.negated)
            site_symbol = self.symbol_at(f["site"][0], site_stmt.section)
            for ri, r in enumerate(fork.replacements):
                for i in r.insns:
                    ins = prog.instructions[i]
                    ins.alt = AltSide(fi, "repl", r.feature, r.negated, ri)
                    if ins.section == REPL_SECTION:
                        ins.symbol = site_symbol

    # -- pass 5 -------------------------------------------------------------
    def extable(self) -> None:
        """(faulting instruction, fixup) pairs from ``__ex_table``.  An entry is
        what one alignment or section switch opens (each _ASM_EXTABLE does
        both); its first two fields that name code of this program are the
        instruction and its fixup (a 5.x handler ``ex_handler_default - .``
        or a 6.x type number is neither)."""
        prog = self.prog
        entry: list[int] = []

        def flush():
            if len(entry) >= 2:
                prog.extable.append((entry[0], entry[1]))
            entry.clear()

        last = None
        for si in self.tables[EXTABLE_SECTION]:
            st = prog.statements[si]
            if last is not None and last != si - 1 or st.name in (".balign", ".align", ".p2align"):
                flush()
            last = si
            if st.name not in _EXTABLE_FIELDS:
                continue
            for field in st.args.split(","):
                ref = _pcrel_label(field) or (field.strip() if re.fullmatch(r"\s*[.A-Za-z_$\d][\w.$]*\s*", field)
                                             else None)
                pos = self._label_pos(ref, si) if ref and not ref.isdigit() or ref and _NUMREF.match(ref) else None
                if pos is not None and pos[1] < len(prog.instructions) and \
                        prog.statements[pos[0]].section in prog.code_sections:
                    entry.append(pos[1])
                    if len(entry) == 2:
                        flush()
        flush()

    def _label_pos(self, ref: str | None, at: int) -> tuple[int, int] | None:
        """(statement index, instruction index) of label ``ref`` used at statement ``at``."""
        if not ref:
            return None
        si = self.labels.resolve(ref, at)
        if si is None:
            return None
        return si, self.position(si, self.prog.statements[si].section)

    def _alt_entries(self):
        """Parse the ``.altinstructions`` data: each entry is ``.long ORIG - .``,
        ``.long REPL - .``, a feature field, then lengths ``.byte END - START``."""
        out = []
        cur: list[tuple[int, Stmt]] = []

        def flush():
            if len(cur) >= 5:
                (s0, a), (s1, b), (s2, c), (s3, d), (s4, e) = cur[:5]
                orig = _pcrel_label(a.args)
                repl = _pcrel_label(b.args)
                if orig and repl:
                    out.append((s0, orig, s1, repl, c.name, c.args, (s3, d.args), (s4, e.args), a))
            cur.clear()

        for si in self.tables[ALT_SECTION]:
            st = self.prog.statements[si]
            if st.name in (".long", ".int", ".4byte") and _pcrel_label(st.args) and (
                    not cur or len(cur) >= 2):
                flush()
            if st.name in (".balign", ".align", ".p2align"):
                continue
            cur.append((si, st))
        flush()
        return out


    # -- pass 3 -------------------------------------------------------------
    def decode(self, decoder, problems: list[Problem]) -> None:
        # instructions written as bytes were decoded when built (pass 1)
        insns = [i for i in self.prog.instructions if not i.encoded]
        infos, errors = decoder.infos([i.text for i in insns], [i.mode for i in insns])
        # GNU as emits a prefix written on a line of its own as a byte of its
        # own: `rep; vmmcall` assembles where `rep vmmcall` is refused.  Such an
        # instruction is decoded without the prefix (which stays in its text).
        refused = {i for i, msg in errors if insns[i].prefixes and "after `" in msg}
        if refused:
            again, _ = decoder.infos([f"{insns[i].mnemonic} {insns[i].args}".rstrip() for i in sorted(refused)],
                                     [insns[i].mode for i in sorted(refused)])
            for i, info in zip(sorted(refused), again):
                infos[i] = info
            errors = [(i, m) for i, m in errors if i not in refused or infos[i] is None]
        for ins, info in zip(insns, infos):
            ins.info = info
        self.prog.decode_errors = len(problems)
        for idx, msg in errors:
            problems.append(decode_problem(insns[idx], msg))

    # -- pass 4 -------------------------------------------------------------
    def _imm_target(self, ins, si: int) -> None:
        """``pushq $label`` of a code label (an iret frame built by hand), or
        ``movq $label, %reg`` and ``leaq label(%rip), %reg`` (a code address
        for a later ``jmp *%reg``, or pushed as a frame's RIP: 6.9+'s
        ``asm_fred_entry_from_kvm``)."""
        ref = label_operand(ins.mnemonic, ins.args)
        if ref is None:
            return
        si = self.labels.resolve(ref, si)
        if si is not None and self.is_code(self.prog.statements[si].section):
            ins.imm_target = self.position(si, self.prog.statements[si].section)

    def targets(self) -> None:
        prog = self.prog
        for ins, at in zip(prog.instructions, self.ins_si, strict=True):
            self._imm_target(ins, at)
            ref = getattr(ins.info, "target", None)
            if not ref:
                continue
            ins.operands = parse_operands(ins.stmt.args, branch=True)
            ref = ref.strip()
            if not LABELREF.fullmatch(ref):
                ins.target_name = ref
                continue
            ins.target_name = ref
            si = self.labels.resolve(ref, at)
            if si is not None:
                ins.target = self.position(si, prog.statements[si].section)


def _literal_bytes(args: str) -> bytes | None:
    """The bytes of a ``.byte`` argument list made of literals only
    (``0xf3, 0x0f, 0x01, 0xca``); None if any is an expression, a symbol, a
    character or out of range."""
    out = bytearray()
    for part in args.split(","):
        m = _BYTE_LITERAL.fullmatch(part.strip())
        if not m:
            return None
        try:
            v = _number(m.group(2))[0]  # (a number past 64 bits is none)
        except ExprError:
            return None
        v = -v if m.group(1) else v
        if not -128 <= v <= 255:
            return None
        out.append(v & 0xFF)
    return bytes(out)


_LABEL = r"([.A-Za-z_$][\w.$]*|\d+[fb])"
_IMM_LABEL = re.compile(rf"\s*\$\s*{_LABEL}\s*(?:,\s*%\w+\s*)?")  # pushq $1f; movq $label, %rdi
_RIP_LABEL = re.compile(rf"\s*{_LABEL}\s*\(\s*%rip\s*\)\s*,\s*%\w+\s*")  # leaq 1f(%rip), %rax


def label_operand(mnemonic: str, args: str) -> str | None:
    """The label whose address the instruction takes: ``$label`` alone
    (``pushq $1f``) or moved into a register (``movq $label, %rdi``), or a
    ``lea`` of ``label(%rip)``; None otherwise."""
    if not args:
        return None
    if mnemonic.startswith("lea"):
        m = _RIP_LABEL.fullmatch(args) if "%rip" in args else None
    else:
        m = _IMM_LABEL.fullmatch(args) if "$" in args else None
    return m.group(1) if m else None


_PREFIXES_OF: dict[str, bool] = {}  # section name -> whether its name says it holds code


def passed_over(st: Stmt, code_sections) -> bool:
    """Statement ``st`` is data the build reads nothing of (scan(): a byte
    directive neither in a code section -- ``code_sections`` or one named
    as code -- nor in a table it reads: ORC and unwind-hint entries,
    annotations' .discard sections): a label it names is read of nothing but
    its place."""
    return st.kind == "directive" and st.name in _BYTE_DIRECTIVES and st.section not in TABLES \
        and st.section not in code_sections and not named_as_code(st.section)


def named_as_code(section: str) -> bool:
    """``section`` is named as code (``_CODE_PREFIXES``), asked once per name."""
    got = _PREFIXES_OF.get(section)
    if got is None:
        if len(_PREFIXES_OF) > 4096:  # (a file of made-up sections keeps none past it)
            _PREFIXES_OF.clear()
        got = _PREFIXES_OF[section] = section.startswith(_CODE_PREFIXES)
    return got


_FACTS: list = [None, None, None]  # the last macro table asked, its length, what macro_facts made of it


def macro_facts(macros: Mapping[str, object]) -> tuple:
    """What building a program reads of a cpp macro table: (feature_names,
    disabled_features, alt_flag_layout); the build and a check's later
    profiles (shared.py) ask it.  The same table object, of the same size,
    as the last asked gives what it gave (an edit's run takes its last
    table when no #define changed; 3k macros read at every build, 2 ms of
    an edit's 100).  Read only: copy what is kept."""
    if _FACTS[0] is macros and _FACTS[1] == len(macros):
        return _FACTS[2]
    features = feature_names(macros)
    got = (features, frozenset(disabled_features(macros, features)), alt_flag_layout(macros))
    _FACTS[:] = [macros, len(macros), got]
    return got


def _enclosing(labels: list[tuple[int, str]], si: int) -> str | None:
    i = bisect.bisect_left(labels, (si, "")) - 1
    return labels[i][1] if i >= 0 else None


def _pcrel_label(args: str) -> str | None:
    m = re.fullmatch(r"\s*\(?\s*([.A-Za-z_$\d][\w.$]*)\s*\)?\s*-\s*\.\s*", args)
    return m.group(1) if m else None


def _first_label(expr: str) -> str | None:
    m = re.match(r"\s*\(?\s*([.A-Za-z_$\d][\w.$]*)", expr)
    return m.group(1) if m else None


