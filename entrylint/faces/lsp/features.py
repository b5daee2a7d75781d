"""What the language server shows, computed from a buffer and the last
analysis of it (engine.Result): diagnostics, hover, definitions, document
symbols, suppression edits, inlay hints.  Plain data out (no LSP types):
server.py turns it into the protocol.  Nothing here analyses again.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import threading
from dataclasses import field
from pathlib import Path

from entrylint.source.overlay import tree_cache
from entrylint.source.record import data

# -- diagnostics ------------------------------------------------------------


# A diagnostic names its file and every related place by URI, and is shown
# in the document of its file: resolving a path is a system call per folder
# of it, and publishing 6.12's entry_64.S's results resolved hundreds of
# them (9 ms of each re-analysis's answer).  The answers are kept: a path resolves to the same
# file while the server runs (a symbolic link changed under an open tree is
# not followed again).
@tree_cache(maxsize=8192)
def real(file: str) -> str:
    """``file`` with its symbolic links followed (``Path.resolve``)."""
    return str(Path(file).resolve())


@data
class Diag:
    file: str  # resolved path the diagnostic is shown in
    line: int  # 1-based
    col: int  # 1-based
    severity: str  # error, warning, info
    code: str
    slug: str
    message: str
    related: list[tuple[str, int, str]] = field(default_factory=list)  # (file, line, note)
    site: tuple[str, int] | None = None  # where a suppression comment goes (file, line)


def _when(f, profiles) -> str:
    if len(profiles) > 1 and f.profiles and set(f.profiles) != set(profiles):
        return f" (when: {', '.join(f.profiles)})"
    return ""


def diagnostics(result, profiles: tuple[str, ...] = ()) -> dict[str, list[Diag]]:
    """The diagnostics of one analysis, by the file they are shown in: the
    analysed file, and every header whose macro bodies wrote a faulty
    instruction (the message names the invocation site)."""
    main = real(str(result.path))
    out: dict[str, list[Diag]] = {main: []}
    if result.error:
        out[main].append(Diag(main, 1, 1, "error", "EL999", "internal-error", result.error))
        return out
    for f in result.findings:
        if f.location is None:
            continue
        loc = f.location
        related = [(s.location.file, s.location.line, f"{s.note}  {s.state}".rstrip()) for s in f.path]
        # a trace step's macro is the one invoked there: the next step is in its body
        related += [(t.location.file, t.location.line,
                     f"in macro {f.trace[k - 1].macro}" if f.trace[k - 1].macro else "written here")
                    for k, t in enumerate(f.trace) if k > 0]
        related += [(s.file, s.line, "another expansion with this finding") for s in f.sites]
        related += [(s.file, s.line, "a later step of this fault") for s in f.later]
        msg = f"{f.message}{_when(f, profiles)}"
        site = (loc.file, loc.line)
        out.setdefault(loc.file, []).append(Diag(loc.file, loc.line, loc.col, f.severity.value, f.id, f.slug, msg,
                                                 related[:40], site))
        seen = {(loc.file, loc.line)}
        for k, t in enumerate(f.trace[1:], 1):
            where = (t.location.file, t.location.line)
            if where in seen or t.location.file == loc.file:
                continue
            seen.add(where)
            inv = f"{Path(loc.file).name}:{loc.line}"
            via = f" via {f.trace[k - 1].macro}" if f.trace[k - 1].macro else ""
            out.setdefault(t.location.file, []).append(Diag(
                t.location.file, t.location.line, t.location.col, f.severity.value, f.id, f.slug,
                f"{f.message} (invoked at {inv}{via}{', in ' + f.symbol if f.symbol else ''}){_when(f, profiles)}",
                [(loc.file, loc.line, "the invocation site")] + related[:39], site))
    return out


# -- rule documentation -----------------------------------------------------

_infos = None
_infos_lock = threading.Lock()


def rule_infos() -> dict[str, object]:
    """Every rule, front-end and suppression finding's RuleInfo, by id and slug.
    The server reads them first in a thread of its own (at `initialized`) while
    a hover may ask on the event loop: the second caller waits for the first,
    and the table is published only when it is complete."""
    global _infos
    if _infos is None:
        with _infos_lock:
            if _infos is None:
                from entrylint.report.sarif import rule_infos as all_infos

                infos = {}
                for i in all_infos():
                    infos[i.id] = infos[i.slug] = i
                _infos = infos
    return _infos


@functools.lru_cache(maxsize=None)
def rule_doc_uri(rule_id: str) -> str | None:
    """The rule's documentation: the module whose docstring it is (a file URI)."""
    info = rule_infos().get(rule_id)
    if info is None:
        return None
    name = info.plugin if info.plugin and info.plugin != "entrylint" else None
    if name is None:
        name = "entrylint.findings.suppress" if rule_id in ("EL912", "EL913") else "entrylint.findings.frontend"
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.origin:
        return None
    return Path(spec.origin).resolve().as_uri()


