"""``--format gcc``: the diagnostics format of gcc and GNU as, which editors
(vim's quickfix, Emacs' compilation mode, VS Code's problem matchers) read:

    arch/x86/entry/entry_64.S:588:2: error: call to ... with the user CR3 [EL201 c-call-user-cr3]
    arch/x86/include/asm/irqflags.h:120:2: note: in expansion of macro 'TRACE_IRQS_OFF'

One line per finding plus a ``note:`` per expansion frame; no summary.
"""

from __future__ import annotations

from entrylint.report.paths import display_path
from entrylint.report.text import via_frames

WORD = {"error": "error", "warning": "warning", "info": "note"}


def render(results, nfiles: int = 0, nlines: int = 0) -> str:  # noqa: ARG001 - same signature as the others
    out = []
    for root, f in results:
        loc = f.location
        where = f"{display_path(loc.file, root)}:{loc.line}:{loc.col}: " if loc else "entrylint: "
        out.append(f"{where}{WORD[f.severity.value]}: {f.message} [{f.id} {f.slug}]")
        for frame, macro in via_frames(f):
            what = f"in expansion of macro '{macro}'" if macro else "in expansion"
            out.append(f"{display_path(frame.file, root)}:{frame.line}:{frame.col}: note: {what}")
        for site in f.sites:
            what = "expanded here" if f.sites_kind == "expansions" else "and here"
            out.append(f"{display_path(site.file, root)}:{site.line}:{site.col}: note: {what}")
        for site in f.later:
            out.append(f"{display_path(site.file, root)}:{site.line}:{site.col}: note: a later step of this fault")
    return "".join(line + "\n" for line in out)
