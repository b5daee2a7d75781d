"""``--format github``: GitHub Actions workflow commands, which the runner
turns into annotations on the pull request without an upload step:

    ::error file=arch/x86/entry/entry_64.S,line=588,col=2,title=EL201 c-call-user-cr3::call to ...

Escaping follows the runner (actions/toolkit, command.ts): in the message
``%``, ``\\r`` and ``\\n``; in property values also ``:`` and ``,``.
A finding with no location becomes an annotation on the workflow run.
"""

from __future__ import annotations

from entrylint.report.paths import display_path

COMMAND = {"error": "error", "warning": "warning", "info": "notice"}


def escape_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(s: str) -> str:
    return escape_data(s).replace(":", "%3A").replace(",", "%2C")


def render(results, nfiles: int = 0, nlines: int = 0) -> str:  # noqa: ARG001
    out = []
    for root, f in results:
        loc = f.location
        props = []
        if loc:
            props += [("file", display_path(loc.file, root)), ("line", str(loc.line)), ("col", str(loc.col))]
        props.append(("title", f"{f.id} {f.slug}"))
        plist = ",".join(f"{k}={escape_property(v)}" for k, v in props)
        out.append(f"::{COMMAND[f.severity.value]} {plist}::{escape_data(f.message)}")
    return "".join(line + "\n" for line in out)
