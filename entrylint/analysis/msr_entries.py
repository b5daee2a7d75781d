"""Which CPU features an entry point's MSR target is chosen under (MODEL 6.1:
entry points include the ``SYSCALL``/``SYSENTER`` MSR targets).

The C side of the tree says where SYSCALL and SYSENTER land: ``syscall_init()``
(arch/x86/kernel/cpu/common.c) writes ``MSR_LSTAR`` (64-bit SYSCALL),
``MSR_CSTAR`` (compat SYSCALL) and ``MSR_IA32_SYSENTER_EIP``.  Where that write
sits under a feature test, the entry point it names is only ever entered with
that feature's value.  4.15-4.19 are the case that needs it::

    if (static_cpu_has(X86_FEATURE_PTI))
            wrmsrl(MSR_LSTAR, SYSCALL64_entry_trampoline);
    else
            wrmsrl(MSR_LSTAR, (unsigned long)entry_SYSCALL_64);

so ``entry_SYSCALL_64`` runs only with PTI off (its own comment: "This path is
only taken when PAGE_TABLE_ISOLATION is disabled") and the trampoline only with
PTI on.  5.0+ write the MSR unconditionally: no assumption.

``msr_entries(root)`` reads that file once per tree and returns which MSR
each identifier is written to (an asm symbol named there is a SYSCALL or
SYSENTER entry, whatever its annotation: 4.x ``ENTRY(ignore_sysret)``, the
compat SYSCALL target without IA32 emulation) and, for every identifier an
MSR write names (directly or through a local variable's initializer), the
features assumed; an identifier named both under a test and outside one, or
under different values, gets no assumption.
"""

from __future__ import annotations

import re
from pathlib import Path

from entrylint.analysis.ctext import strip_comments
from entrylint.analysis.state import Feature
from entrylint.source import overlay, textscan
from entrylint.source.record import data

SOURCES = ("arch/x86/kernel/cpu/common.c",)
ENTRY_MSRS = ("MSR_LSTAR", "MSR_CSTAR", "MSR_IA32_SYSENTER_EIP")

_WRMSR = re.compile(r"\bwrmsrl?(?:_safe)?\s*\(\s*(%s)\s*,\s*([^;]*?)\)\s*;|\bwrmsrl_(cstar|lstar)\s*\(([^;]*?)\)\s*;"
                    % "|".join(ENTRY_MSRS))  # 6.x: wrmsrl_cstar(addr)
_STMT = r"(\{[^{}]*\}|[^;{}]*;)"
_IF = re.compile(r"\bif\s*\(\s*(!?)\s*(?:static_cpu_has|boot_cpu_has|cpu_feature_enabled)\s*\(\s*(X86_FEATURE_\w+)\s*\)"
                 r"\s*\)\s*" + _STMT + r"(?:\s*else\s*" + _STMT + ")?")
_IDENT = re.compile(r"[A-Za-z_]\w*")

Gates = dict  # identifier -> tuple[(feature, Feature), ...]


@data(frozen=True)
class MsrEntries:
    msr: dict  # identifier -> the MSR it is written to (first seen)
    gates: Gates

    def kind(self, name: str) -> str | None:
        """"syscall" or "sysenter" for an MSR target, else None."""
        m = self.msr.get(name)
        return None if m is None else "sysenter" if "SYSENTER" in m else "syscall"


def parse(text: str) -> MsrEntries:
    text = strip_comments(text)
    cond: list[tuple[int, int, str, Feature]] = []  # (start, end, feature, value) of if/else bodies
    for m in _IF.finditer(text):
        neg, feat = m.group(1) == "!", m.group(2)
        on, off = (Feature.OFF, Feature.ON) if neg else (Feature.ON, Feature.OFF)
        cond.append((m.start(3), m.end(3), feat, on))
        if m.group(4) is not None:
            cond.append((m.start(4), m.end(4), feat, off))
    assumed: dict[str, set] = {}
    msr: dict[str, str] = {}
    for m in _WRMSR.finditer(text):
        which = m.group(1) or "MSR_" + m.group(3).upper()
        where = frozenset((f, v) for s, e, f, v in cond if s <= m.start() < e)
        for name in _names(text, m.group(2) if m.group(1) else m.group(4), m.start()):
            assumed.setdefault(name, set()).add(where)
            msr.setdefault(name, which)
    out: Gates = {}
    for name, seen in assumed.items():
        if len(seen) == 1 and next(iter(seen)):
            out[name] = tuple(sorted(next(iter(seen))))
    return MsrEntries(msr, out)


def _names(text: str, expr: str, at: int) -> set[str]:
    """Identifiers ``expr`` names, a local variable's initializer included
    (``unsigned long SYSCALL64_entry_trampoline = ... entry_SYSCALL_64_trampoline ...``)."""
    names = set(_IDENT.findall(expr))
    head = text[:at]
    for n in list(names):
        # `\bname\s*=...` searched from the name (textscan: a pattern that
        # starts with \b is tried at every position, 30 ms of a cold check)
        init = None
        for d, _ in textscan.finditer(re.compile(r"%s\s*=\s*([^;]*);" % re.escape(n)), head, textscan.word_start):
            init = d.group(1)
        if init is not None:
            names |= set(_IDENT.findall(init))
    return names


def msr_entries(root: Path | None) -> MsrEntries:
    """The MSR entry targets the tree at ``root`` writes, with the features
    each is chosen under (nothing without a tree or without the file): once
    per process, and a fact of the tree kept on disk across runs."""
    if root is None:
        return _msr_entries(root)
    from entrylint import cache

    return cache.fact(("msr-entries", str(root)), _msr_entries, root)


@overlay.tree_cache(maxsize=32)
def _msr_entries(root: Path | None) -> MsrEntries:
    texts = []
    for rel in SOURCES if root is not None else ():
        try:
            texts.append(overlay.read_text(Path(root) / rel, errors="replace"))
        except OSError:
            continue
    return parse("\n".join(texts))