def rule_hover(word: str) -> str | None:
    info = rule_infos().get(word) or rule_infos().get(word.upper())
    if info is None:
        return None
    return f"**{info.id} {info.slug}** ({info.severity.value}, {info.status})\n\n{info.doc}"


def findings_hover(findings, file: str, line: int) -> str | None:
    """The rules of the diagnostics on a line: id, slug, one sentence, the doc link."""
    out, seen = [], set()
    for f in findings:
        if f.location is None or f.location.file != file or f.location.line != line or f.id in seen:
            continue
        seen.add(f.id)
        info = rule_infos().get(f.id)
        uri = rule_doc_uri(f.id)
        short = f": {info.short}" if info is not None and info.short else ""
        link = f" ([documentation]({uri}))" if uri else ""
        out.append(f"- **{f.id} {f.slug}**{short}{link}")
    return "\n".join(out) if out else None


# -- words and lines -----------------------------------------------------------

_WORD = re.compile(r"[A-Za-z0-9_.$\\@-]+")


def word_at(text: str, line: int, col: int) -> str:
    """The identifier-ish word at 0-based (line, col)."""
    lines = text.splitlines()
    if line >= len(lines):
        return ""
    s = lines[line]
    for m in re.finditer(r"[A-Za-z0-9_.$-]+", s):
        if m.start() <= col <= m.end():
            return m.group(0).strip(".-") if not m.group(0).startswith(".") else m.group(0)
    return ""


def _instructions_of(an, file: str, line: int):
    """The instructions the reviewer's line produced (written there, or expanded there)."""
    direct = [i for i in an.program.instructions if i.location.file == file and i.location.line == line]
    if direct:
        return direct
    return [i for i in an.program.instructions
            if any(f.location.file == file and f.location.line == line for f in i.trace[1:])]


def _statements_of(an, file: str, line: int):
    return [st for st in an.expansion.gas.statements
            if st.trace[0].location.file == file and st.trace[0].location.line == line]


def _states(ts) -> list[str]:
    return sorted({str(t) for t in ts})


def expansion_hover(an, file: str, line: int) -> str | None:
    """A macro invocation's expansion (``\\@`` labels as the assembler numbers them)."""
    sts = _statements_of(an, file, line)
    # the invocation frame names the macro (GAS), or the line's cpp macros do
    macros = [st.trace[0].name or st.trace[0].kind for st in sts if st.trace[0].kind != "source"]
    macros += [m for st in sts for m in st.cpp_macros if len(st.trace) == 1]
    if not sts or not macros:
        return None
    names = ", ".join(dict.fromkeys(m for m in macros if m))
    body = "\n".join(("" if st.kind == "label" else "\t") + st.text() for st in sts[:200])
    more = f"\n... {len(sts) - 200} more statements" if len(sts) > 200 else ""
    return f"**expansion of {names or 'this line'}** (profile {an.expansion.profile})\n```asm\n{body}{more}\n```"


