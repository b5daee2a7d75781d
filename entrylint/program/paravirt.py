"""Paravirt patch sites as forks (MODEL 6.1).

With CONFIG_PARAVIRT, 4.x headers (up to 5.x's PARAVIRT_XXL) write SWAPGS,
INTERRUPT_RETURN, USERGS_SYSRET64, DISABLE_INTERRUPTS... as a *patch site*:
a labelled call or jump through the pv ops table (``call *pv_cpu_ops+
PV_CPU_swapgs(%rip)``) recorded in ``.parainstructions`` (``PARA_SITE``).
At boot the kernel patches each site: on bare metal with the native
instruction (``swapgs``, ``swapgs; sysretq``...), under Xen PV with the
hypervisor's op.  So a site is a fork like an alternative: the native side
runs when ``X86_FEATURE_XENPV`` is off, the pv call only when it is on.

Where the native side comes from: the same macro compiled without the
paravirt option, i.e. the definition the tree gives it when the option that
guards its pv definition is off (irqflags.h's ``#else`` of CONFIG_PARAVIRT).
This module finds the sites from the ``.parainstructions`` data (as the
headers of each version build it, not from a macro name), and adds the
native side read by a caller-supplied ``native`` function (the api runs the
preprocessor for it: this layer does not know configurations).
"""

from __future__ import annotations

import re
from dataclasses import replace

from entrylint.gas.types import Stmt
from entrylint.program.build import PARA_SECTION  # (its directives are listed by the build's scan)
from entrylint.program.constants import XENPV  # the pv side runs only under Xen PV
from entrylint.program.model import AltFork, AltSide, Replacement
from entrylint.source import overlay
from entrylint.source.record import data

NATIVE_SECTION = ".paravirt.native"  # the native sides, one after the other, like .altinstr_replacement
_LABEL = re.compile(r"\s*([.A-Za-z_$\d][\w.$]*)\s*")
_PV_OP = re.compile(r"\bPV_[A-Z]+_(\w+)")


@data(frozen=True)
class Site:
    """One patch site: instructions [start, end) of ``section``."""

    start: int
    end: int
    section: str
    insns: tuple[int, ...]
    stmt: Stmt  # its first instruction's statement (trace, condition, cpp macros)

    @property
    def macro(self) -> str | None:
        """The outermost cpp macro that wrote the site (``SWAPGS``)."""
        return self.stmt.cpp_macros[0] if self.stmt.cpp_macros else None


def pv_op(text: str) -> str | None:
    """The pv operation an operand names: ``*pv_cpu_ops+PV_CPU_iret(%rip)`` -> ``iret``."""
    m = _PV_OP.search(text)
    return m.group(1) if m else None


def find_sites(builder) -> list[Site]:
    """Sites from the ``.parainstructions`` entries: an address (``.quad 771b``
    / ``.long 771b``), a type byte, then a length ``.byte 772b-771b``."""
    prog = builder.prog
    out: list[Site] = []
    entry: list[tuple[int, Stmt]] = []

    def flush() -> None:
        if len(entry) >= 3 and entry[1][1].name == ".byte" and entry[2][1].name == ".byte":
            (s0, a), _, (s2, c) = entry[:3]
            start_ref = _LABEL.fullmatch(a.args)
            end_ref = _LABEL.match(c.args.split("-")[0]) if "-" in c.args else None
            if start_ref and end_ref:
                start = builder._label_pos(start_ref.group(1), s0)
                end = builder._label_pos(end_ref.group(1), s2)
                if start and end:
                    section = prog.statements[start[0]].section
                    insns = builder.between(start[1], end[1], section)
                    if insns:
                        out.append(Site(start[1], end[1], section, insns, prog.instructions[insns[0]].stmt))
        entry.clear()

    for si in builder.tables[PARA_SECTION]:
        st = prog.statements[si]
        if st.name in (".quad", ".long", ".8byte", ".4byte") and _LABEL.fullmatch(st.args):
            flush()
        if st.name in (".align", ".balign", ".p2align"):
            continue
        entry.append((si, st))
    flush()
    return out


def add_native_forks(builder, native) -> None:
    """Give every patch site its native side.  ``native(sites)`` returns, per
    site, the statements the site's macro assembles to without paravirt (or
    None: unknown, the site stays straight-line pv code)."""
    prog = builder.prog
    sites = find_sites(builder)
    if not sites:
        return
    got = native(sites) if native is not None else None
    if not got:
        return
    for site, stmts in zip(sites, got):
        if not stmts:
            continue
        idx = []
        for st in stmts:
            st = replace(st, section=NATIVE_SECTION, trace=site.stmt.trace, cond=site.stmt.cond,
                         cpp_macros=site.stmt.cpp_macros)
            si = len(prog.statements)
            prog.statements.append(st)
            n = len(prog.instructions)
            builder._add_insn(si, st)
            idx.append(n)
        fi = len(prog.forks)
        repl = Replacement(feature=XENPV, feature_bit=-1, negated=True, flags=0,
                           start=idx[0], end=idx[-1] + 1, insns=tuple(idx))
        orig = _whole_invocation(prog, site)
        prog.forks.append(AltFork(index=fi, orig_start=site.start, orig_end=orig[-1] + 1 if len(orig) > len(site.insns) else site.end,
                                  replacements=(repl,), location=site.stmt.location,
                                  section=site.section, orig=orig))
        for i in orig:
            if prog.instructions[i].alt is None:
                prog.instructions[i].alt = AltSide(fi, "orig", XENPV, True)
        symbol = prog.instructions[site.insns[0]].symbol
        for i in idx:
            ins = prog.instructions[i]
            ins.alt = AltSide(fi, "repl", XENPV, True, 0)
            ins.symbol = symbol
        prog.paravirt.append((fi, pv_op(" ".join(prog.instructions[i].args for i in site.insns))))