def state_hover(an, file: str, line: int) -> str | None:
    """The state tuples (cr3/gs/stack, feature assumptions) and the live
    registers before the line's first instruction and after its last."""
    ins = _instructions_of(an, file, line)
    if not ins:
        return None
    fw = an.forward
    before = set().union(*(fw.before.get(i.index, set()) for i in ins[:1]))
    after = set().union(*(fw.after.get(i.index, set()) for i in ins[-1:]))
    head = ins[0].text if len(ins) == 1 else f"{ins[0].text} ... {ins[-1].text} ({len(ins)} instructions)"
    out = [f"**state at** `{head}` [{ins[0].symbol or '-'}] (profile {an.expansion.profile})", ""]
    if not before:
        out.append("not reached from any entry point")
    else:
        out.append("before: " + "  ".join(_states(before)))
        out.append("")
        out.append("after: " + "  ".join(_states(after)) if after else "after: (no fall-through)")
    if an.liveness is not None:
        lb = " ".join("%" + r for r in sorted(an.liveness.before(ins[0].index))) or "-"
        la = " ".join("%" + r for r in sorted(an.liveness.after(ins[-1].index))) or "-"
        out += ["", f"live: {lb}  ->  {la}"]
    return "\n".join(out)


# -- definitions -----------------------------------------------------------------

_INCLUDE = re.compile(r'^\s*(?:#\s*include\s*([<"])([^>"]+)[>"]|\.include\s+"([^"]+)")')


def include_target(text: str, line: int, path: Path, an) -> Path | None:
    lines = text.splitlines()
    if line >= len(lines):
        return None
    m = _INCLUDE.match(lines[line])
    if not m:
        return None
    name = m.group(2) or m.group(3)
    angled = m.group(1) == "<"
    search = getattr(getattr(an.expansion, "cpp", None), "search", None) if an is not None else None
    if search is None:
        from entrylint.api import resolve_root, Options
        from entrylint.source.tree import kernel_include_search

        search = kernel_include_search(resolve_root(path, Options()), None, (), for_file=path)
    dirs = ([] if angled else [path.parent, *search.quote_dirs]) + list(search.dirs)
    for d in dirs:
        cand = Path(d) / name
        if cand.is_file():
            return cand.resolve()
    if search.generic_fallback and name.startswith("asm/"):
        for d in search.dirs:
            cand = Path(d) / ("asm-generic/" + name[4:])
            if cand.is_file():
                return cand.resolve()
    return None


def _label_line(lines: list[str], name: str, start: int, step: int) -> int | None:
    pat = re.compile(rf"(^|[\s;]){re.escape(name)}:")
    i = start
    while 0 <= i < len(lines):
        if pat.search(lines[i].split("/*")[0].split("#")[0] if not lines[i].lstrip().startswith("#") else ""):
            return i
        i += step
    return None


def _same(line: int) -> int:
    return line


def definition(text: str, line: int, col: int, path: Path, an, shown=_same) -> tuple[str, int] | None:
    """Where the word at 0-based (line, col) is defined: (file, 1-based line).
    ``shown`` maps a line of the analysed text to the buffer's (engine.Result)."""
    inc = include_target(text, line, path, an)
    if inc is not None:
        return str(inc), 1
    word = word_at(text, line, col)
    if not word:
        return None
    lines = text.splitlines()
    m = re.fullmatch(r"(\d+)([fb])", word)
    if m:
        at = _label_line(lines, m.group(1), line + 1 if m.group(2) == "f" else line - 1,
                         1 if m.group(2) == "f" else -1)
        if at is None and m.group(2) == "b" and _label_line(lines[line:line + 1], m.group(1), 0, 1) is not None:
            at = line
        return (real(str(path)), at + 1) if at is not None else None
    if an is not None:
        me = real(str(path))
        gm = an.expansion.gas.macros.get(word.lower())
        cm = an.expansion.pp.macros.get(word)
        sym = an.program.symbols.get(word)
        for loc in (gm.location if gm else None, cm.location if cm else None, sym.location if sym else None):
            if loc is not None:
                ln = shown(loc.line) if loc.file == me else loc.line
                if ln is not None:
                    return loc.file, ln
    at = _label_line(lines, word, 0, 1)
    if at is not None:
        return real(str(path)), at + 1
    return None


# -- document symbols -------------------------------------------------------------

_SYM_START = re.compile(r"^\s*(SYM_[A-Z_]*START[A-Z_]*|ENTRY|GLOBAL|SYM_INNER_LABEL[A-Z_]*)\s*\(\s*([A-Za-z0-9_.$]+)")
_SYM_END = re.compile(r"^\s*(SYM_[A-Z_]*END|END|ENDPROC)\s*\(\s*([A-Za-z0-9_.$]+)")


@data
class Symbol:
    name: str
    detail: str
    start: int  # 0-based lines
    end: int
    entry: bool = False


def document_symbols(text: str, path: Path, an, shown=_same) -> list[Symbol]:
    """The ``SYM_*`` (and older ``ENTRY``/``END``) ranges of the file, entry
    points marked with their kind; entry points without an annotation too."""
    lines = text.splitlines()
    entries = {}
    if an is not None:
        entries = {e.symbol: e.kind.name.lower() for e in an.entries}
    out: list[Symbol] = []
    open_: dict[str, Symbol] = {}
    for i, s in enumerate(lines):
        m = _SYM_START.match(s)
        if m:
            kind, name = m.groups()
            sym = Symbol(name, kind, i, i)
            out.append(sym)
            if "INNER_LABEL" not in kind:
                open_[name] = sym
            continue
        m = _SYM_END.match(s)
        if m and m.group(2) in open_:
            open_.pop(m.group(2)).end = i
    named = {s.name for s in out}
    if an is not None:
        me = real(str(path))
        for name, kind in entries.items():
            sym = an.program.symbols.get(name)
            ln = shown(sym.location.line) if sym is not None and sym.location.file == me else None
            if name not in named and ln is not None:
                out.append(Symbol(name, sym.kind, ln - 1, ln - 1))
    for s in out:
        if s.name in entries:
            s.entry = True
            s.detail = f"entry point ({entries[s.name]}) {s.detail}"
    return sorted(out, key=lambda s: (s.start, s.name))


# -- code actions ------------------------------------------------------------------

def suppression_line(text: str, line: int, rule: str) -> str:
    """The comment line that suppresses ``rule`` at 1-based ``line`` of ``text``
    (suppress.py: a comment on the line above, naming the rule and a reason)."""
    lines = text.splitlines()
    src = lines[line - 1] if 0 < line <= len(lines) else ""
    indent = src[:len(src) - len(src.lstrip())]
    return f"{indent}/* entrylint: ignore[{rule}] REASON: say why this is safe */\n"


# -- inlay hints ----------------------------------------------------------------------

def inlay_hints(an, file: str, text: str, first: int, last: int, shown=_same) -> list[tuple[int, int, str]]:
    """(0-based line, column, label): cr3/gs before each line of an entry path
    (a line whose instructions some entry point reaches) in [first, last] of ``text``."""
    fw = an.forward
    by_line: dict[int, set] = {}
    for ins in an.program.instructions:
        loc = ins.location
        if loc.file != file:
            continue
        ln = shown(loc.line)
        if ln is None or not (first + 1 <= ln <= last + 1) or ln in by_line:
            continue
        ts = fw.before.get(ins.index)
        if ts:
            by_line[ln] = ts
    lines = text.splitlines()
    out = []
    for ln, ts in sorted(by_line.items()):
        cr3 = "|".join(sorted({t.cr3.value for t in ts}))
        gs = "|".join(sorted({t.gs.value for t in ts}))
        width = len(lines[ln - 1]) if ln - 1 < len(lines) else 0
        out.append((ln - 1, width, f"cr3={cr3} gs={gs}"))
    return out