def _whole_invocation(prog, site: Site) -> tuple[int, ...]:
    """The site and the instructions after it that the same macro invocation
    wrote: ``GET_CR2_INTO(%r12)`` under PARAVIRT_XXL is the pv call (the
    site), then ``movq %rax, %r12`` of its result.  The native side is that
    invocation compiled without paravirt (``movq %cr2, %r12``), so it stands
    for all of them, not for the call alone."""
    first = site.stmt
    out = list(site.insns)
    for ins in prog.instructions[site.insns[-1] + 1:]:
        st = ins.stmt
        if st.section != site.section:
            continue
        if (st.trace != first.trace or st.written_at != first.written_at
                or st.cpp_macros[:1] != first.cpp_macros[:1]):
            break
        out.append(ins.index)
    return tuple(out)


# -- the native side, read from the tree --------------------------------------
_CONFIG = re.compile(r"\bCONFIG_\w+")


def native_reader(filename: str, text: str, copts, macros):
    """A ``native`` function for ``add_native_forks``: each site's macro
    invocation, preprocessed again with the configuration option that guards
    the macro's pv definition turned off (the innermost one that makes the
    site disappear), read by GNU as.  The invocation is preprocessed after
    the file's own directives (its ``#include``s, ``#define``s and ``#if``s,
    its code blanked), so the definition the tree gives the macro without
    that option is the one used (irqflags.h's ``#else``, or the file's)."""
    from dataclasses import replace as dc_replace

    from entrylint.cpp import preprocess_text
    from entrylint.gas import expand as gas_expand

    def native(sites: list[Site]):
        if copts.kconfig is None:
            return None
        # (a site in the file checked is read in its text: an editor's buffer
        # need not be what the disk holds, lines added above it move it)
        own = text.split("\n")
        calls = [_invocation(s, macros, own if s.stmt.written_at.file == filename else None) for s in sites]
        options: list[str] = []
        for s in sites:
            md = macros.get(s.macro or "")
            for c in reversed(getattr(md, "cond", ()) or ()):
                if c.taken:
                    options += [o for o in _CONFIG.findall(c.text) if o not in options]
        # the file's directives in place, code blanked: its #includes, and
        # the definitions it gives itself (4.4's head_64.S defines
        # INTERRUPT_RETURN in the #else of CONFIG_PARAVIRT, in the file)
        pre = _directives(text.splitlines())
        out: list[list[Stmt] | None] = [None] * len(sites)
        for opt in options:
            todo = [i for i, c in enumerate(calls) if c and out[i] is None and copts.kconfig.enabled(opt)]
            if not todo:
                continue
            kc = copts.kconfig.with_overrides({opt: None})
            snippet = "\n".join(pre + [calls[i] for i in todo]) + "\n"
            pp = preprocess_text(snippet, filename, dc_replace(copts, kconfig=kc))
            by_line: dict[int, list] = {}
            for line in pp.lines:
                o = line.origin
                if o.file == filename and o.line > len(pre):
                    by_line.setdefault(o.line, []).append(line)
            for k, i in enumerate(todo):
                lines = by_line.get(len(pre) + 1 + k)
                if not lines:
                    continue
                stmts = gas_expand(lines).statements
                if stmts and all(st.kind == "insn" for st in stmts):
                    out[i] = stmts
        return out

    return native


_DIRECTIVE = re.compile(r"\s*#\s*(?:include|define|undef|if|ifdef|ifndef|elif|else|endif)\b")


def _directives(lines: list[str]) -> list[str]:
    """A file's lines with everything but its preprocessor directives (and
    their continuation lines) blanked: its macros, as it defines them."""
    out, cont = [], False
    for line in lines:
        keep = cont or bool(_DIRECTIVE.match(line))
        out.append(line if keep else "")
        cont = keep and line.rstrip().endswith("\\")
    return out


@overlay.tree_cache(maxsize=16)
def _lines_of(file: str) -> list[str]:
    return overlay.read_text(file).split("\n")


def _invocation(site: Site, macros, lines: list[str] | None = None) -> str | None:
    """``NAME`` or ``NAME(args)`` as written where the site's text was
    written (``lines``: that file's, when given; else read)."""
    name = site.macro
    if not name:
        return None
    where = site.stmt.written_at
    if lines is None:
        try:
            lines = _lines_of(where.file)
        except OSError:
            return None
    if not 0 < where.line <= len(lines):
        return None
    line = lines[where.line - 1]
    m = re.search(rf"(?<![\w$.]){re.escape(name)}(?![\w$])", line)
    if m is None:
        return None
    md = macros.get(name)
    if getattr(md, "params", None) is None:
        return name
    k = m.end()
    while k < len(line) and line[k].isspace():
        k += 1
    if k >= len(line) or line[k] != "(":
        return None
    level = 0
    for j in range(k, len(line)):
        level += {"(": 1, ")": -1}.get(line[j], 0)
        if level == 0:
            return name + line[k:j + 1]
    return None
